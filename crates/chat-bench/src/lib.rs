//! Measures the conversation platform's three read patterns on the ScyllaDB schema and on the
//! relational schema it replaces, on one machine, side by side.
//!
//! `cargo xtask bench [--quick]` runs it: it loads the same deterministic data set into both
//! stores (or reuses it), drives each pattern in closed loop at several concurrencies and in open
//! loop at fixed rates, measures what the migration costs (backfill against the node's insert
//! ceiling, dual-write against PostgreSQL alone), and writes `target/bench/report.md` and PNG plots.

pub mod driver;
pub mod migration;
pub mod plot;
pub mod postgres_side;
pub mod report;
pub mod scylla_side;

pub use chat_dataset as dataset;
pub use chat_dataset::rng;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_migrate::projection::Layout;
use chat_migrate::{backfill, ensure_scylla_schema, BackfillOptions, ScyllaCopier};
use conversation_pg::{PgConfig, PgStore};
use scylla_table::{ConnectionConfig, Database};

use crate::dataset::{Counts, Scale};
use crate::driver::{closed_loop, open_loop, Measurement, Operation};
use crate::migration::MigrationOutcome;
use crate::postgres_side::PostgresSide;
use crate::rng::Rng;
use crate::scylla_side::ScyllaSide;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Scylla(#[from] scylla_table::Error),
    #[error(transparent)]
    Store(#[from] conversation_store::StoreError),
    #[error(transparent)]
    Migrate(#[from] chat_migrate::MigrateError),
    #[error("PostgreSQL: {action} failed: {source}")]
    Postgres { action: String, source: tokio_postgres::Error },
    #[error("{0}")]
    Other(String),
}

/// How the stores hold the data set; part of the marker, so that a data set loaded by an older
/// layout is loaded again rather than reused.
const LAYOUT: &str = "conversation-pg-v1+steps-by-session";

/// The latency bound the seed's throughput promise is checked against.
pub const P99_TARGET_MS: f64 = 20.0;

/// Requests a point of the rate search aims for, so its p99 rests on enough samples.
const MIN_RATE_POINT_REQUESTS: f64 = 400.0;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub scale: Scale,
    pub seed: u64,
    pub warmup: Duration,
    /// How long each measured point runs.
    pub point: Duration,
    pub concurrencies: Vec<usize>,
    /// Open-loop rates for user history and thread navigation, per second.
    pub open_rates: Vec<f64>,
    /// Open-loop rates tried, in order, to find the highest load-conversation rate that keeps
    /// p99 within [`P99_TARGET_MS`]; the climb stops after two failed rates in a row. Between the
    /// highest rate that passed and the failed rate above it, `refinements` more rates are tried
    /// by bisection.
    pub load_rate_ladder: Vec<f64>,
    pub refinements: usize,
    pub scylla: ConnectionConfig,
    pub postgres: String,
    pub out_dir: PathBuf,
    /// Reload both stores even if they hold this data set already.
    pub reload: bool,
    /// Measure the migration's costs too (backfill, insert ceiling, dual-write).
    pub migration: bool,
}

impl BenchConfig {
    fn with_scale(
        scale: Scale,
        point: Duration,
        warmup: Duration,
        scylla: ConnectionConfig,
        postgres: String,
        out_dir: PathBuf,
    ) -> Self {
        BenchConfig {
            scale,
            seed: 42,
            warmup,
            point,
            concurrencies: vec![1, 4, 16, 64],
            open_rates: vec![200.0, 1000.0],
            // Up to where every system saturates on this machine, so no figure is only a lower bound.
            load_rate_ladder: vec![25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0, 12800.0, 25600.0],
            refinements: 3,
            scylla,
            postgres,
            out_dir,
            reload: false,
            migration: true,
        }
    }

    /// About 1K sessions, 3 s per point: a few minutes.
    pub fn quick(scylla: ConnectionConfig, postgres: String, out_dir: PathBuf) -> Self {
        BenchConfig {
            concurrencies: vec![1, 8, 64],
            refinements: 2,
            ..Self::with_scale(
                Scale::QUICK,
                Duration::from_secs(3),
                Duration::from_millis(500),
                scylla,
                postgres,
                out_dir,
            )
        }
    }

    /// About 10K sessions, 100K turns, 500K steps, 8 s per point.
    pub fn default_run(scylla: ConnectionConfig, postgres: String, out_dir: PathBuf) -> Self {
        Self::with_scale(Scale::DEFAULT, Duration::from_secs(8), Duration::from_secs(1), scylla, postgres, out_dir)
    }

    /// A few seconds in all, for tests: proves the pipeline, measures nothing meaningful.
    pub fn tiny(scylla: ConnectionConfig, postgres: String, out_dir: PathBuf) -> Self {
        BenchConfig {
            concurrencies: vec![1, 4],
            open_rates: vec![50.0],
            load_rate_ladder: vec![50.0, 100.0],
            refinements: 1,
            ..Self::with_scale(
                Scale::TINY,
                Duration::from_millis(300),
                Duration::from_millis(100),
                scylla,
                postgres,
                out_dir,
            )
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    LoadConversation,
    UserHistory,
    ThreadNavigation,
}

impl Pattern {
    pub const ALL: [Pattern; 3] = [Pattern::LoadConversation, Pattern::UserHistory, Pattern::ThreadNavigation];

    pub fn title(self) -> &'static str {
        match self {
            Pattern::LoadConversation => "Load conversation",
            Pattern::UserHistory => "User history",
            Pattern::ThreadNavigation => "Thread navigation",
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Pattern::LoadConversation => "load_conversation",
            Pattern::UserHistory => "user_history",
            Pattern::ThreadNavigation => "thread_navigation",
        }
    }
}

/// Who served a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Scylla,
    /// The ScyllaDB schema with `steps_by_session`: a load is two concurrent reads (load
    /// conversation only).
    ScyllaTwoReads,
    /// PostgreSQL running the design's queries as written.
    Postgres,
    /// PostgreSQL with the load query joined on the parent (load conversation only).
    PostgresParentJoin,
}

impl System {
    pub fn label(self) -> &'static str {
        match self {
            System::Scylla => "ScyllaDB schema (Cassandra 5.0 node)",
            System::ScyllaTwoReads => "ScyllaDB schema, two reads (steps_by_session)",
            System::Postgres => "PostgreSQL 15, design's query",
            System::PostgresParentJoin => "PostgreSQL 15, parent join",
        }
    }
}

