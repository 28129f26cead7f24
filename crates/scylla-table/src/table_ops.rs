//! `Table<T>`: typed operations on one table, each on a statement prepared once.

use std::marker::PhantomData;
use std::ops::{Bound, ControlFlow};

use futures::{Stream, StreamExt};
use scylla::client::pager::{NextRowError, QueryPager};
use scylla::response::query_result::QueryResult;
use scylla::response::PagingState;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use scylla::value::MaybeUnset;
use scylla_table_schema::{BoundKind, StatementKind};

use crate::config::ConsistencyLevels;
use crate::database::Database;
use crate::error::{Error, Result};
use crate::row::{Applied, TableRow};
use crate::table::{ColumnValue, ScyllaTable, TableKey};

/// Default rows per page when streaming a partition.
pub const DEFAULT_PAGE_SIZE: i32 = 5000;

/// Options for [`Table::insert_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Seconds until the written cells expire. `None` keeps the table's default TTL.
    pub ttl: Option<i32>,
    /// The write's timestamp in microseconds since the epoch. `None` lets the driver choose.
    pub timestamp: Option<i64>,
}

/// The result of [`Table::insert_if_not_exists`].
#[derive(Debug, Clone, PartialEq)]
pub enum InsertOutcome<T> {
    /// The row was written.
    Applied,
    /// A row with that primary key exists; this is it. After a lost reply it may be the insert
    /// itself (see [`Table::insert_if_not_exists`]).
    NotApplied(T),
}

/// A range of rows in one partition: equal values for the first clustering columns, then an
/// optional range on the next one, and a limit.
///
/// ```
/// use std::ops::Bound;
/// use scylla_table::ClusteringSlice;
///
/// // Rows whose first clustering column is 7 and whose second is in [10, 20).
/// let slice = ClusteringSlice::new(100).eq(&7_i32).range(Bound::Included(&10_i32), Bound::Excluded(&20_i32));
/// assert_eq!(slice.limit, 100);
/// ```
pub struct ClusteringSlice<'a> {
    /// Values the first clustering columns must equal, in order.
    pub prefix: Vec<ColumnValue<'a>>,
    /// The lower bound on the next clustering column.
    pub lower: Bound<ColumnValue<'a>>,
    /// The upper bound on the next clustering column.
    pub upper: Bound<ColumnValue<'a>>,
    /// Rows returned at most.
    pub limit: i32,
}

impl<'a> ClusteringSlice<'a> {
    /// At most `limit` rows from the start of the partition.
    pub fn new(limit: i32) -> Self {
        ClusteringSlice { prefix: Vec::new(), lower: Bound::Unbounded, upper: Bound::Unbounded, limit }
    }

    /// Fixes the next clustering column to `value`.
    pub fn eq(mut self, value: ColumnValue<'a>) -> Self {
        self.prefix.push(value);
        self
    }

    /// A range on the clustering column after the fixed ones.
    pub fn range(mut self, lower: Bound<ColumnValue<'a>>, upper: Bound<ColumnValue<'a>>) -> Self {
        self.lower = lower;
        self.upper = upper;
        self
    }
}

fn bound_kind(bound: &Bound<ColumnValue<'_>>) -> BoundKind {
    match bound {
        Bound::Included(_) => BoundKind::Inclusive,
        Bound::Excluded(_) => BoundKind::Exclusive,
        Bound::Unbounded => BoundKind::Unbounded,
    }
}

