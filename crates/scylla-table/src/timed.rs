//! Rows read with the newest write time of their cells, for tools that compare copies by
//! timestamp (a migration's verify checks that each copy carries its source row's version).

use scylla::deserialize::row::{ColumnIterator, DeserializeRow};
use scylla::deserialize::value::DeserializeValue;
use scylla::deserialize::{DeserializationError, TypeCheckError};
use scylla::frame::response::result::ColumnSpec;
use scylla_table_schema::StatementKind;

use crate::error::Result;
use crate::table::ScyllaTable;
use crate::table_ops::Table;

/// A row and the newest write time of its value cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed<T> {
    /// The row as the table's struct.
    pub row: T,
    /// The newest `WRITETIME` among the row's [timed columns](scylla_table_schema::TableSchema::timed_columns),
    /// in microseconds since the epoch; `None` when every one of them is null.
    pub newest_write: Option<i64>,
}

/// The row's columns, then one write time per timed column.
struct TimedRow<T>(Timed<T>);

#[derive(Debug, thiserror::Error)]
#[error("a timed row has {expected} columns and write times, the result {found}")]
struct WrongWidth {
    expected: usize,
    found: usize,
}

impl<'frame, 'metadata, T: ScyllaTable> DeserializeRow<'frame, 'metadata> for TimedRow<T> {
    fn type_check(specs: &[ColumnSpec]) -> std::result::Result<(), TypeCheckError> {
        let times = T::table_schema().timed_columns().count();
        if specs.len() != T::COLUMN_COUNT + times {
            return Err(TypeCheckError::new(WrongWidth { expected: T::COLUMN_COUNT + times, found: specs.len() }));
        }
        T::type_check_row(&specs[..T::COLUMN_COUNT])?;
        specs[T::COLUMN_COUNT..].iter().try_for_each(|spec| <Option<i64> as DeserializeValue>::type_check(spec.typ()))
    }

    fn deserialize(row: ColumnIterator<'frame, 'metadata>) -> std::result::Result<Self, DeserializationError> {
        // The row takes the first columns; the write times follow them.
        let mut times = row.clone();
        for _ in 0..T::COLUMN_COUNT {
            times.next();
        }
        let value = T::deserialize_row(row)?;
        let mut newest_write = None;
        for column in times {
            let column = column?;
            let time = <Option<i64> as DeserializeValue>::deserialize(column.spec.typ(), column.slice)?;
            newest_write = newest_write.max(time);
        }
        Ok(TimedRow(Timed { row: value, newest_write }))
    }
}

impl<T: ScyllaTable> Table<T> {
    /// Every row of a partition in clustering order, each with its newest write time.
    pub async fn partition_timed(&self, key: &T::PartitionKey) -> Result<Vec<Timed<T>>> {
        let rows =
            self.collect_pages_as::<TimedRow<T>>(StatementKind::SelectPartitionTimed, key, "SELECT timed").await?;
        Ok(rows.into_iter().map(|TimedRow(row)| row).collect())
    }

    /// The row with this primary key, if any, with its newest write time.
    pub async fn get_timed(&self, key: &T::PrimaryKey) -> Result<Option<Timed<T>>> {
        let rows = self.collect_pages_as::<TimedRow<T>>(StatementKind::SelectRowTimed, key, "SELECT timed row").await?;
        Ok(rows.into_iter().next().map(|TimedRow(row)| row))
    }
}