/// The measurements of one pattern on one system.
pub struct Series {
    pub pattern: Pattern,
    pub system: System,
    /// Rows one request returned, on average over a sample: shows what each query does.
    pub rows_per_request: f64,
    pub closed: Vec<(usize, Measurement)>,
    pub open: Vec<Measurement>,
}

/// The highest open-loop rate at which load conversation kept p99 within the target. The rates
/// tried are the series' open-loop measurements.
pub struct SustainedRate {
    pub system: System,
    /// `None` if even the lowest rate missed the target.
    pub rate_per_second: Option<f64>,
}

pub struct BenchOutcome {
    pub config: BenchConfig,
    pub counts: Counts,
    pub loaded: bool,
    pub load_time: Duration,
    pub series: Vec<Series>,
    pub sustained: Vec<SustainedRate>,
    pub migration: Option<MigrationOutcome>,
    pub total_time: Duration,
    pub report_path: PathBuf,
    pub plots: Vec<PathBuf>,
}

/// Picks request targets the way the data set was built.
struct Targets {
    sessions: usize,
    accounts: usize,
    parents: Vec<String>,
}

impl Targets {
    fn session(&self, random: u64) -> String {
        dataset::session_uid(Rng::new(random).below(self.sessions))
    }

    fn account(&self, random: u64) -> String {
        dataset::account_uid(Rng::new(random).skewed_index(self.accounts))
    }

    fn parent(&self, random: u64) -> String {
        self.parents[Rng::new(random).below(self.parents.len())].clone()
    }
}

fn operation<F, Fut, E>(function: F) -> Operation
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<usize, E>> + Send + 'static,
    E: std::fmt::Display,
{
    let function = Arc::new(function);
    Arc::new(move |random| {
        let future = function(random);
        Box::pin(async move { future.await.map_err(|error| error.to_string()) })
    })
}

