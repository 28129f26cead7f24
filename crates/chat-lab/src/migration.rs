//! What the migration costs, measured on the same node as the reads:
//!
//! - the **insert ceiling**: every ScyllaDB row of the data set written by the bare driver, one
//!   prepared single-row `INSERT` per row, many in flight, with no timestamps, batches or
//!   bookkeeping. Nothing that copies these rows can go faster on this node.
//! - the **backfill**: `chat-migrate backfill` copying the same data set from the relational
//!   schema, reads, checkpoints and all, into a fresh keyspace.
//! - the **dual-write cost**: the latency of one user write (a new turn) on PostgreSQL alone, and
//!   through the dual-writing store, which adds the outbox entry and the inline ScyllaDB copy;
//! - what adopting a team's own database costs (see [`crate::adoption`]).
//!
//! Every keyspace and PostgreSQL schema made here is dropped at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::seed::relational_rows;
use chat_migrate::projection::{project_snapshot, Layout};
use chat_migrate::{
    backfill, ensure_scylla_schema, BackfillOptions, BreakerState, DualWriteStore, RelayConfig, ScyllaCopier,
    ScyllaRelay,
};
use conversation_pg::{PgConfig, PgStore};
use conversation_store::{
    ConversationApi, SessionByUser, SessionOwner, StepByTurn, TurnByParent, TurnBySession, TurnLocation,
};
use futures::StreamExt;
use local_cassandra::LocalNode;
use scylla_table::schema::StatementKind;
use scylla_table::scylla::statement::prepared::PreparedStatement;
use scylla_table::{ConnectionConfig, Database, ScyllaTable};

use crate::cpu_time::ServerCpu;
use crate::dataset;
use crate::driver::{closed_loop, Measurement, Operation};
use crate::driver::{operation, print_point};
use crate::model::{BenchConfig, BenchError};
use crate::rng::Rng;

/// Single-row inserts in flight while measuring the ceiling.
pub const CEILING_CONCURRENCY: usize = 256;
/// Sessions the dual-write clients spread their new turns over.
const DUAL_WRITE_SESSIONS: usize = 256;
const DUAL_WRITE_ACCOUNTS: usize = 16;

/// Rows written to ScyllaDB in one run, and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct CopyRun {
    pub rows: u64,
    /// Requests sent: one per row for the ceiling, one per batch for the backfill.
    pub requests: u64,
    pub elapsed: Duration,
}

