//! Adapters between the driver's row traits and `ScyllaTable`.

use scylla::deserialize::row::{ColumnIterator, DeserializeRow};
use scylla::deserialize::value::DeserializeValue;
use scylla::deserialize::{DeserializationError, TypeCheckError};
use scylla::frame::response::result::ColumnSpec;
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::RowWriter;
use scylla::serialize::SerializationError;

use crate::table::{ColumnValue, ScyllaTable};

/// A row of table `T`, read through the struct's generated mapping: `DeserializeRow` for a
/// table struct, for rows read with the driver directly.
///
/// ```no_run
/// # use scylla_table::{Database, ScyllaTable, TableRow};
/// # #[derive(ScyllaTable)]
/// # #[table(name = "steps_by_turn")]
/// # struct Step { #[table(partition_key)] turn_uid: String, #[table(clustering)] idx: i32 }
/// # async fn run(db: Database) -> Result<(), Box<dyn std::error::Error>> {
/// let result = db.session().query_unpaged("SELECT turn_uid, idx FROM steps_by_turn LIMIT 10", ()).await?;
/// let steps: Vec<Step> = result.into_rows_result()?.rows::<TableRow<Step>>()?.map(|row| row.map(|TableRow(step)| step)).collect::<Result<_, _>>()?;
/// # let _ = steps; Ok(()) }
/// ```
pub struct TableRow<T>(pub T);

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

/// A row of `T` bound in column order through the struct's generated serializer, then `extra`
/// values (an INSERT's TTL and timestamp): `SerializeRow` for a table struct, as the table's
/// INSERT binds it. No per-row vector of trait objects: the generated code writes each field
/// straight into the request.
pub struct RowValues<'a, T> {
    pub(crate) row: &'a T,
    /// Binds "unset" for each `None`, for a new row without tombstones.
    pub(crate) skip_nulls: bool,
    pub(crate) extra: &'a [ColumnValue<'a>],
}

impl<'a, T: ScyllaTable> RowValues<'a, T> {
    /// Every column of `row`, `None` as null.
    pub fn new(row: &'a T) -> Self {
        RowValues { row, skip_nulls: false, extra: &[] }
    }

    /// Every column of `row`, `None` as "unset" (no tombstone).
    pub fn without_nulls(row: &'a T) -> Self {
        RowValues { row, skip_nulls: true, extra: &[] }
    }
}

impl<T: ScyllaTable> SerializeRow for RowValues<'_, T> {
    #[inline]
    fn serialize(
        &self,
        ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter<'_>,
    ) -> Result<(), SerializationError> {
        let specs = ctx.columns();
        if self.extra.is_empty() {
            // The generated code matches `specs` against the table's columns itself.
            return self.row.serialize_columns(self.skip_nulls, specs, writer);
        }
        let expected = T::COLUMN_COUNT + self.extra.len();
        if specs.len() != expected {
            return Err(column_count_mismatch(T::TABLE_NAME, expected, specs.len()));
        }
        let (columns, extra) = specs.split_at(T::COLUMN_COUNT);
        self.row.serialize_columns(self.skip_nulls, columns, writer)?;
        for (value, spec) in self.extra.iter().zip(extra) {
            serialize_cell(*value, spec, writer, T::TABLE_NAME)?;
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        false
    }
}

/// One value, then a key: the bind order of an UPDATE of one column.
pub(crate) struct KeyedValue<'a, K> {
    value: ColumnValue<'a>,
    key: &'a K,
}

impl<'a, K> KeyedValue<'a, K> {
    pub fn new(value: ColumnValue<'a>, key: &'a K) -> Self {
        KeyedValue { value, key }
    }
}

impl<K: SerializeRow> SerializeRow for KeyedValue<'_, K> {
    fn serialize(
        &self,
        ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter<'_>,
    ) -> Result<(), SerializationError> {
        let Some((first, rest)) = ctx.columns().split_first() else {
            return Err(column_count_mismatch("", 1, 0));
        };
        serialize_cell(self.value, first, writer, first.table_spec().table_name())?;
        self.key.serialize(&RowSerializationContext::from_specs(rest), writer)
    }

    fn is_empty(&self) -> bool {
        false
    }
}

/// Writes one value as the next cell, checked against its column's type. Called by the generated
/// serializers, one call per column, so it inlines to what a hand-written impl does.
#[inline(always)]
pub fn serialize_cell(
    value: &(impl SerializeValue + ?Sized),
    spec: &ColumnSpec<'_>,
    writer: &mut RowWriter<'_>,
    table: &str,
) -> Result<(), SerializationError> {
    match value.serialize(spec.typ(), writer.make_cell_writer()) {
        Ok(_proof) => Ok(()),
        Err(source) => Err(cell_error(table, spec, source)),
    }
}

/// Reads the next cell of a row as `V`. Called by the generated deserializers, one call per
/// column, so it inlines to what a hand-written impl does.
#[inline(always)]
pub fn deserialize_cell<'frame, 'metadata, V: DeserializeValue<'frame, 'metadata>>(
    row: &mut ColumnIterator<'frame, 'metadata>,
) -> Result<V, DeserializationError> {
    match row.next() {
        Some(Ok(column)) => match V::deserialize(column.spec.typ(), column.slice) {
            Ok(value) => Ok(value),
            Err(source) => Err(cell_read_error(column.spec.name(), source)),
        },
        Some(Err(error)) => Err(error),
        None => Err(DeserializationError::new(MissingColumn)),
    }
}

/// The error of one cell read, naming the column. Out of line: it is the rare path.
#[cold]
#[inline(never)]
fn cell_read_error(column: &str, source: DeserializationError) -> DeserializationError {
    DeserializationError::new(CellReadError { column: column.to_owned(), source })
}

#[derive(Debug, thiserror::Error)]
#[error("the row has fewer columns than the table")]
struct MissingColumn;

#[derive(Debug, thiserror::Error)]
#[error("column `{column}`: {source}")]
struct CellReadError {
    column: String,
    source: DeserializationError,
}

/// The error of one cell, named by table and column. Out of line: it is the rare path.
#[cold]
#[inline(never)]
fn cell_error(table: &str, spec: &ColumnSpec<'_>, source: SerializationError) -> SerializationError {
    SerializationError::new(ColumnError { table: table.to_owned(), column: spec.name().to_owned(), source })
}

/// The error for a statement with another number of columns than the table: generated code
/// returns it.
#[cold]
#[inline(never)]
pub fn column_count_mismatch(table: &'static str, expected: usize, found: usize) -> SerializationError {
    SerializationError::new(ValueCountMismatch { table, expected, found })
}

#[derive(Debug, thiserror::Error)]
#[error("`{table}` binds {expected} values, but the statement has {found}")]
struct ValueCountMismatch {
    table: &'static str,
    expected: usize,
    found: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("column `{column}` of `{table}`: {source}")]
struct ColumnError {
    table: String,
    column: String,
    source: SerializationError,
}