/// Runs the whole benchmark and writes the report and plots.
pub async fn run(config: BenchConfig) -> Result<BenchOutcome, BenchError> {
    let started = Instant::now();
    let scale = config.scale;
    let keyspace = format!("bench_{}", scale.name);
    let pg_schema = format!("bench_{}", scale.name);
    println!(
        "Data set `{}`: {} sessions over {} accounts, seed {}",
        scale.name, scale.sessions, scale.accounts, config.seed
    );

    let mut counts = Counts::default();
    let mut parents = Vec::new();
    for index in 0..scale.sessions {
        let session = dataset::session(&scale, config.seed, index);
        counts.add(&session);
        parents.extend(session.turns.iter().filter(|turn| turn.active_child.is_some()).map(|turn| turn.uid.clone()));
    }
    println!("  {} turns, {} steps", counts.turns, counts.steps);
    let targets = Arc::new(Targets { sessions: scale.sessions, accounts: scale.accounts, parents });

    let mut scylla_config = config.scylla.clone();
    scylla_config.keyspace = keyspace.clone();
    let db = Database::connect(&scylla_config).await?;
    let scylla = ScyllaSide::new(&db);
    let pg = PgStore::connect(&PgConfig::new(config.postgres.clone(), &pg_schema)).await?;

    let marker =
        format!("{LAYOUT}:{}:{}:{}:{}:{}", scale.name, config.seed, counts.sessions, counts.turns, counts.steps);
    let load_started = Instant::now();
    let loaded = config.reload || !scylla_has(&db, &scylla_config, &marker).await || !postgres_has(&pg, &marker).await;
    if loaded {
        println!("Loading PostgreSQL schema `{pg_schema}` (chat-migrate seed)...");
        postgres_side::load(&pg, &scale, config.seed).await?;
        pg.client()
            .await?
            .batch_execute(&format!(
                "CREATE TABLE bench_info (name text PRIMARY KEY, marker text);
                 INSERT INTO bench_info VALUES ('dataset', '{marker}')"
            ))
            .await
            .map_err(|source| BenchError::Postgres { action: "writing the data set marker".into(), source })?;
        println!("Copying it to ScyllaDB keyspace `{keyspace}` (chat-migrate backfill)...");
        db.drop_keyspace(&keyspace).await?;
        ensure_scylla_schema(&db, Some(&scylla_config.replication)).await?;
        let options = BackfillOptions { restart: true, progress: true, ..BackfillOptions::default() };
        let copier = ScyllaCopier::new(db.clone()).with_layout(Layout { steps_by_session: true });
        backfill(&pg, &copier, &options).await?;
        db.run_ddl(&format!("CREATE TABLE IF NOT EXISTS {keyspace}.bench_info (name text PRIMARY KEY, marker text)"))
            .await?;
        db.session()
            .query_unpaged(
                format!("INSERT INTO {keyspace}.bench_info (name, marker) VALUES ('dataset', ?)"),
                (&marker,),
            )
            .await
            .map_err(|source| scylla_table::Error::Query {
                action: "writing the data set marker".into(),
                source: source.into(),
            })?;
    } else {
        println!("Both stores already hold this data set; reusing it (pass --reload to load again)");
    }
    let load_time = load_started.elapsed();

    let max_concurrency = config.concurrencies.iter().copied().max().unwrap_or(1);
    let postgres = Arc::new(PostgresSide::open(&config.postgres, &pg_schema, max_concurrency.min(64)).await?);

    let mut series = Vec::new();
    for pattern in Pattern::ALL {
        let systems: &[System] = match pattern {
            Pattern::LoadConversation => {
                &[System::Scylla, System::ScyllaTwoReads, System::Postgres, System::PostgresParentJoin]
            }
            _ => &[System::Scylla, System::Postgres],
        };
        for &system in systems {
            let op = make_operation(pattern, system, &scylla, &postgres, &targets);
            let rows_per_request = sample_rows(&op).await;
            println!("{} on {}: about {rows_per_request:.0} rows per request", pattern.title(), system.label());
            let mut closed = Vec::new();
            for &concurrency in &config.concurrencies {
                let measurement = closed_loop(op.clone(), concurrency, config.warmup, config.point, config.seed).await;
                print_point(&format!("closed, {concurrency:>3} clients"), &measurement);
                closed.push((concurrency, measurement));
            }
            let mut open = Vec::new();
            if pattern != Pattern::LoadConversation {
                for &rate in &config.open_rates {
                    let measurement = open_loop(op.clone(), rate, config.warmup, config.point, config.seed).await;
                    print_point(&format!("open, {rate:>6.0}/s"), &measurement);
                    open.push(measurement);
                }
            }
            series.push(Series { pattern, system, rows_per_request, closed, open });
        }
    }

    let mut sustained = Vec::new();
    for system in [System::Scylla, System::ScyllaTwoReads, System::Postgres, System::PostgresParentJoin] {
        let op = make_operation(Pattern::LoadConversation, system, &scylla, &postgres, &targets);
        println!("Load conversation on {}: highest open-loop rate with p99 <= {P99_TARGET_MS} ms", system.label());
        let mut best: Option<f64> = None;
        let mut failed: Option<f64> = None;
        let mut tried = Vec::new();
        // One failed rate can be a single pause (a GC, a compaction) in a short point, so the
        // climb stops only after two failed rates in a row.
        let mut failures_in_a_row = 0;
        for &rate in &config.load_rate_ladder {
            match rate_point(&op, rate, &config, &mut tried).await {
                RatePoint::Passed => {
                    best = Some(rate);
                    failed = None;
                    failures_in_a_row = 0;
                }
                RatePoint::Missed => {
                    failed = failed.or(Some(rate));
                    failures_in_a_row += 1;
                    if failures_in_a_row == 2 {
                        break;
                    }
                }
                // Past saturation every higher rate fails too; no need to try them.
                RatePoint::Overloaded => {
                    failed = failed.or(Some(rate));
                    break;
                }
            }
        }
        // Narrow the gap between the highest rate that passed and the failed rate above it.
        // Below the ladder's lowest rate there is nothing worth narrowing: that rate is the answer's bound.
        if let (Some(mut high), Some(mut low)) = (failed, best) {
            for _ in 0..config.refinements {
                let rate = ((low + high) / 2.0).round();
                if rate <= low || rate >= high {
                    break;
                }
                if rate_point(&op, rate, &config, &mut tried).await == RatePoint::Passed {
                    low = rate;
                    best = Some(rate);
                } else {
                    high = rate;
                }
            }
        }
        tried.sort_by(|a, b| a.offered_rate.partial_cmp(&b.offered_rate).unwrap_or(std::cmp::Ordering::Equal));
        if let Some(series) =
            series.iter_mut().find(|series| series.pattern == Pattern::LoadConversation && series.system == system)
        {
            // The ladder's points are this pattern's open-loop measurements.
            series.open = tried;
        }
        sustained.push(SustainedRate { system, rate_per_second: best });
    }

    let migration = if config.migration {
        println!("Migration: insert ceiling, backfill, dual-write cost");
        let rows = 2 * counts.sessions + 3 * counts.turns + counts.steps;
        Some(migration::measure(&config, &pg, rows as u64).await?)
    } else {
        None
    };

    std::fs::create_dir_all(&config.out_dir)
        .map_err(|error| BenchError::Other(format!("cannot create {}: {error}", config.out_dir.display())))?;
    let plots = plot::write_plots(&config.out_dir, &series).map_err(BenchError::Other)?;
    let mut outcome = BenchOutcome {
        config,
        counts,
        loaded,
        load_time,
        series,
        sustained,
        migration,
        total_time: Duration::ZERO,
        report_path: PathBuf::new(),
        plots,
    };
    outcome.total_time = started.elapsed();
    outcome.report_path = outcome.config.out_dir.join("report.md");
    std::fs::write(&outcome.report_path, report::markdown(&outcome))
        .map_err(|error| BenchError::Other(format!("cannot write {}: {error}", outcome.report_path.display())))?;
    Ok(outcome)
}

