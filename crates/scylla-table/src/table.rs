//! The `ScyllaTable` trait: what `#[derive(ScyllaTable)]` generates for each table struct.

use scylla::deserialize::row::ColumnIterator;
use scylla::deserialize::{DeserializationError, TypeCheckError};
use scylla::frame::response::result::ColumnSpec;
use scylla::serialize::row::SerializeRow;
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::RowWriter;
use scylla::serialize::SerializationError;
use scylla_table_schema::TableSchema;

/// One query table, described by an annotated struct.
///
/// Implemented by `#[derive(ScyllaTable)]`; do not implement it by hand. The constants hold the
/// statements for the table's own keyspace (or none), as the derive rendered them at compile time.
/// The runtime renders the same statements for another keyspace from [`ScyllaTable::table_schema`].
///
/// ```
/// use scylla_table::ScyllaTable;
///
/// #[derive(ScyllaTable)]
/// #[table(name = "steps_by_turn")]
/// struct Step {
///     #[table(partition_key)]
///     turn_uid: String,
///     #[table(clustering)]
///     idx: i32,
///     content: Option<String>,
/// }
///
/// assert_eq!(Step::TABLE_NAME, "steps_by_turn");
/// assert!(Step::CREATE_TABLE.starts_with("CREATE TABLE IF NOT EXISTS steps_by_turn ("));
/// assert_eq!(
///     Step::STATEMENTS.select_partition,
///     "SELECT turn_uid, idx, content FROM steps_by_turn WHERE turn_uid = ?",
/// );
/// let key = StepPrimaryKey { turn_uid: "t1".into(), idx: 0 };
/// # let _ = key;
/// ```
pub trait ScyllaTable: Sized + Send + Sync + 'static {
    /// The generated `<Struct>PartitionKey`: the columns that choose a partition.
    type PartitionKey: TableKey;
    /// The generated `<Struct>PrimaryKey`: partition key and clustering columns, one row.
    type PrimaryKey: TableKey;

    /// The table's name, unquoted.
    const TABLE_NAME: &'static str;
    /// How many columns the table stores.
    const COLUMN_COUNT: usize;
    /// `CREATE TABLE IF NOT EXISTS ...;` for the table's own keyspace, or unqualified.
    const CREATE_TABLE: &'static str;
    /// The table's fixed statements, for the table's own keyspace, or unqualified.
    const STATEMENTS: StatementTexts;

    /// The table model: columns, CQL types, key roles and options.
    fn table_schema() -> &'static TableSchema;

    /// The row's partition key columns.
    fn partition_key(&self) -> Self::PartitionKey;

    /// The row's partition and clustering key columns.
    fn primary_key(&self) -> Self::PrimaryKey;

    /// Every stored column's value, in the table's column order (see [`TableSchema`]).
    fn column_values(&self) -> Vec<ColumnValue<'_>>;

    /// The same, with "unset" in place of each `None`: for writing a new row without a null,
    /// which Cassandra and ScyllaDB would store as a tombstone.
    fn column_values_without_nulls(&self) -> Vec<ColumnValue<'_>>;

    /// Every stored column's value written out, in column order: its `Debug` form, with a set's
    /// elements and a map's entries sorted ([`UnorderedText`](crate::UnorderedText)). For the
    /// types whose `Debug` shows their whole value (every type the type table lists), two rows
    /// hold the same data exactly when these are equal. [`RowText`](crate::RowText) compares
    /// rows column by column through it, so a new column is compared as soon as it is declared.
    fn column_texts(&self) -> Vec<String>;

    /// Writes every stored column into a request, in column order, each checked against its
    /// column's type in `specs` (exactly [`ScyllaTable::COLUMN_COUNT`] of them). With
    /// `skip_nulls`, each `None` is bound as "unset", as in [`ScyllaTable::column_values_without_nulls`].
    fn serialize_columns(
        &self,
        skip_nulls: bool,
        specs: &[ColumnSpec<'_>],
        writer: &mut RowWriter<'_>,
    ) -> Result<(), SerializationError>;

    /// Checks a result's columns against the struct, as `DeserializeRow::type_check` does.
    fn type_check_row(specs: &[ColumnSpec<'_>]) -> Result<(), TypeCheckError>;

    /// Builds the struct from a row whose columns are in column order, as `DeserializeRow::deserialize` does.
    fn deserialize_row<'frame, 'metadata>(row: ColumnIterator<'frame, 'metadata>)
        -> Result<Self, DeserializationError>;
}

/// A generated key struct. It binds as a row of its own (`SerializeRow`, in key order) or as the
/// first values of a longer statement ([`TableKey::key_values`]).
pub trait TableKey: SerializeRow + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// The key's values in key order.
    fn key_values(&self) -> Vec<ColumnValue<'_>>;
}

/// A generated `<Struct>PrimaryKey`, which knows its table and its partition: a batch takes a row's
/// key alone and finds the rest.
pub trait RowKey: TableKey {
    /// The table whose rows this key identifies.
    type Table: ScyllaTable<PrimaryKey = Self>;

    /// The partition the row is in.
    fn partition_key(&self) -> <Self::Table as ScyllaTable>::PartitionKey;
}

/// One value to bind. `Sync`, so the futures that hold bound values stay `Send`.
pub type ColumnValue<'a> = &'a (dyn SerializeValue + Sync);

/// A bound value that leaves its column as it is (the protocol's "unset").
pub static UNSET: scylla::value::MaybeUnset<i32> = scylla::value::MaybeUnset::Unset;

/// The statements `#[derive(ScyllaTable)]` renders at compile time. `None` marks a statement the
/// table cannot have: a counter table has no INSERT, and a table of only key columns no UPDATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementTexts {
    /// `INSERT` of every column.
    pub insert: Option<&'static str>,
    /// `INSERT ... USING TTL ? AND TIMESTAMP ?`.
    pub insert_using: Option<&'static str>,
    /// `INSERT ... IF NOT EXISTS`.
    pub insert_if_not_exists: Option<&'static str>,
    /// Every row of one partition.
    pub select_partition: &'static str,
    /// One row by its primary key.
    pub select_row: &'static str,
    /// `UPDATE` of every static and regular column by primary key.
    pub update: Option<&'static str>,
    /// One row by its primary key.
    pub delete_row: &'static str,
    /// A whole partition.
    pub delete_partition: &'static str,
}
