//! Adapters between the driver's row traits and `ScyllaTable`.

use scylla::deserialize::row::{ColumnIterator, DeserializeRow};
use scylla::deserialize::value::DeserializeValue;
use scylla::deserialize::{DeserializationError, TypeCheckError};
use scylla::frame::response::result::ColumnSpec;

use crate::table::ScyllaTable;

/// A row of table `T`, read through the struct's generated mapping.
pub(crate) struct TableRow<T>(pub T);

impl<'frame, 'metadata, T: ScyllaTable> DeserializeRow<'frame, 'metadata> for TableRow<T> {
    fn type_check(specs: &[ColumnSpec]) -> Result<(), TypeCheckError> {
        T::type_check_row(specs)
    }

    fn deserialize(row: ColumnIterator<'frame, 'metadata>) -> Result<Self, DeserializationError> {
        T::deserialize_row(row).map(TableRow)
    }
}

/// The `[applied]` column that starts the result of a lightweight transaction.
pub(crate) struct Applied(pub bool);

#[derive(Debug, thiserror::Error)]
#[error("a lightweight transaction's result must start with a boolean `[applied]` column")]
struct NotAnLwtResult;

impl<'frame, 'metadata> DeserializeRow<'frame, 'metadata> for Applied {
    fn type_check(specs: &[ColumnSpec]) -> Result<(), TypeCheckError> {
        match specs.first() {
            Some(spec) if spec.name() == "[applied]" => <bool as DeserializeValue>::type_check(spec.typ()),
            _ => Err(TypeCheckError::new(NotAnLwtResult)),
        }
    }

    fn deserialize(mut row: ColumnIterator<'frame, 'metadata>) -> Result<Self, DeserializationError> {
        // The current row's columns follow `[applied]` when the insert was not applied; they are
        // read again with a SERIAL select, which returns them in the struct's column order.
        let applied = row.next().ok_or_else(|| DeserializationError::new(NotAnLwtResult))??;
        <bool as DeserializeValue>::deserialize(applied.spec.typ(), applied.slice).map(Applied)
    }
}