/// How one point of the rate search went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RatePoint {
    /// p99 within the target, the rate kept up with, no errors.
    Passed,
    /// p99 over the target, but the server kept up: possibly one pause.
    Missed,
    /// The server fell behind the rate, p99 was far over the target, or requests failed.
    Overloaded,
}

/// Runs one open-loop point of the rate search.
async fn rate_point(op: &Operation, rate: f64, config: &BenchConfig, tried: &mut Vec<Measurement>) -> RatePoint {
    // At low rates a short point holds too few requests for a meaningful p99 (at 75 requests
    // p99 is the maximum), so each point runs long enough for MIN_RATE_POINT_REQUESTS, within
    // four times the usual point.
    let needed = Duration::from_secs_f64(MIN_RATE_POINT_REQUESTS / rate.max(0.001));
    let duration = needed.clamp(config.point, config.point * 4);
    let measurement = open_loop(op.clone(), rate, config.warmup, duration, config.seed).await;
    print_point(&format!("open, {rate:>6.0}/s"), &measurement);
    let kept_up = measurement.throughput() >= 0.95 * rate;
    // Far over the target is saturation too, not a pause.
    let saturated = measurement.percentile_ms(99.0) > 5.0 * P99_TARGET_MS;
    let outcome = if measurement.errors > 0 || !kept_up || saturated {
        RatePoint::Overloaded
    } else if measurement.percentile_ms(99.0) <= P99_TARGET_MS {
        RatePoint::Passed
    } else {
        RatePoint::Missed
    };
    tried.push(measurement);
    outcome
}

