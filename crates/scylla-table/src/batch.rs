//! Batches: a logged batch writes several tables atomically with one timestamp; an unlogged
//! batch groups writes to one partition.

use std::any::Any;

use scylla::frame::response::result::ColumnType;
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::{CellWriter, WrittenCellProof};
use scylla::serialize::SerializationError;
use scylla::statement::batch::{Batch as DriverBatch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::MaybeUnset;
use scylla_table_schema::StatementKind;

use crate::columns::{ColumnOf, Settable};
use crate::database::Database;
use crate::error::{Error, Result};
use crate::table::{ColumnValue, RowKey, ScyllaTable, TableKey};
use crate::table_ops::{update_values, Pending, WriteOptions};

/// A batch of writes built from table rows. Create one with [`Database::logged_batch`] or
/// [`Database::unlogged_batch`].
///
/// ```no_run
/// use scylla_table::{Database, ScyllaTable};
///
/// #[derive(ScyllaTable, Debug, Clone)]
/// #[table(name = "turns_by_session")]
/// struct TurnBySession {
///     #[table(partition_key)]
///     session_uid: String,
///     #[table(clustering)]
///     turn_uid: String,
///     prompt: Option<String>,
/// }
///
/// #[derive(ScyllaTable, Debug, Clone)]
/// #[table(name = "turns_by_parent")]
/// struct TurnByParent {
///     #[table(partition_key)]
///     parent_uid: String,
///     #[table(clustering)]
///     turn_uid: String,
/// }
///
/// # async fn run(db: Database) -> scylla_table::Result<()> {
/// // Both copies of a new turn, or neither: one logged batch, one timestamp.
/// let turn = TurnBySession { session_uid: "s1".into(), turn_uid: "t2".into(), prompt: Some("Why?".into()) };
/// let by_parent = TurnByParent { parent_uid: "t1".into(), turn_uid: "t2".into() };
/// let mut batch = db.logged_batch();
/// batch.insert_new(&turn).await?;
/// batch.insert_new(&by_parent).await?;
/// batch.execute().await?;
/// # Ok(()) }
/// ```
pub struct Batch<'a> {
    db: &'a Database,
    logged: bool,
    statements: Vec<PreparedStatement>,
    values: Vec<Vec<BoundValue<'a>>>,
    /// Whether the statements so far are counter updates; batches cannot mix the two.
    counter: Option<bool>,
    /// For an unlogged batch: the table and partition key every statement must share.
    partition: Option<(&'static str, Box<dyn Any + Send + Sync>)>,
    timestamp: Option<i64>,
    /// Whether a statement carries its own `USING TIMESTAMP`: then the batch must not have one.
    statement_timestamps: bool,
}

impl Database {
    /// A logged batch: every statement applies or none does, eventually. Use it for the
    /// denormalized copies of one write in several tables.
    pub fn logged_batch(&self) -> Batch<'_> {
        Batch::new(self, true)
    }

    /// An unlogged batch: several writes to one partition in one request.
    pub fn unlogged_batch(&self) -> Batch<'_> {
        Batch::new(self, false)
    }
}

impl<'a> Batch<'a> {
    fn new(db: &'a Database, logged: bool) -> Self {
        Batch {
            db,
            logged,
            statements: Vec::new(),
            values: Vec::new(),
            counter: None,
            partition: None,
            timestamp: None,
            statement_timestamps: false,
        }
    }

    /// Sets the batch's one client timestamp, in microseconds since the epoch. Without it, the
    /// time of `execute` is used.
    pub fn with_timestamp(mut self, micros: i64) -> Self {
        self.timestamp = Some(micros);
        self
    }

    /// Statements added so far.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// True before the first statement is added.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Writes a whole row; `None` columns become null (see [`crate::Table::insert`]).
    pub async fn insert<T: ScyllaTable>(&mut self, row: &'a T) -> Result<()> {
        self.push::<T>(StatementKind::Insert, row.column_values(), &row.partition_key()).await
    }

    /// Writes a new row, leaving `None` columns unset rather than null (no tombstones); see
    /// [`crate::Table::insert_new`].
    pub async fn insert_new<T: ScyllaTable>(&mut self, row: &'a T) -> Result<()> {
        self.push::<T>(StatementKind::Insert, row.column_values_without_nulls(), &row.partition_key()).await
    }

    /// Writes a whole row with its own TTL and/or timestamp (`INSERT ... USING TTL ? AND
    /// TIMESTAMP ?`). Rows of one batch can then carry different timestamps; such a batch cannot
    /// also have [`Batch::with_timestamp`].
    pub async fn insert_with<T: ScyllaTable>(&mut self, row: &'a T, options: WriteOptions) -> Result<()> {
        let mut values = bind(row.column_values());
        values.push(BoundValue::Ttl(options.ttl.map_or(MaybeUnset::Unset, MaybeUnset::Set)));
        values.push(BoundValue::Using(options.timestamp.map_or(MaybeUnset::Unset, MaybeUnset::Set)));
        self.statement_timestamps |= options.timestamp.is_some();
        self.push_bound::<T>(StatementKind::InsertUsing, values, &row.partition_key()).await
    }

