//! Rows written out column by column, for comparing copies of one row held in two places (a
//! migration's verify, a shadow read). Names and roles come from the table's model and values
//! from [`ScyllaTable::column_texts`], so nothing lists a table's columns twice.

use std::fmt;

use crate::table::ScyllaTable;

/// One row written out: its table, its primary key and its other columns, each with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowText {
    /// The table's name.
    pub table: &'static str,
    /// The primary key's columns in key order, with their values.
    pub key: Vec<(&'static str, String)>,
    /// Every static and regular column, in column order, with its value.
    pub columns: Vec<(&'static str, String)>,
}

/// A column whose value differs between two copies of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDifference {
    /// The column's name.
    pub column: &'static str,
    /// Its value in the first copy.
    pub left: String,
    /// Its value in the second copy.
    pub right: String,
}

impl RowText {
    /// Writes out a row of `T`.
    pub fn of<T: ScyllaTable>(row: &T) -> RowText {
        let mut key = Vec::new();
        let mut columns = Vec::new();
        for (column, text) in T::table_schema().columns.iter().zip(row.column_texts()) {
            if column.kind.is_key() {
                key.push((column.name.as_str(), text));
            } else {
                columns.push((column.name.as_str(), text));
            }
        }
        RowText { table: T::TABLE_NAME, key, columns }
    }

    /// The primary key's values, as `(a, b, c)`.
    pub fn key_text(&self) -> String {
        let values: Vec<&str> = self.key.iter().map(|(_, value)| value.as_str()).collect();
        format!("({})", values.join(", "))
    }

    /// The columns, key columns first, whose values differ from `other`'s. A column only one
    /// side has (the two were written by different versions of the table) differs too.
    pub fn differences(&self, other: &RowText) -> Vec<ColumnDifference> {
        let mut out = Vec::new();
        for (column, left) in self.all_columns() {
            let right = other.value(column);
            if right != Some(left) {
                out.push(ColumnDifference {
                    column,
                    left: left.to_owned(),
                    right: right.unwrap_or(NO_SUCH_COLUMN).to_owned(),
                });
            }
        }
        for (column, right) in other.all_columns() {
            if self.value(column).is_none() {
                out.push(ColumnDifference { column, left: NO_SUCH_COLUMN.into(), right: right.to_owned() });
            }
        }
        out
    }

    /// The value of `column`, key or not, if the row has it.
    pub fn value(&self, column: &str) -> Option<&str> {
        self.all_columns().find(|(name, _)| *name == column).map(|(_, value)| value)
    }

    fn all_columns(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.key.iter().chain(&self.columns).map(|(name, value)| (*name, value.as_str()))
    }
}

/// What a difference shows for a column one copy does not have.
const NO_SUCH_COLUMN: &str = "(no such column)";

impl fmt::Display for ColumnDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} against {}", self.column, self.left, self.right)
    }
}

/// The columns whose values differ between two copies of one row of `T`.
pub fn differing_columns<T: ScyllaTable>(left: &T, right: &T) -> Vec<ColumnDifference> {
    RowText::of(left).differences(&RowText::of(right))
}
