//! Rows written out column by column, for comparing copies of one row held in two places (a
//! migration's verify, a shadow read). Names and roles come from the table's model and values
//! from [`ScyllaTable::column_texts`], so nothing lists a table's columns twice.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::{self, Debug};

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
        let texts = row.column_texts();
        debug_assert_eq!(texts.len(), T::table_schema().columns.len(), "one text per column of {}", T::TABLE_NAME);
        for (column, text) in T::table_schema().columns.iter().zip(texts) {
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

/// A set or map column written out in an order of its own: the server returns a set's elements
/// and a map's entries sorted, while a value built in memory (a `HashMap`, a `Vec` for a set) may
/// hold them in any order. Two copies of one set or map therefore read the same.
pub trait UnorderedText {
    /// The elements or entries, each in its `Debug` form, sorted, as `{a, b}` or `{k: v}`.
    fn unordered_text(&self) -> String;
}

fn sorted_text(mut items: Vec<String>) -> String {
    items.sort();
    format!("{{{}}}", items.join(", "))
}

impl<T: Debug> UnorderedText for Vec<T> {
    fn unordered_text(&self) -> String {
        sorted_text(self.iter().map(|item| format!("{item:?}")).collect())
    }
}

impl<T: Debug, S> UnorderedText for HashSet<T, S> {
    fn unordered_text(&self) -> String {
        sorted_text(self.iter().map(|item| format!("{item:?}")).collect())
    }
}

impl<T: Debug> UnorderedText for BTreeSet<T> {
    fn unordered_text(&self) -> String {
        sorted_text(self.iter().map(|item| format!("{item:?}")).collect())
    }
}

impl<K: Debug, V: Debug, S> UnorderedText for HashMap<K, V, S> {
    fn unordered_text(&self) -> String {
        sorted_text(self.iter().map(|(key, value)| format!("{key:?}: {value:?}")).collect())
    }
}

impl<K: Debug, V: Debug> UnorderedText for BTreeMap<K, V> {
    fn unordered_text(&self) -> String {
        sorted_text(self.iter().map(|(key, value)| format!("{key:?}: {value:?}")).collect())
    }
}

impl<C: UnorderedText> UnorderedText for Option<C> {
    fn unordered_text(&self) -> String {
        match self {
            Some(collection) => format!("Some({})", collection.unordered_text()),
            None => "None".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_or_map_reads_the_same_in_any_order() {
        let map: HashMap<&str, i32> = HashMap::from([("b", 2), ("a", 1), ("c", 3)]);
        let sorted: BTreeMap<&str, i32> = map.iter().map(|(key, value)| (*key, *value)).collect();
        assert_eq!(map.unordered_text(), r#"{"a": 1, "b": 2, "c": 3}"#);
        assert_eq!(sorted.unordered_text(), map.unordered_text());
        assert_eq!(vec![3, 1, 2].unordered_text(), HashSet::from([2, 3, 1]).unordered_text());
        assert_eq!(Some(vec!["y", "x"]).unordered_text(), r#"Some({"x", "y"})"#);
        assert_eq!(None::<Vec<i32>>.unordered_text(), "None");
    }
}