/// A typed handle on table `T`. Cheap to create and clone.
///
/// ```no_run
/// use scylla::statement::Consistency;
/// use scylla_table::{Database, InsertOutcome, ScyllaTable};
///
/// #[derive(ScyllaTable, Debug, Clone, PartialEq)]
/// #[table(name = "steps_by_turn")]
/// struct Step {
///     #[table(partition_key)]
///     turn_uid: String,
///     #[table(clustering)]
///     idx: i32,
///     content: String,
/// }
///
/// # async fn run(db: Database) -> scylla_table::Result<()> {
/// let steps = db.table::<Step>();
/// let step = Step { turn_uid: "t1".into(), idx: 0, content: "Thinking".into() };
/// match steps.insert_if_not_exists(&step).await? {
///     InsertOutcome::Applied => {}
///     InsertOutcome::NotApplied(existing) if existing == step => {} // written before: a retry
///     InsertOutcome::NotApplied(other) => println!("step 0 is already {other:?}"),
/// }
/// // Read every replica's copy, for an audit.
/// let all = steps.clone().with_read_consistency(Consistency::All).partition_vec(&step.partition_key()).await?;
/// # let _ = all;
/// # Ok(()) }
/// ```
pub struct Table<T> {
    db: Database,
    consistency: ConsistencyLevels,
    page_size: i32,
    table: PhantomData<fn() -> T>,
}

impl<T> Clone for Table<T> {
    fn clone(&self) -> Self {
        Table { db: self.db.clone(), consistency: self.consistency, page_size: self.page_size, table: PhantomData }
    }
}

impl Database {
    /// A typed handle on one table, with this database's default consistency.
    pub fn table<T: ScyllaTable>(&self) -> Table<T> {
        Table::new(self.clone())
    }
}

impl<T: ScyllaTable> Table<T> {
    pub(crate) fn new(db: Database) -> Self {
        let consistency = db.consistency();
        Table { db, consistency, page_size: DEFAULT_PAGE_SIZE, table: PhantomData }
    }

    /// The same table with other read and write consistency levels.
    pub fn with_consistency(mut self, consistency: ConsistencyLevels) -> Self {
        self.consistency = consistency;
        self
    }

    /// This handle with another consistency level for its reads.
    pub fn with_read_consistency(mut self, read: Consistency) -> Self {
        self.consistency.read = read;
        self
    }

    /// This handle with another consistency level for its writes.
    pub fn with_write_consistency(mut self, write: Consistency) -> Self {
        self.consistency.write = write;
        self
    }