fn make_operation(
    pattern: Pattern,
    system: System,
    scylla: &ScyllaSide,
    postgres: &Arc<PostgresSide>,
    targets: &Arc<Targets>,
) -> Operation {
    let (scylla, postgres, targets) = (scylla.clone(), postgres.clone(), targets.clone());
    match (pattern, system) {
        (Pattern::LoadConversation, System::Scylla) => operation(move |random| {
            let (scylla, session) = (scylla.clone(), targets.session(random));
            async move { scylla.load_conversation(session).await }
        }),
        (Pattern::LoadConversation, System::ScyllaTwoReads) => operation(move |random| {
            let (scylla, session) = (scylla.clone(), targets.session(random));
            async move { scylla.load_conversation_in_two_reads(session).await }
        }),
        (Pattern::LoadConversation, System::Postgres) => operation(move |random| {
            let (postgres, session) = (postgres.clone(), targets.session(random));
            async move { postgres.seed_load_conversation(session).await }
        }),
        (Pattern::LoadConversation, System::PostgresParentJoin) => operation(move |random| {
            let (postgres, session) = (postgres.clone(), targets.session(random));
            async move { postgres.parent_join_load_conversation(session).await }
        }),
        (Pattern::UserHistory | Pattern::ThreadNavigation, System::ScyllaTwoReads) => {
            unreachable!("the two-read layout changes only loading a conversation")
        }
        (Pattern::UserHistory, System::Scylla) => operation(move |random| {
            let (scylla, account) = (scylla.clone(), targets.account(random));
            async move { scylla.user_history(account).await }
        }),
        (Pattern::UserHistory, _) => operation(move |random| {
            let (postgres, account) = (postgres.clone(), targets.account(random));
            async move { postgres.user_history(account).await }
        }),
        (Pattern::ThreadNavigation, System::Scylla) => operation(move |random| {
            let (scylla, parent) = (scylla.clone(), targets.parent(random));
            async move { scylla.children(parent).await }
        }),
        (Pattern::ThreadNavigation, _) => operation(move |random| {
            let (postgres, parent) = (postgres.clone(), targets.parent(random));
            async move { postgres.children(parent).await }
        }),
    }
}

/// Average rows per request over 50 requests: shows what a query returns.
async fn sample_rows(operation: &Operation) -> f64 {
    let mut total = 0;
    let mut count = 0;
    for random in 0..50u64 {
        if let Ok(rows) = operation(random.wrapping_mul(0x9E37_79B9_7F4A_7C15)).await {
            total += rows;
            count += 1;
        }
    }
    total as f64 / count.max(1) as f64
}

pub(crate) fn print_point(label: &str, measurement: &Measurement) {
    println!(
        "  {label}: {:>8.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  errors {}",
        measurement.throughput(),
        measurement.percentile_ms(50.0),
        measurement.percentile_ms(99.0),
        measurement.max_ms(),
        measurement.errors
    );
    if let Some(error) = &measurement.first_error {
        println!("    first error: {error}");
    }
}

async fn scylla_has(db: &Database, config: &ConnectionConfig, marker: &str) -> bool {
    let query = format!("SELECT marker FROM {}.bench_info WHERE name = 'dataset'", config.keyspace);
    // A missing table or keyspace means "not loaded", like a different marker.
    matches!(db.query_rows::<(String,)>(&query, ()).await.as_deref(), Ok([(found,)]) if found == marker)
}

async fn postgres_has(pg: &PgStore, marker: &str) -> bool {
    let Ok(client) = pg.client().await else { return false };
    // A missing table or schema means "not loaded", like a different marker.
    match client.query_opt("SELECT marker FROM bench_info WHERE name = 'dataset'", &[]).await {
        Ok(Some(row)) => row.get::<_, String>(0) == marker,
        _ => false,
    }
}