    /// Sets every static and regular column of the row (increments, on a counter table).
    pub async fn update<T: ScyllaTable>(&mut self, row: &'a T) -> Result<()> {
        self.push::<T>(StatementKind::Update, update_values(row), &row.partition_key()).await
    }

    /// Sets one regular column of the row with `key` (see [`crate::Table::set`]). The
    /// key names the table, so a column of another table does not compile.
    pub fn set<'b, K, C>(&'b mut self, key: &'a K, column: C, value: &'a C::Value) -> Pending<'b>
    where
        K: RowKey,
        C: ColumnOf<K::Table> + Settable,
        'a: 'b,
    {
        let _ = column;
        let mut values: Vec<ColumnValue<'a>> = vec![value];
        values.extend(key.key_values());
        let kind = StatementKind::UpdateColumn { column_index: C::INDEX };
        Box::pin(async move { self.push::<K::Table>(kind, values, &key.partition_key()).await })
    }

    /// Deletes the row with `key` in partition `partition`.
    pub async fn delete<T: ScyllaTable>(&mut self, key: &'a T::PrimaryKey, partition: &T::PartitionKey) -> Result<()> {
        self.push::<T>(StatementKind::DeleteRow, key.key_values(), partition).await
    }

    /// Deletes a whole partition.
    pub async fn delete_partition<T: ScyllaTable>(&mut self, partition: &'a T::PartitionKey) -> Result<()> {
        self.push::<T>(StatementKind::DeletePartition, partition.key_values(), partition).await
    }

    async fn push<T: ScyllaTable>(
        &mut self,
        kind: StatementKind,
        values: Vec<ColumnValue<'a>>,
        partition: &T::PartitionKey,
    ) -> Result<()> {
        self.push_bound::<T>(kind, bind(values), partition).await
    }

    async fn push_bound<T: ScyllaTable>(
        &mut self,
        kind: StatementKind,
        values: Vec<BoundValue<'a>>,
        partition: &T::PartitionKey,
    ) -> Result<()> {
        let schema = T::table_schema();
        let is_counter = kind == StatementKind::Update && schema.is_counter_table();
        if self.counter.is_some_and(|counter| counter != is_counter) {
            return Err(Error::InvalidBatch(format!(
                "`{}` {} cannot join a batch of {}: counter updates and other writes need separate batches",
                T::TABLE_NAME,
                if is_counter { "counter updates" } else { "writes" },
                if is_counter { "non-counter writes" } else { "counter updates" },
            )));
        }
        if !self.logged {
            match &self.partition {
                None => self.partition = Some((T::TABLE_NAME, Box::new(partition.clone()))),
                Some((table, key)) => {
                    let same = *table == T::TABLE_NAME
                        && key.downcast_ref::<T::PartitionKey>().is_some_and(|key| key == partition);
                    if !same {
                        return Err(Error::InvalidBatch(format!(
                            "an unlogged batch is for one partition, but this write goes to `{}` {partition:?}, \
                             not `{table}`'s first partition; use a logged batch or separate writes",
                            T::TABLE_NAME
                        )));
                    }
                }
            }
        }
        self.counter = Some(is_counter);
        self.statements.push(self.db.table::<T>().prepared_statement(kind).await?);
        self.values.push(values);
        Ok(())
    }

    /// Sends the batch at the write consistency of the database.
    pub async fn execute(self) -> Result<()> {
        if self.statements.is_empty() {
            return Ok(());
        }
        let batch_type = match (self.counter, self.logged) {
            (Some(true), _) => BatchType::Counter,
            (_, true) => BatchType::Logged,
            (_, false) => BatchType::Unlogged,
        };
        let mut batch = DriverBatch::new(batch_type);
        for statement in self.statements {
            batch.append_statement(statement);
        }
        batch.set_consistency(self.db.consistency().write);
        batch.set_is_idempotent(self.counter != Some(true));
        if self.statement_timestamps {
            if self.timestamp.is_some() {
                return Err(Error::InvalidBatch(
                    "a batch whose rows carry their own timestamps cannot also have one of its own".into(),
                ));
            }
        } else {
            batch.set_timestamp(Some(self.timestamp.unwrap_or_else(now_micros)));
        }
        self.db
            .session()
            .batch(&batch, self.values)
            .await
            .map_err(|source| self.db.error(format!("{batch_type:?} batch"), source))?;
        Ok(())
    }
}

/// A value bound in a batch: a borrowed column value, or one the batch owns (a TTL or
/// timestamp). Plain data, so a batch borrows its rows no longer than a `Vec` of references would.
enum BoundValue<'a> {
    Column(ColumnValue<'a>),
    Using(MaybeUnset<i64>),
    Ttl(MaybeUnset<i32>),
}

impl SerializeValue for BoundValue<'_> {
    fn serialize<'b>(
        &self,
        typ: &ColumnType,
        writer: CellWriter<'b>,
    ) -> std::result::Result<WrittenCellProof<'b>, SerializationError> {
        match self {
            BoundValue::Column(value) => value.serialize(typ, writer),
            BoundValue::Using(value) => value.serialize(typ, writer),
            BoundValue::Ttl(value) => value.serialize(typ, writer),
        }
    }
}

fn bind(values: Vec<ColumnValue<'_>>) -> Vec<BoundValue<'_>> {
    values.into_iter().map(BoundValue::Column).collect()
}

pub(crate) fn now_micros() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}
