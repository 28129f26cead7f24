//! `Table<T>`: typed operations on one table, each on a statement prepared once.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use scylla::client::pager::{NextRowError, QueryPager};
use scylla::response::query_result::QueryResult;
use scylla::response::PagingState;
use scylla::serialize::row::SerializeRow;
use scylla::serialize::value::SerializeValue;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use scylla::value::{Counter, MaybeUnset};
use scylla_table_schema::StatementKind;

use crate::columns::{ColumnOf, CounterColumn, ListColumn, MapColumn, SetColumn, Settable, StaticColumn};
use crate::config::ConsistencyLevels;
use crate::database::Database;
use crate::error::{Error, Result};
use crate::row::{Applied, KeyedValue, RowValues, TableRow};
use crate::table::{ColumnValue, ScyllaTable};

/// Default rows per page when streaming a partition.
pub const DEFAULT_PAGE_SIZE: i32 = 5000;

/// Before the second read that settles a transaction whose reply was lost: the first one can go
/// over the same broken connection before the driver has noticed it; the second, after this,
/// over a fresh one (a fault test saw both reads meet the same broken connection, back to back).
const SETTLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Options for [`Table::insert_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Seconds until the written cells expire. `None` keeps the table's default TTL.
    pub ttl: Option<i32>,
    /// The write's timestamp in microseconds since the epoch. `None` lets the driver choose.
    pub timestamp: Option<i64>,
}

/// The future of a one-column write ([`Table::set`], [`Table::increment`], the collection
/// updates). Boxed so that the column's type is checked once, at the call: a wrong column is
/// one error under the argument, not one more at every `.await`.
pub type Pending<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Adding to a collection or removing from it.
#[derive(Clone, Copy)]
enum Change {
    Add,
    Remove,
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

    /// The database the handle writes to: for a batch with other tables.
    pub fn database(&self) -> &Database {
        &self.db
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
                | StatementKind::SelectPartitionTimed
                | StatementKind::SelectRowTimed
                | StatementKind::SelectAll
                | StatementKind::SelectPrefix { .. }
                | StatementKind::SelectRange { .. }
        );
        statement.set_consistency(if is_read { self.consistency.read } else { self.consistency.write });
        let is_lwt = kind == StatementKind::InsertIfNotExists;
        let is_counter_update = kind == StatementKind::Update && schema.is_counter_table();
        // Adding to a list appends again on a retry, and to a counter counts again.
        let is_repeating_add = match kind {
            StatementKind::AddTo { column_index } => schema
                .columns
                .get(column_index)
                .is_some_and(|column| column.cql_type.is_list() || column.cql_type.is_counter()),
            StatementKind::RemoveFrom { column_index } => {
                schema.columns.get(column_index).is_some_and(|column| column.cql_type.is_counter())
            }
            _ => false,
        };
        statement.set_is_idempotent(!is_lwt && !is_counter_update && !is_repeating_add);
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
            .map_err(|source| self.db.error(self.action(what), source))
    }

    /// Writes a whole row.
    pub async fn insert(&self, row: &T) -> Result<()> {
        self.execute(StatementKind::Insert, RowValues { row, skip_nulls: false, extra: &[] }, "INSERT").await?;
        Ok(())
    }

    /// Writes a new row, leaving `None` columns unset rather than null, so the write makes no
    /// tombstones. Use it for rows that do not exist yet: an unset column keeps whatever an
    /// existing row holds there, where [`Table::insert`] would clear it.
    pub async fn insert_new(&self, row: &T) -> Result<()> {
        self.execute(StatementKind::Insert, RowValues { row, skip_nulls: true, extra: &[] }, "INSERT").await?;
        Ok(())
    }

    /// Writes a whole row with a TTL and/or a client timestamp.
    pub async fn insert_with(&self, row: &T, options: WriteOptions) -> Result<()> {
        let ttl = options.ttl.map_or(MaybeUnset::Unset, MaybeUnset::Set);
        let timestamp = options.timestamp.map_or(MaybeUnset::Unset, MaybeUnset::Set);
        let values = RowValues { row, skip_nulls: false, extra: &[&ttl, &timestamp] };
        self.execute(StatementKind::InsertUsing, values, "INSERT USING").await?;
        Ok(())
    }

    /// Writes the row only if no row has its primary key (a lightweight transaction).
    ///
    /// When its reply is lost ([`Error::OutcomeUnknown`]), the transaction is not repeated
    /// blindly: a SERIAL read, which finishes any round still in progress, tells what happened.
    /// A row comes back as [`InsertOutcome::NotApplied`], and it may be this very insert, applied
    /// before its reply was lost: a caller that retries with the same values treats a row equal
    /// to its own as written. No row means the insert was not applied when the read ran, and the
    /// error says to repeat it: a round of the lost one that a coordinator still retries may yet
    /// apply, and the repeat then finds that row, equal to its own.
    /// A lost reply often comes with a lost connection, which the first read can meet too, so a
    /// failed read is made once more, after a 200 ms pause. If that fails as well, the outcome
    /// stays unknown. Settling costs up to two more requests, so a call can take three request
    /// timeouts.
    pub async fn insert_if_not_exists(&self, row: &T) -> Result<InsertOutcome<T>> {
        match self.try_insert_if_not_exists(row).await {
            Err(Error::OutcomeUnknown { action, source }) => match self.settle(&row.primary_key()).await {
                Ok(Some(current)) => Ok(InsertOutcome::NotApplied(current)),
                Ok(None) => Err(self.db.error(
                    action,
                    format!(
                        "{source}; a SERIAL read then found no row, so it was not applied: repeat it with the \
                         same values"
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
            .execute(
                StatementKind::InsertIfNotExists,
                RowValues { row, skip_nulls: true, extra: &[] },
                "INSERT IF NOT EXISTS",
            )
            .await?
            .into_rows_result()
            .map_err(|source| self.db.error(&action, source))?;
        let Applied(applied) = result.single_row::<Applied>().map_err(|source| self.db.error(&action, source))?;
        if applied {
            return Ok(InsertOutcome::Applied);
        }
        let current = self.get_serial(&row.primary_key()).await?;
        current.map(InsertOutcome::NotApplied).ok_or_else(|| {
            self.db.error(action, "the insert was not applied, but no row exists: it was deleted in between; retry")
        })
    }

    /// The row as lightweight transactions see it, read once more if the first read fails.
    async fn settle(&self, key: &T::PrimaryKey) -> Result<Option<T>> {
        match self.get_serial(key).await {
            Err(_) => {
                tokio::time::sleep(SETTLE_PAUSE).await;
                self.get_serial(key).await
            }
            read => read,
        }
    }

    /// The row as lightweight transactions see it: a SERIAL read (LOCAL_SERIAL with local
    /// writes) sees the row that won a transaction even if it is not yet on a quorum, and
    /// completes a round left in progress.
    async fn get_serial(&self, key: &T::PrimaryKey) -> Result<Option<T>> {
        self.clone().with_read_consistency(self.consistency.serial()).get(key).await
    }

    /// The row with this primary key, if any.
    pub async fn get(&self, key: &T::PrimaryKey) -> Result<Option<T>> {
        let result = self
            .execute(StatementKind::SelectRow, key, "SELECT row")
            .await?
            .into_rows_result()
            .map_err(|source| self.db.error(self.action("SELECT row"), source))?;
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
            .map_err(|source| self.db.error(self.action("SELECT partition"), source))?;
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
            .map_err(|source| self.db.error(self.action("SELECT all"), source))?;
        self.typed_rows(pager)
    }

    /// The pager's rows read into `T`, page by page as the stream is read.
    fn typed_rows(&self, pager: QueryPager) -> Result<impl Stream<Item = Result<T>> + Send + 'static> {
        let rows = pager.rows_stream::<TableRow<T>>().map_err(|source| self.row_error(source))?;
        let table = T::TABLE_NAME;
        let db = self.db.clone();
        Ok(rows.map(move |row| {
            row.map(|TableRow(row)| row).map_err(|source| match source {
                // A later page failed on the way: a query error, not a row that does not fit.
                NextRowError::NextPageError(_) => db.error(format!("reading the next page of {table}"), source),
                _ => Error::RowMapping { table: table.to_owned(), source: source.into() },
            })
        }))
    }

    /// Every row of a partition in clustering order, collected. For partitions known to be small:
    /// each page is one request awaited here, with no background task or channel between the
    /// driver and the rows (the cost [`Table::partition`]'s stream pays for reading lazily).
    pub async fn partition_vec(&self, key: &T::PartitionKey) -> Result<Vec<T>> {
        self.collect_pages(StatementKind::SelectPartition, key, "SELECT partition").await
    }

    /// Runs a read page by page at this handle's page size, awaiting each page here, and collects
    /// the rows.
    pub(crate) async fn collect_pages(
        &self,
        kind: StatementKind,
        values: impl SerializeRow,
        what: &str,
    ) -> Result<Vec<T>> {
        let rows = self.collect_pages_as::<TableRow<T>>(kind, values, what).await?;
        Ok(rows.into_iter().map(|TableRow(row)| row).collect())
    }

    /// [`Table::collect_pages`] with each row read as `R`.
    pub(crate) async fn collect_pages_as<R>(
        &self,
        kind: StatementKind,
        values: impl SerializeRow,
        what: &str,
    ) -> Result<Vec<R>>
    where
        R: for<'frame, 'metadata> scylla::deserialize::row::DeserializeRow<'frame, 'metadata>,
    {
        let mut statement = self.prepared_statement(kind).await?;
        statement.set_page_size(self.page_size);
        let mut rows = Vec::new();
        let mut paging_state = PagingState::start();
        loop {
            let (result, paging) = self
                .db
                .session()
                .execute_single_page(&statement, &values, paging_state)
                .await
                .map_err(|source| self.db.error(self.action(what), source))?;
            let result = result.into_rows_result().map_err(|source| self.db.error(self.action(what), source))?;
            rows.reserve(result.rows_num());
            for row in result.rows::<R>().map_err(|source| self.row_error(source))? {
                rows.push(row.map_err(|source| self.row_error(source))?);
            }
            match paging.into_paging_control_flow() {
                ControlFlow::Break(()) => return Ok(rows),
                ControlFlow::Continue(next) => paging_state = next,
            }
        }
    }

    async fn partition_statement(&self) -> Result<PreparedStatement> {
        let mut statement = self.prepared_statement(StatementKind::SelectPartition).await?;
        statement.set_page_size(self.page_size);
        Ok(statement)
    }

    /// Sets every static and regular column of the row (increments counters by the row's values).
    pub async fn update(&self, row: &T) -> Result<()> {
        self.execute(StatementKind::Update, update_values(row), "UPDATE").await?;
        Ok(())
    }

    /// Sets one regular column of one row, leaving its other columns as they are. `column` is a
    /// generated handle, such as `turns_by_session::liked`; a key, static or counter column, a
    /// column of another table or a value of another type does not compile.
    ///
    /// ```no_run
    /// # use scylla_table::{Table, ScyllaTable};
    /// # #[derive(ScyllaTable)]
    /// # #[table(name = "turns_by_session")]
    /// # struct Turn { #[table(partition_key)] session_uid: String, #[table(clustering)] turn_uid: String, liked: Option<bool> }
    /// # async fn run(turns: Table<Turn>) -> scylla_table::Result<()> {
    /// let key = TurnPrimaryKey { session_uid: "s1".into(), turn_uid: "t2".into() };
    /// turns.set(&key, turns_by_session::liked, &Some(true)).await?;
    /// # Ok(()) }
    /// ```
    pub fn set<'a, C>(&'a self, key: &'a T::PrimaryKey, column: C, value: &'a C::Value) -> Pending<'a>
    where
        C: ColumnOf<T> + Settable,
    {
        let _ = column;
        let what = format!("UPDATE {}", C::NAME);
        Box::pin(self.update_one(StatementKind::UpdateColumn { column_index: C::INDEX }, key, value, what))
    }

    /// Sets a static column, the one value its partition shares.
    pub fn set_static<'a, C>(&'a self, partition: &'a T::PartitionKey, column: C, value: &'a C::Value) -> Pending<'a>
    where
        C: ColumnOf<T> + StaticColumn,
    {
        let _ = column;
        let what = format!("UPDATE static {}", C::NAME);
        let kind = StatementKind::UpdateColumn { column_index: C::INDEX };
        Box::pin(async move {
            self.execute(kind, KeyedValue::new(value, partition), &what).await?;
            Ok(())
        })
    }

    /// Adds `by` (negative to subtract) to a counter column of one row. Not idempotent, so the
    /// driver never retries it by itself.
    pub fn increment<'a, C>(&'a self, key: &'a T::PrimaryKey, column: C, by: i64) -> Pending<'a>
    where
        C: ColumnOf<T> + CounterColumn,
    {
        self.change(key, column, Change::Add, Counter(by))
    }

    /// Appends `elements` to a list column of one row. Not idempotent, so the driver never
    /// retries it by itself.
    pub fn append_to_list<'a, C>(&'a self, key: &'a T::PrimaryKey, column: C, elements: &'a [C::Element]) -> Pending<'a>
    where
        C: ColumnOf<T> + ListColumn,
    {
        self.change(key, column, Change::Add, elements)
    }

    /// Removes every occurrence of each of `elements` from a list column of one row.
    pub fn remove_from_list<'a, C>(
        &'a self,
        key: &'a T::PrimaryKey,
        column: C,
        elements: &'a [C::Element],
    ) -> Pending<'a>
    where
        C: ColumnOf<T> + ListColumn,
    {
        self.change(key, column, Change::Remove, elements)
    }

    /// Adds `elements` to a set column of one row.
    pub fn add_to_set<'a, C>(&'a self, key: &'a T::PrimaryKey, column: C, elements: &'a [C::Element]) -> Pending<'a>
    where
        C: ColumnOf<T> + SetColumn,
    {
        self.change(key, column, Change::Add, elements)
    }

    /// Removes `elements` from a set column of one row.
    pub fn remove_from_set<'a, C>(
        &'a self,
        key: &'a T::PrimaryKey,
        column: C,
        elements: &'a [C::Element],
    ) -> Pending<'a>
    where
        C: ColumnOf<T> + SetColumn,
    {
        self.change(key, column, Change::Remove, elements)
    }

    /// Puts `entries` into a map column of one row, replacing the values of keys it has.
    pub fn put_in_map<'a, C>(&'a self, key: &'a T::PrimaryKey, column: C, entries: &'a C::Map) -> Pending<'a>
    where
        C: ColumnOf<T> + MapColumn,
    {
        self.change(key, column, Change::Add, entries)
    }

    /// Removes `keys` from a map column of one row.
    pub fn remove_from_map<'a, C>(&'a self, key: &'a T::PrimaryKey, column: C, keys: &'a [C::Key]) -> Pending<'a>
    where
        C: ColumnOf<T> + MapColumn,
    {
        self.change(key, column, Change::Remove, keys)
    }

    /// `c = c + ?` or `c = c - ?` for a collection or counter: `value` is a slice of elements
    /// (bound as a list or a set), a map of entries, or a counter delta.
    fn change<'a, C, V>(&'a self, key: &'a T::PrimaryKey, column: C, change: Change, value: V) -> Pending<'a>
    where
        C: ColumnOf<T>,
        V: SerializeValue + Send + Sync + 'a,
    {
        let _ = column;
        let (kind, operator) = match change {
            Change::Add => (StatementKind::AddTo { column_index: C::INDEX }, '+'),
            Change::Remove => (StatementKind::RemoveFrom { column_index: C::INDEX }, '-'),
        };
        let what = format!("UPDATE {0} = {0} {operator} ?", C::NAME);
        Box::pin(async move { self.update_one(kind, key, &value, what).await })
    }

    /// Runs an UPDATE of one column of one row: the value, then the key.
    async fn update_one(
        &self,
        kind: StatementKind,
        key: &T::PrimaryKey,
        value: &(dyn SerializeValue + Sync),
        what: String,
    ) -> Result<()> {
        self.execute(kind, KeyedValue::new(value, key), &what).await?;
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

/// UPDATE binds the value columns first, then the primary key.
pub(crate) fn update_values<T: ScyllaTable>(row: &T) -> Vec<ColumnValue<'_>> {
    let key_len = T::table_schema().primary_key().count();
    let mut values = row.column_values();
    values.rotate_left(key_len);
    values
}