impl CopyRun {
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A user write at one concurrency, on PostgreSQL alone and with dual-write.
pub struct DualWritePoint {
    pub clients: usize,
    /// Measured with the node frozen and the copy breaker open.
    pub node_frozen: bool,
    pub postgres_only: Measurement,
    pub dual_write: Measurement,
}

pub struct MigrationOutcome {
    pub ceiling: CopyRun,
    pub backfill: CopyRun,
    pub backfill_options: BackfillOptions,
    pub dual_write: Vec<DualWritePoint>,
    /// Changes the inline copies could not write during the dual-write runs (left to the relay).
    pub dual_write_outbox_left: i64,
    pub adoption: crate::adoption::AdoptionOutcome,
}

impl MigrationOutcome {
    /// Backfill rows/s as a share of the ceiling's.
    pub fn backfill_share_of_ceiling(&self) -> f64 {
        self.backfill.rows_per_second() / self.ceiling.rows_per_second().max(1e-9)
    }
}

/// Runs the three measurements. `pg` holds the bench's data set in the relational schema.
pub async fn measure(config: &BenchConfig, pg: &PgStore, total_rows: u64) -> Result<MigrationOutcome, BenchError> {
    let ceiling = insert_ceiling(config, total_rows).await?;
    println!(
        "  insert ceiling: {} rows in {:.1} s, {:.0} rows/s",
        ceiling.rows,
        ceiling.elapsed.as_secs_f64(),
        ceiling.rows_per_second()
    );
    let backfill_options =
        BackfillOptions { restart: true, progress: crate::progress_bar::sink(), ..BackfillOptions::default() };
    let backfill = measured_backfill(config, pg, &backfill_options).await?;
    println!(
        "  backfill: {} rows in {:.1} s, {:.0} rows/s ({} requests)",
        backfill.rows,
        backfill.elapsed.as_secs_f64(),
        backfill.rows_per_second(),
        backfill.requests
    );
    let (dual_write, dual_write_outbox_left) = dual_write_cost(config).await?;
    let adoption = crate::adoption::measure(config).await?;
    Ok(MigrationOutcome { ceiling, backfill, backfill_options, dual_write, dual_write_outbox_left, adoption })
}

/// A fresh keyspace with the store's tables.
async fn scratch_keyspace(config: &BenchConfig, name: &str) -> Result<(Database, ConnectionConfig), BenchError> {
    let mut scylla = config.scylla.clone();
    scylla.keyspace = name.to_owned();
    let db = Database::connect(&scylla).await?;
    db.drop_keyspace(name).await?;
    ensure_scylla_schema(&db, Some(&scylla.replication)).await?;
    Ok((db, scylla))
}

/// The prepared single-row INSERT of every table a copy writes, at the database's write consistency.
struct Inserts {
    sessions: PreparedStatement,
    owners: PreparedStatement,
    turns: PreparedStatement,
    parents: PreparedStatement,
    locations: PreparedStatement,
    steps: PreparedStatement,
}

/// The table's INSERT, prepared by the runtime (once per database) at its write consistency; the
/// ceiling then executes it on the bare driver session.
async fn prepare_insert<T: ScyllaTable>(db: &Database) -> Result<PreparedStatement, BenchError> {
    Ok(db.table::<T>().prepared_statement(StatementKind::Insert).await?)
}

/// One row of a copy, for the table it goes to.
enum CopyRow {
    Session(SessionByUser),
    Owner(SessionOwner),
    Turn(TurnBySession),
    Parent(TurnByParent),
    Location(TurnLocation),
    Step(StepByTurn),
}

/// The rows of one session's copy, in the order a copier would send them.
fn copy_rows(session: &dataset::Session) -> Vec<CopyRow> {
    let copy = project_snapshot(&relational_rows(session), Layout::default());
    let mut rows = vec![CopyRow::Session(copy.session.by_user), CopyRow::Owner(copy.session.owner)];
    for turn in copy.turns {
        rows.push(CopyRow::Turn(turn.by_session));
        rows.push(CopyRow::Parent(turn.by_parent));
        rows.push(CopyRow::Location(turn.location));
    }
    rows.extend(copy.steps.into_iter().map(|step| CopyRow::Step(step.step)));
    rows
}

/// Every ScyllaDB row of the data set, one bare prepared INSERT each, CEILING_CONCURRENCY in flight.
async fn insert_ceiling(config: &BenchConfig, total_rows: u64) -> Result<CopyRun, BenchError> {
    const KEYSPACE: &str = "bench_insert_ceiling";
    let (db, _) = scratch_keyspace(config, KEYSPACE).await?;
    let inserts = Inserts {
        sessions: prepare_insert::<SessionByUser>(&db).await?,
        owners: prepare_insert::<SessionOwner>(&db).await?,
        turns: prepare_insert::<TurnBySession>(&db).await?,
        parents: prepare_insert::<TurnByParent>(&db).await?,
        locations: prepare_insert::<TurnLocation>(&db).await?,
        steps: prepare_insert::<StepByTurn>(&db).await?,
    };
    let (scale, seed) = (config.scale, config.seed);
    let bar = crate::progress_bar::bar(total_rows, "rows");
    let started = Instant::now();
    // Rows are made as they are sent, as a copier makes them from what it reads.
    let rows = futures::stream::iter(0..scale.sessions)
        .flat_map(move |index| futures::stream::iter(copy_rows(&dataset::session(&scale, seed, index))));
    let (session, inserts) = (db.session(), &inserts);
    let mut pending = rows
        .map(|row| async move {
            let result = match &row {
                CopyRow::Session(row) => session.execute_unpaged(&inserts.sessions, row.column_values()).await,
                CopyRow::Owner(row) => session.execute_unpaged(&inserts.owners, row.column_values()).await,
                CopyRow::Turn(row) => session.execute_unpaged(&inserts.turns, row.column_values()).await,
                CopyRow::Parent(row) => session.execute_unpaged(&inserts.parents, row.column_values()).await,
                CopyRow::Location(row) => session.execute_unpaged(&inserts.locations, row.column_values()).await,
                CopyRow::Step(row) => session.execute_unpaged(&inserts.steps, row.column_values()).await,
            };
            result.map(|_| ())
        })
        .buffer_unordered(CEILING_CONCURRENCY);
    let mut rows = 0u64;
    while let Some(result) = pending.next().await {
        result.map_err(|source| scylla_table::Error::Query {
            action: "inserting a row for the insert ceiling".into(),
            source: source.into(),
        })?;
        rows += 1;
        bar.inc(1);
    }
    let elapsed = started.elapsed();
    drop(pending);
    bar.finish_and_clear();
    db.drop_keyspace(KEYSPACE).await?;
    Ok(CopyRun { rows, requests: rows, elapsed })
}

/// `chat-migrate backfill` of the bench's relational data set into a fresh keyspace.
async fn measured_backfill(
    config: &BenchConfig,
    pg: &PgStore,
    options: &BackfillOptions,
) -> Result<CopyRun, BenchError> {
    const KEYSPACE: &str = "bench_backfill";
    let (db, _) = scratch_keyspace(config, KEYSPACE).await?;
    let report = backfill(pg, &ScyllaCopier::new(db.clone()), options).await?;
    db.drop_keyspace(KEYSPACE).await?;
    Ok(CopyRun { rows: report.scylla_rows, requests: report.requests, elapsed: report.elapsed })
}

/// A new turn in one of DUAL_WRITE_SESSIONS sessions, on PostgreSQL alone and through
/// dual-write, closed loop at one client and at the most clients of the run. Returns the points
/// and the outbox entries left behind.
async fn dual_write_cost(config: &BenchConfig) -> Result<(Vec<DualWritePoint>, i64), BenchError> {
    const NAME: &str = "bench_dual_write";
    let (db, _) = scratch_keyspace(config, NAME).await?;
    let clients = [1, config.concurrencies.iter().copied().max().unwrap_or(1).min(16)];
    let pg = PgStore::connect(&PgConfig::new(config.postgres.clone(), NAME).with_pool_size(clients[1] + 2)).await?;
    pg.drop_schema().await?;
    pg.apply_schema().await?;
    let relay = ScyllaRelay::new(pg.clone(), ScyllaCopier::new(db.clone()), RelayConfig::default());
    let dual = DualWriteStore::new(relay);
    let mut sessions = Vec::with_capacity(DUAL_WRITE_SESSIONS);
    for index in 0..DUAL_WRITE_SESSIONS {
        let account = format!("bench-account-{}", index % DUAL_WRITE_ACCOUNTS);
        let session = dual.create_session(&account, "dual-write cost").await?;
        sessions.push((account, session.session_uid));
    }
    let sessions = Arc::new(sessions);
    let new_turn = |store: Arc<dyn TurnWriter>| {
        let sessions = sessions.clone();
        operation(move |random| {
            let (store, sessions) = (store.clone(), sessions.clone());
            async move {
                let (account, session) = &sessions[Rng::new(random).below(sessions.len())];
                store.new_turn(account, session).await
            }
        })
    };
    let postgres_only: Operation = new_turn(Arc::new(pg.clone()));
    let dual_write: Operation = new_turn(Arc::new(dual.clone()));
    let mut points = Vec::new();
    for clients in clients {
        points.push(dual_write_point(config, clients, false, &postgres_only, &dual_write).await);
    }
    let left = dual.lag().await?.depth;
    if config.freeze_node {
        match LocalNode::find(&config.node_dir) {
            Ok(node) => points
                .extend(frozen_points(config, &node, &clients, &dual, &sessions, &postgres_only, &dual_write).await?),
            Err(error) => println!("  no local node to freeze ({error}): dual-write with a frozen node not measured"),
        }
    }
    pg.drop_schema().await?;
    db.drop_keyspace(NAME).await?;
    Ok((points, left))
}

/// PostgreSQL alone, then dual-write, closed loop at `clients`.
async fn dual_write_point(
    config: &BenchConfig,
    clients: usize,
    node_frozen: bool,
    postgres_only: &Operation,
    dual_write: &Operation,
) -> DualWritePoint {
    let server = ServerCpu::default();
    let run = |operation: &Operation| {
        closed_loop(operation.clone(), &server, clients, config.warmup, config.point, config.seed)
    };
    let postgres_only = run(postgres_only).await;
    let dual_write = run(dual_write).await;
    let node = if node_frozen { ", node frozen" } else { "" };
    for (label, measurement) in [("PostgreSQL alone", &postgres_only), ("dual-write", &dual_write)] {
        print_point(&format!("new turn, {clients:>2} clients, {label:<16}{node}"), measurement);
    }
    DualWritePoint { clients, node_frozen, postgres_only, dual_write }
}

/// The same points with the node frozen (SIGSTOP), once the copy breaker has opened: what a
/// write costs while ScyllaDB is down. The node runs again before this returns, even on an
/// error, and the relay then copies what the writes left in the outbox.
async fn frozen_points(
    config: &BenchConfig,
    node: &LocalNode,
    clients: &[usize],
    dual: &DualWriteStore,
    sessions: &[(String, String)],
    postgres_only: &Operation,
    dual_write: &Operation,
) -> Result<Vec<DualWritePoint>, BenchError> {
    let paused = node.pause().map_err(BenchError::Other)?;
    println!("  node frozen: writing until the copy breaker opens");
    let opened_by = Instant::now() + Duration::from_secs(120);
    let mut next = 0;
    while dual.copy_breaker() != BreakerState::Open {
        if Instant::now() > opened_by {
            return Err(BenchError::Other("the copy breaker did not open with the node frozen".into()));
        }
        let (account, session) = &sessions[next % sessions.len()];
        next += 1;
        dual.append_human_turn(account, session, None, "is the node there?", None).await?;
    }
    let mut points = Vec::new();
    for &clients in clients {
        points.push(dual_write_point(config, clients, true, postgres_only, dual_write).await);
    }
    paused.resume();
    println!("  node resumed: the relay copies what the writes left");
    let (_, lag) = dual.relay().drain(Some(Duration::from_secs(300))).await?;
    if lag.depth > 0 {
        return Err(BenchError::Other(format!("{} outbox entries left after the node resumed", lag.depth)));
    }
    Ok(points)
}

/// The write the dual-write cost is measured with: a human turn appended as a new root.
trait TurnWriter: Send + Sync + 'static {
    fn new_turn<'a>(
        &'a self,
        account: &'a str,
        session: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<usize, String>> + Send + 'a>>;
}

impl<S: ConversationApi + Send + Sync + 'static> TurnWriter for S {
    fn new_turn<'a>(
        &'a self,
        account: &'a str,
        session: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<usize, String>> + Send + 'a>> {
        Box::pin(async move {
            self.append_human_turn(account, session, None, "how much does a copy cost?", None)
                .await
                .map(|_| 1)
                .map_err(|error| error.to_string())
        })
    }
}