    /// Rows per page for [`Table::partition`].
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = page_size;
        self
    }

    /// The consistency levels this handle reads and writes at.
    pub fn consistency(&self) -> ConsistencyLevels {
        self.consistency
    }

    /// The prepared statement for `kind`, set up as this handle runs it: consistency and
    /// idempotence. The statement is prepared on first use and cached in the [`Database`].
    /// Lightweight transactions, counter increments and list appends are not idempotent: retrying
    /// one could apply it twice. Every other statement here writes whole values and is safe to retry.
    pub async fn prepared_statement(&self, kind: StatementKind) -> Result<PreparedStatement> {
        let schema = T::table_schema();
        let mut statement = self.db.prepared(schema, kind).await?;
        let is_read = matches!(
            kind,
            StatementKind::SelectPartition
                | StatementKind::SelectRow
                | StatementKind::SelectAll
                | StatementKind::SelectPrefix { .. }
                | StatementKind::SelectRange { .. }
        );
        statement.set_consistency(if is_read { self.consistency.read } else { self.consistency.write });
        let is_lwt = kind == StatementKind::InsertIfNotExists;
        let is_counter_update = kind == StatementKind::Update && schema.is_counter_table();
        let is_append = matches!(kind, StatementKind::AppendToList { .. });
        statement.set_is_idempotent(!is_lwt && !is_counter_update && !is_append);
        Ok(statement)
    }

    fn action(&self, what: &str) -> String {
        format!("{what} on {}", T::TABLE_NAME)
    }

    /// Runs the statement for `kind` once with `values`, unpaged.
    async fn execute(&self, kind: StatementKind, values: impl SerializeRow, what: &str) -> Result<QueryResult> {
        let statement = self.prepared_statement(kind).await?;
        self.db
            .session()
            .execute_unpaged(&statement, values)
            .await
            .map_err(|source| Error::query(self.action(what), source))
    }

    /// Writes a whole row.
    pub async fn insert(&self, row: &T) -> Result<()> {
        self.execute(StatementKind::Insert, row.column_values(), "INSERT").await?;
        Ok(())
    }

    /// Writes a new row, leaving `None` columns unset rather than null, so the write makes no
    /// tombstones. Use it for rows that do not exist yet: an unset column keeps whatever an
    /// existing row holds there, where [`Table::insert`] would clear it.
    pub async fn insert_new(&self, row: &T) -> Result<()> {
        self.execute(StatementKind::Insert, row.column_values_without_nulls(), "INSERT").await?;
        Ok(())
    }

    /// Writes a whole row with a TTL and/or a client timestamp.
    pub async fn insert_with(&self, row: &T, options: WriteOptions) -> Result<()> {
        let ttl = options.ttl.map_or(MaybeUnset::Unset, MaybeUnset::Set);
        let timestamp = options.timestamp.map_or(MaybeUnset::Unset, MaybeUnset::Set);
        let mut values = row.column_values();
        values.push(&ttl);
        values.push(&timestamp);
        self.execute(StatementKind::InsertUsing, values, "INSERT USING").await?;
        Ok(())
    }

    /// Writes the row only if no row has its primary key (a lightweight transaction).
    ///
    /// When its reply is lost ([`Error::OutcomeUnknown`]), the transaction is not repeated
    /// blindly: a SERIAL read, which finishes any round still in progress, tells what happened.
    /// A row comes back as [`InsertOutcome::NotApplied`], and it may be this very insert, applied
    /// before its reply was lost: a caller that retries with the same values treats a row equal
    /// to its own as written. No row means the insert was not applied and never will be (a later
    /// round of the lost one would lose to the read's), and the error says it is safe to repeat.
    /// If that read fails too, the outcome stays unknown. Settling costs one more request, so a
    /// call can take two request timeouts.
    pub async fn insert_if_not_exists(&self, row: &T) -> Result<InsertOutcome<T>> {
        match self.try_insert_if_not_exists(row).await {
            Err(Error::OutcomeUnknown { action, source }) => match self.get_serial(&row.primary_key()).await {
                Ok(Some(current)) => Ok(InsertOutcome::NotApplied(current)),
                Ok(None) => Err(Error::query(
                    action,
                    format!(
                        "{source}; a SERIAL read then found no row, so it was not applied and will not be: \
                         repeat it"
                    ),
                )),
                // Still unknown: the read's own refusal says nothing about the transaction.
                Err(unsettled) => Err(Error::OutcomeUnknown {
                    action,
                    source: format!("{source}; the SERIAL read to settle it failed too: {unsettled}").into(),
                }),
            },
            decided => decided,
        }
    }

    async fn try_insert_if_not_exists(&self, row: &T) -> Result<InsertOutcome<T>> {
        let action = self.action("INSERT IF NOT EXISTS");
        // It only writes a row that does not exist, so `None` columns can stay unset: no tombstones.
        let result = self
            .execute(StatementKind::InsertIfNotExists, row.column_values_without_nulls(), "INSERT IF NOT EXISTS")
            .await?
            .into_rows_result()
            .map_err(|source| Error::query(&action, source))?;
        let Applied(applied) = result.single_row::<Applied>().map_err(|source| Error::query(&action, source))?;
        if applied {
            return Ok(InsertOutcome::Applied);
        }
        let current = self.get_serial(&row.primary_key()).await?;
        current.map(InsertOutcome::NotApplied).ok_or_else(|| {
            Error::query(action, "the insert was not applied, but no row exists: it was deleted in between; retry")
        })
    }

    /// The row as lightweight transactions see it: a SERIAL read sees the row that won a
    /// transaction even if it is not yet on a quorum, and completes a round left in progress.
    async fn get_serial(&self, key: &T::PrimaryKey) -> Result<Option<T>> {
        self.clone().with_read_consistency(Consistency::Serial).get(key).await
    }

    /// The row with this primary key, if any.
    pub async fn get(&self, key: &T::PrimaryKey) -> Result<Option<T>> {
        let result = self
            .execute(StatementKind::SelectRow, key, "SELECT row")
            .await?
            .into_rows_result()
            .map_err(|source| Error::query(self.action("SELECT row"), source))?;
        let row = result.maybe_first_row::<TableRow<T>>().map_err(|source| self.row_error(source))?;
        Ok(row.map(|TableRow(row)| row))
    }

    /// Every row of a partition in clustering order, fetched page by page as the stream is read.
    pub async fn partition(&self, key: &T::PartitionKey) -> Result<impl Stream<Item = Result<T>> + Send + 'static> {
        let statement = self.partition_statement().await?;
        let pager = self
            .db
            .session()
            .execute_iter(statement, key)
            .await
            .map_err(|source| Error::query(self.action("SELECT partition"), source))?;
        self.typed_rows(pager)
    }

    /// Every row of the table, fetched page by page as the stream is read: a full scan across the
    /// cluster, for audits and tools. Rows come partition by partition in token order.
    pub async fn scan_all(&self) -> Result<impl Stream<Item = Result<T>> + Send + 'static> {
        let mut statement = self.prepared_statement(StatementKind::SelectAll).await?;
        statement.set_page_size(self.page_size);
        let pager = self
            .db
            .session()
            .execute_iter(statement, ())
            .await
            .map_err(|source| Error::query(self.action("SELECT all"), source))?;
        self.typed_rows(pager)
    }

    /// The pager's rows read into `T`, page by page as the stream is read.
    fn typed_rows(&self, pager: QueryPager) -> Result<impl Stream<Item = Result<T>> + Send + 'static> {
        let rows = pager.rows_stream::<TableRow<T>>().map_err(|source| self.row_error(source))?;
        let table = T::TABLE_NAME;
        Ok(rows.map(move |row| {
            row.map(|TableRow(row)| row).map_err(|source| match source {
                // A later page failed on the way: a query error, not a row that does not fit.
                NextRowError::NextPageError(_) => Error::query(format!("reading the next page of {table}"), source),
                _ => Error::RowMapping { table: table.to_owned(), source: source.into() },
            })
        }))
    }

    /// Every row of a partition in clustering order, collected. For partitions known to be small:
    /// each page is one request awaited here, with no background task or channel between the
    /// driver and the rows (the cost [`Table::partition`]'s stream pays for reading lazily).
    pub async fn partition_vec(&self, key: &T::PartitionKey) -> Result<Vec<T>> {
        let statement = self.partition_statement().await?;
        let mut rows = Vec::new();
        let mut paging_state = PagingState::start();
        loop {
            let (result, paging) = self
                .db
                .session()
                .execute_single_page(&statement, key, paging_state)
                .await
                .map_err(|source| Error::query(self.action("SELECT partition"), source))?;
            let result =
                result.into_rows_result().map_err(|source| Error::query(self.action("SELECT partition"), source))?;
            rows.reserve(result.rows_num());
            for row in result.rows::<TableRow<T>>().map_err(|source| self.row_error(source))? {
                rows.push(row.map_err(|source| self.row_error(source))?.0);
            }
            match paging.into_paging_control_flow() {
                ControlFlow::Break(()) => return Ok(rows),
                ControlFlow::Continue(next) => paging_state = next,
            }
        }
    }

    /// The partition read, paged at this handle's page size.
    async fn partition_statement(&self) -> Result<PreparedStatement> {
        let mut statement = self.prepared_statement(StatementKind::SelectPartition).await?;
        statement.set_page_size(self.page_size);
        Ok(statement)
    }

    /// The rows of one partition selected by `slice`, in clustering order.
    pub async fn slice(&self, key: &T::PartitionKey, slice: &ClusteringSlice<'_>) -> Result<Vec<T>> {
        let schema = T::table_schema();
        let clustering = schema.clustering_columns().count();
        let ranged = !matches!((&slice.lower, &slice.upper), (Bound::Unbounded, Bound::Unbounded));
        if slice.prefix.len() + usize::from(ranged) > clustering {
            return Err(Error::InvalidSlice {
                table: T::TABLE_NAME.to_owned(),
                reason: format!(
                    "{} equal value(s){} but the table has {clustering} clustering column(s)",
                    slice.prefix.len(),
                    if ranged { " and a range" } else { "" }
                ),
            });
        }
        let kind = if ranged {
            StatementKind::SelectRange {
                prefix_len: slice.prefix.len(),
                lower: bound_kind(&slice.lower),
                upper: bound_kind(&slice.upper),
            }
        } else {
            StatementKind::SelectPrefix { prefix_len: slice.prefix.len() }
        };
        let mut values = key.key_values();
        values.extend(slice.prefix.iter().copied());
        for bound in [&slice.lower, &slice.upper] {
            if let Bound::Included(value) | Bound::Excluded(value) = bound {
                values.push(*value);
            }
        }
        values.push(&slice.limit);
        let result = self
            .execute(kind, values, "SELECT slice")
            .await?
            .into_rows_result()
            .map_err(|source| Error::query(self.action("SELECT slice"), source))?;
        let rows = result.rows::<TableRow<T>>().map_err(|source| self.row_error(source))?;
        rows.map(|row| row.map(|TableRow(row)| row).map_err(|source| self.row_error(source))).collect()
    }

    /// Sets every static and regular column of the row (increments counters by the row's values).
    pub async fn update(&self, row: &T) -> Result<()> {
        self.execute(StatementKind::Update, update_values(row), "UPDATE").await?;
        Ok(())
    }

    /// Sets one static or regular column of one row, leaving its other columns as they are.
    pub async fn update_column(&self, key: &T::PrimaryKey, column: &str, value: ColumnValue<'_>) -> Result<()> {
        let column_index = column_index::<T>(column)?;
        let mut values: Vec<ColumnValue<'_>> = vec![value];
        values.extend(key.key_values());
        self.execute(StatementKind::UpdateColumn { column_index }, values, &format!("UPDATE {column}")).await?;
        Ok(())
    }

    /// Appends `elements` (a `Vec` of the list's element type) to the list column `column` of one
    /// row. Not idempotent, so the driver never retries it by itself.
    pub async fn append_to_list(&self, key: &T::PrimaryKey, column: &str, elements: ColumnValue<'_>) -> Result<()> {
        let column_index = column_index::<T>(column)?;
        let mut values: Vec<ColumnValue<'_>> = vec![elements];
        values.extend(key.key_values());
        self.execute(StatementKind::AppendToList { column_index }, values, "append to list").await?;
        Ok(())
    }

    /// Deletes one row (a row tombstone).
    pub async fn delete(&self, key: &T::PrimaryKey) -> Result<()> {
        self.execute(StatementKind::DeleteRow, key, "DELETE row").await?;
        Ok(())
    }

    /// Deletes a whole partition (one partition tombstone).
    pub async fn delete_partition(&self, key: &T::PartitionKey) -> Result<()> {
        self.execute(StatementKind::DeletePartition, key, "DELETE partition").await?;
        Ok(())
    }

    fn row_error(&self, source: impl Into<crate::error::DriverError>) -> Error {
        Error::RowMapping { table: T::TABLE_NAME.to_owned(), source: source.into() }
    }
}

/// The index of a column of `T` by name, in column order.
pub(crate) fn column_index<T: ScyllaTable>(column: &str) -> Result<usize> {
    T::table_schema()
        .columns
        .iter()
        .position(|candidate| candidate.name == column)
        .ok_or_else(|| Error::UnknownColumn { table: T::TABLE_NAME.to_owned(), column: column.to_owned() })
}

/// UPDATE binds the value columns first, then the primary key.
pub(crate) fn update_values<T: ScyllaTable>(row: &T) -> Vec<ColumnValue<'_>> {
    let key_len = T::table_schema().primary_key().count();
    let mut values = row.column_values();
    values.rotate_left(key_len);
    values
}
