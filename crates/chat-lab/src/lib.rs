//! The lab: what runs on a developer's machine to measure and rehearse the migration, never in
//! the application.
//!
//! - **The benchmark** (`chat-bench`, run by `cargo xtask bench [--quick]`) measures the
//!   conversation platform's three read patterns on the ScyllaDB schema and on the relational
//!   schema it replaces, side by side. It loads the same deterministic data set into both stores
//!   (or reuses it), drives each pattern in closed loop at several concurrencies and in open loop
//!   at fixed rates, measures what the migration costs (backfill against the node's insert
//!   ceiling, dual-write against PostgreSQL alone, adoption's triggers), and writes
//!   `target/bench/report.md` and PNG plots.
//! - **The rehearsal** ([`rehearsal`], `chat-migrate rehearse`) runs every phase of the migration
//!   under load against the local node, freezes it, and writes a report with plots.
//! - **`seed`** ([`seed`]) writes the data set into PostgreSQL only, for trying a backfill.
//! - [`storage`] measures what each store holds on disk; [`progress_bar`] draws progress on the
//!   terminal.

pub mod adoption;
pub mod cpu_time;
pub mod driver;
pub mod migration;
pub mod plot;
pub mod postgres_side;
pub mod priority;
pub mod profile;
pub mod progress_bar;
pub mod rate_search;
pub mod raw_driver;
pub mod read_path;
pub mod rehearsal;
pub mod report;
pub mod saturation;
pub mod scale;
pub mod scylla_side;
pub mod seed;
pub mod storage;

pub use chat_dataset as dataset;
pub use chat_dataset::rng;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_migrate::projection::Layout;
use chat_migrate::{backfill, ensure_scylla_schema, BackfillOptions, ScyllaCopier};
use conversation_pg::{PgConfig, PgStore};
use scylla_table::{ConnectionConfig, Database};

use crate::cpu_time::ServerCpu;
use crate::dataset::{Counts, Scale};
use crate::driver::{closed_loop, open_loop, Measurement, Operation};
use crate::migration::MigrationOutcome;
use crate::postgres_side::PostgresSide;
use crate::priority::ClientPriority;
use crate::profile::Profile;
use crate::rate_search::highest_load_rates;
use crate::raw_driver::RawScylla;
use crate::read_path::{CpuComparison, ReadCost};
use crate::rng::Rng;
use crate::saturation::{load_at_saturation, SaturationRounds};
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
pub(crate) const MIN_RATE_POINT_REQUESTS: f64 = 400.0;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub scale: Scale,
    pub seed: u64,
    /// Load on the node before anything is measured, split over the ScyllaDB patterns: a JVM
    /// node compiles its hot paths in the first minutes under load, and the first series would
    /// otherwise measure the compiler.
    pub node_warmup: Duration,
    /// Unrecorded time before each point.
    pub warmup: Duration,
    /// How long each measured point runs.
    pub point: Duration,
    pub concurrencies: Vec<usize>,
    /// Open-loop rates for recent sessions and thread navigation, per second.
    pub open_rates: Vec<f64>,
    /// The fixed, moderate open-loop rate every series runs once, for the client's CPU per
    /// operation away from saturation.
    pub moderate_rate: f64,
    /// Open-loop rates tried, in order, to find the highest load-conversation rate that keeps
    /// p99 within [`P99_TARGET_MS`]; the climb stops after two failed rates in a row. Between the
    /// highest rate that passed and the failed rate above it, `refinements` more rates are tried
    /// by bisection.
    pub load_rate_ladder: Vec<f64>,
    pub refinements: usize,
    /// How many times the whole side-by-side ladder runs; each system's highest rate is the
    /// median over the rounds, because one ladder's answer varies by 2x on a shared machine. The
    /// closed loop at saturation runs as many rounds.
    pub ladder_rounds: usize,
    pub scylla: ConnectionConfig,
    pub postgres: String,
    pub out_dir: PathBuf,
    /// The local node's folder (`cargo xtask db up`), for its CPU time and its size on disk.
    pub node_dir: PathBuf,
    /// Reload both stores even if they hold this data set already.
    pub reload: bool,
    /// Measure the migration's costs too (backfill, insert ceiling, dual-write).
    pub migration: bool,
    /// Profile the client with `perf` during a saturated load-conversation run, if `perf` is installed.
    pub profile: bool,
    /// The priority the client runs at, for the report.
    pub client_priority: ClientPriority,
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
            node_warmup: Duration::from_secs(40),
            warmup,
            point,
            concurrencies: vec![1, 4, 16, 64],
            open_rates: vec![200.0, 1000.0],
            moderate_rate: 1000.0,
            // Up to where every system saturates on this machine, so no figure is only a lower bound.
            load_rate_ladder: vec![25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0, 12800.0, 25600.0],
            refinements: 3,
            ladder_rounds: 3,
            scylla,
            postgres,
            out_dir,
            node_dir: PathBuf::from("target/cassandra"),
            reload: false,
            migration: true,
            profile: true,
            client_priority: ClientPriority::unchanged(),
        }
    }

    /// About 1K sessions, 3 s per point: a few minutes.
    pub fn quick(scylla: ConnectionConfig, postgres: String, out_dir: PathBuf) -> Self {
        BenchConfig {
            concurrencies: vec![1, 8, 64],
            refinements: 2,
            // One ladder keeps a quick run quick; its ratio is one round's, and the report says so.
            ladder_rounds: 1,
            node_warmup: Duration::from_secs(20),
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
            moderate_rate: 50.0,
            node_warmup: Duration::ZERO,
            load_rate_ladder: vec![50.0, 100.0],
            refinements: 1,
            ladder_rounds: 1,
            profile: false,
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
    RecentSessions,
    ThreadNavigation,
}

impl Pattern {
    pub const ALL: [Pattern; 3] = [Pattern::LoadConversation, Pattern::RecentSessions, Pattern::ThreadNavigation];

    pub fn title(self) -> &'static str {
        match self {
            Pattern::LoadConversation => "Load conversation",
            Pattern::RecentSessions => "Recent sessions",
            Pattern::ThreadNavigation => "Thread navigation",
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Pattern::LoadConversation => "load_conversation",
            Pattern::RecentSessions => "recent_sessions",
            Pattern::ThreadNavigation => "thread_navigation",
        }
    }

    /// Who serves this pattern in a run, in report order.
    pub fn systems(self) -> &'static [System] {
        match self {
            Pattern::LoadConversation => &[
                System::Scylla,
                System::ScyllaTwoReads,
                System::RawDriver,
                System::RawDriverTwoReads,
                System::Postgres,
                System::PostgresParentJoin,
            ],
            _ => &[System::Scylla, System::RawDriver, System::Postgres],
        }
    }

    /// The systems that serve this pattern to an application: [`Pattern::systems`] without the
    /// raw-driver references.
    pub fn served_by(self) -> impl Iterator<Item = System> {
        self.systems().iter().copied().filter(|system| !system.is_reference())
    }
}

/// Who served a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Scylla,
    /// The ScyllaDB schema with `steps_by_session`: a load is two concurrent reads (load
    /// conversation only).
    ScyllaTwoReads,
    /// The ScyllaDB schema's reads on bare prepared statements of the driver: the reference the
    /// client's CPU per read is held against.
    RawDriver,
    /// The two reads of [`System::ScyllaTwoReads`] on bare prepared statements.
    RawDriverTwoReads,
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
            System::RawDriver => "ScyllaDB schema, raw driver (reference)",
            System::RawDriverTwoReads => "ScyllaDB schema, two reads, raw driver (reference)",
            System::Postgres => "PostgreSQL 15, design's query",
            System::PostgresParentJoin => "PostgreSQL 15, parent join",
        }
    }

    /// Served by the ScyllaDB node.
    pub fn is_scylla(self) -> bool {
        matches!(self, System::Scylla | System::ScyllaTwoReads | System::RawDriver | System::RawDriverTwoReads)
    }

    /// A reference for the client's CPU, not a way to serve the application: measured at
    /// saturation and at the moderate rate only.
    pub fn is_reference(self) -> bool {
        matches!(self, System::RawDriver | System::RawDriverTwoReads)
    }

    /// The raw-driver reference that reads what this system reads.
    pub fn reference(self) -> Option<System> {
        match self {
            System::Scylla => Some(System::RawDriver),
            System::ScyllaTwoReads => Some(System::RawDriverTwoReads),
            _ => None,
        }
    }
}

/// The measurements of one pattern on one system.
pub struct Series {
    pub pattern: Pattern,
    pub system: System,
    /// Requests, server reads, rows and bytes per operation, on average over a sample.
    pub cost: ReadCost,
    pub closed: Vec<(usize, Measurement)>,
    pub open: Vec<Measurement>,
    /// Open loop at the config's moderate rate.
    pub moderate: Option<Measurement>,
}

/// The highest open-loop rate at which load conversation kept p99 within the target. The rates
/// tried are the series' open-loop measurements.
pub struct SustainedRate {
    pub system: System,
    /// The median over the ladder's rounds; `None` if even the lowest rate missed the target in
    /// most rounds.
    pub rate_per_second: Option<f64>,
    /// Each round's highest rate, in the order the rounds ran.
    pub rounds: Vec<Option<f64>>,
}

pub struct BenchOutcome {
    pub config: BenchConfig,
    pub counts: Counts,
    pub loaded: bool,
    pub load_time: Duration,
    pub series: Vec<Series>,
    pub sustained: Vec<SustainedRate>,
    /// Load conversation in closed loop at the run's highest concurrency, the ladder's systems
    /// side by side in rounds.
    pub saturation: Vec<SaturationRounds>,
    pub migration: Option<MigrationOutcome>,
    /// Where the client's time goes while loading conversations at saturation.
    pub profiles: Vec<Profile>,
    /// Client CPU per request of each ScyllaDB series against its raw-driver reference.
    pub cpu: Vec<CpuComparison>,
    pub total_time: Duration,
    pub report_path: PathBuf,
    pub plots: Vec<PathBuf>,
}

/// Picks request targets the way the data set was built.
pub(crate) struct Targets {
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

    /// The partition key `pattern` reads for this random number.
    fn key(&self, pattern: Pattern, random: u64) -> String {
        match pattern {
            Pattern::LoadConversation => self.session(random),
            Pattern::RecentSessions => self.account(random),
            Pattern::ThreadNavigation => self.parent(random),
        }
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

/// The data set, loaded in both stores, and how to pick request targets in it.
pub(crate) struct Dataset {
    pub counts: Counts,
    pub targets: Arc<Targets>,
    pub db: Database,
    pub pg: PgStore,
    pub pg_schema: String,
    /// Whether this run loaded it (rather than reusing it).
    pub loaded: bool,
    /// The two halves of the load: `chat-migrate seed` into PostgreSQL, then the backfill; for a
    /// reused data set, those of the run that loaded it (zero if it did not record them).
    pub postgres_load_time: Duration,
    pub scylla_load_time: Duration,
}

/// The keyspace and PostgreSQL schema a data set lives in.
pub fn dataset_name(scale: &Scale) -> String {
    match scale.name {
        chat_dataset::SIZED => format!("bench_{}_sessions", scale.sessions),
        name => format!("bench_{name}"),
    }
}

/// Generates the data set's counts and targets, and loads it into both stores unless they hold it.
pub(crate) async fn prepare_dataset(config: &BenchConfig) -> Result<Dataset, BenchError> {
    let scale = config.scale;
    let keyspace = dataset_name(&scale);
    let pg_schema = keyspace.clone();
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
    let pg = PgStore::connect(&PgConfig::new(config.postgres.clone(), &pg_schema)).await?;

    let marker =
        format!("{LAYOUT}:{}:{}:{}:{}:{}", scale.name, config.seed, counts.sessions, counts.turns, counts.steps);
    let load_started = Instant::now();
    let loaded = config.reload || !scylla_has(&db, &scylla_config, &marker).await || !postgres_has(&pg, &marker).await;
    let (postgres_load_time, scylla_load_time) = if loaded {
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
        let postgres_load_time = load_started.elapsed();
        println!("Copying it to ScyllaDB keyspace `{keyspace}` (chat-migrate backfill)...");
        db.drop_keyspace(&keyspace).await?;
        ensure_scylla_schema(&db, Some(&scylla_config.replication)).await?;
        let options =
            BackfillOptions { restart: true, progress: crate::progress_bar::sink(), ..BackfillOptions::default() };
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
        let scylla_load_time = load_started.elapsed().saturating_sub(postgres_load_time);
        // Kept with the data set, so a run that reuses it can still say what loading it took.
        pg.client()
            .await?
            .execute(
                "INSERT INTO bench_info VALUES ('postgres_load_seconds', $1), ('scylla_load_seconds', $2)",
                &[&postgres_load_time.as_secs_f64().to_string(), &scylla_load_time.as_secs_f64().to_string()],
            )
            .await
            .map_err(|source| BenchError::Postgres { action: "recording the load times".into(), source })?;
        (postgres_load_time, scylla_load_time)
    } else {
        println!("Both stores already hold this data set; reusing it (pass --reload to load again)");
        recorded_load_times(&pg).await.unwrap_or_default()
    };
    settle_node(&db).await;
    Ok(Dataset { counts, targets, db, pg, pg_schema, loaded, postgres_load_time, scylla_load_time })
}

/// Quiet time without a compaction that counts as settled.
const SETTLED_AFTER: Duration = Duration::from_secs(10);
/// The longest wait for the node to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(20 * 60);

/// Waits until the node has run no compaction for [`SETTLED_AFTER`]: a fresh load leaves it
/// merging sstables for minutes, and reads measured meanwhile would measure the merging. A node
/// without `system_views.sstable_tasks` (ScyllaDB) is not waited for.
async fn settle_node(db: &Database) {
    let started = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    let mut announced = false;
    while started.elapsed() < SETTLE_LIMIT {
        let tasks: Vec<(String, String)> =
            match db.query_rows("SELECT keyspace_name, kind FROM system_views.sstable_tasks", ()).await {
                Ok(tasks) => tasks,
                Err(_) => return,
            };
        if tasks.is_empty() {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= SETTLED_AFTER {
                if announced {
                    println!("  settled after {:.0} s", started.elapsed().as_secs_f64());
                }
                return;
            }
        } else {
            quiet_since = None;
            if !announced {
                println!("Waiting for the node's compactions to finish before measuring ({} running)...", tasks.len());
                announced = true;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!("  the node still compacts after {:.0} s; measuring anyway", SETTLE_LIMIT.as_secs_f64());
}

/// The three ways the patterns reach the databases, and the servers' processes when they run
/// on this machine.
#[derive(Clone)]
pub(crate) struct Sides {
    pub scylla: ScyllaSide,
    pub raw: RawScylla,
    pub postgres: Arc<PostgresSide>,
    pub node_cpu: ServerCpu,
    pub postgres_cpu: ServerCpu,
}

impl Sides {
    pub async fn open(dataset: &Dataset, config: &BenchConfig) -> Result<Sides, BenchError> {
        let connections = config.concurrencies.iter().copied().max().unwrap_or(1).min(64);
        let postgres = PostgresSide::open(&config.postgres, &dataset.pg_schema, connections).await?;
        Ok(Sides {
            scylla: ScyllaSide::new(&dataset.db),
            raw: RawScylla::prepare(&dataset.db).await?,
            postgres_cpu: postgres.server_cpu().await,
            postgres: Arc::new(postgres),
            node_cpu: ServerCpu::local_node(&config.node_dir),
        })
    }

    /// The server that serves `system`.
    pub fn server_cpu(&self, system: System) -> &ServerCpu {
        if system.is_scylla() {
            &self.node_cpu
        } else {
            &self.postgres_cpu
        }
    }

    pub fn operation(&self, pattern: Pattern, system: System, targets: &Arc<Targets>) -> Operation {
        make_operation(pattern, system, &self.scylla, &self.raw, &self.postgres, targets)
    }
}

/// Runs the whole benchmark and writes the report and plots.
pub async fn run(config: BenchConfig) -> Result<BenchOutcome, BenchError> {
    let started = Instant::now();
    let dataset = prepare_dataset(&config).await?;
    let sides = Sides::open(&dataset, &config).await?;
    let targets = &dataset.targets;
    let max_concurrency = config.concurrencies.iter().copied().max().unwrap_or(1);
    warm_up_node(&sides, targets, &config).await;

    let mut series = Vec::new();
    for pattern in Pattern::ALL {
        for &system in pattern.systems() {
            let op = sides.operation(pattern, system, targets);
            let server = sides.server_cpu(system);
            let cost = read_path::measure(pattern, system, &op, &sides, &dataset.db, targets).await;
            println!(
                "{} on {}: {:.1} requests, {} server reads, {:.0} rows, {:.0} bytes per operation",
                pattern.title(),
                system.label(),
                cost.requests,
                cost.server_reads.map_or("n/a".to_owned(), |reads| format!("{reads:.1}")),
                cost.rows,
                cost.bytes
            );
            // The references only need the two points the client's CPU is compared at.
            let concurrencies =
                if system.is_reference() { vec![max_concurrency] } else { config.concurrencies.clone() };
            let mut closed = Vec::new();
            for concurrency in concurrencies {
                let measurement =
                    closed_loop(op.clone(), server, concurrency, config.warmup, config.point, config.seed).await;
                print_point(&format!("closed, {concurrency:>3} clients"), &measurement);
                closed.push((concurrency, measurement));
            }
            let mut open = Vec::new();
            if pattern != Pattern::LoadConversation && !system.is_reference() {
                for &rate in &config.open_rates {
                    let measurement =
                        open_loop(op.clone(), server, rate, config.warmup, config.point, config.seed).await;
                    print_point(&format!("open, {rate:>6.0}/s"), &measurement);
                    open.push(measurement);
                }
            }
            let moderate = if system.is_scylla() {
                let measurement =
                    open_loop(op.clone(), server, config.moderate_rate, config.warmup, config.point, config.seed).await;
                print_point(&format!("open, {:>6.0}/s (client CPU)", config.moderate_rate), &measurement);
                Some(measurement)
            } else {
                None
            };
            series.push(Series { pattern, system, cost, closed, open, moderate });
        }
    }

    let mut cpu = Vec::new();
    for measured in &series {
        let (pattern, system) = (measured.pattern, measured.system);
        let Some(reference) = system.reference() else { continue };
        println!("Client CPU: {} on {} against {}", pattern.title(), system.label(), reference.label());
        let (ours, theirs) = (sides.operation(pattern, system, targets), sides.operation(pattern, reference, targets));
        let requests = measured.cost.requests;
        cpu.push(
            read_path::compare_cpu(pattern, system, reference, &ours, &theirs, requests, max_concurrency, &config)
                .await,
        );
    }

    let profiles = if config.profile {
        let mut profiles = Vec::new();
        for system in [System::Scylla, System::ScyllaTwoReads] {
            let op = sides.operation(Pattern::LoadConversation, system, targets);
            println!("Profiling the client: load conversation on {}, {max_concurrency} clients", system.label());
            profiles.push(profile::record(system, &op, max_concurrency, &config).await);
        }
        profiles
    } else {
        Vec::new()
    };

    let ladder_systems = [System::Scylla, System::ScyllaTwoReads, System::Postgres, System::PostgresParentJoin];
    println!("Load conversation: highest open-loop rate with p99 <= {P99_TARGET_MS} ms, the systems side by side at each rate");
    let mut sustained = Vec::new();
    let found = highest_load_rates(&sides, &ladder_systems, targets, &config).await;
    for (system, found) in ladder_systems.into_iter().zip(found) {
        if let Some(series) =
            series.iter_mut().find(|series| series.pattern == Pattern::LoadConversation && series.system == system)
        {
            // The ladder's points are this pattern's open-loop measurements.
            series.open = found.tried;
        }
        sustained.push(SustainedRate { system, rate_per_second: found.rate_per_second, rounds: found.rounds });
    }
    println!("Load conversation at saturation, {max_concurrency} clients, the systems side by side in rounds");
    let saturation = load_at_saturation(&sides, &ladder_systems, targets, max_concurrency, &config).await;

    let migration = if config.migration {
        println!("Migration: insert ceiling, backfill, dual-write cost");
        let counts = &dataset.counts;
        let rows = 2 * counts.sessions + 3 * counts.turns + counts.steps;
        Some(migration::measure(&config, &dataset.pg, rows as u64).await?)
    } else {
        None
    };

    std::fs::create_dir_all(&config.out_dir)
        .map_err(|error| BenchError::Other(format!("cannot create {}: {error}", config.out_dir.display())))?;
    let plots = plot::write_plots(&config.out_dir, &series).map_err(BenchError::Other)?;
    let mut outcome = BenchOutcome {
        config,
        counts: dataset.counts,
        loaded: dataset.loaded,
        load_time: dataset.postgres_load_time + dataset.scylla_load_time,
        series,
        sustained,
        saturation,
        migration,
        profiles,
        cpu,
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

/// Runs the ScyllaDB patterns for the config's node warm-up, unrecorded.
pub(crate) async fn warm_up_node(sides: &Sides, targets: &Arc<Targets>, config: &BenchConfig) {
    if config.node_warmup.is_zero() {
        return;
    }
    println!("Warming the node up for {:.0} s (unrecorded)", config.node_warmup.as_secs_f64());
    let scylla_series: Vec<(Pattern, System)> = Pattern::ALL
        .into_iter()
        .flat_map(|pattern| {
            pattern.served_by().filter(|system| system.is_scylla()).map(move |system| (pattern, system))
        })
        .collect();
    let share = config.node_warmup / scylla_series.len() as u32;
    for (pattern, system) in scylla_series {
        let op = sides.operation(pattern, system, targets);
        closed_loop(op, &ServerCpu::default(), 16, share, Duration::ZERO, config.seed).await;
    }
}

fn make_operation(
    pattern: Pattern,
    system: System,
    scylla: &ScyllaSide,
    raw: &RawScylla,
    postgres: &Arc<PostgresSide>,
    targets: &Arc<Targets>,
) -> Operation {
    let (scylla, raw, postgres, targets) = (scylla.clone(), raw.clone(), postgres.clone(), targets.clone());
    match (pattern, system) {
        (Pattern::LoadConversation, System::RawDriver) => operation(move |random| {
            let (raw, session) = (raw.clone(), targets.session(random));
            async move { raw.load_conversation(session).await.map(|work| work.rows) }
        }),
        (Pattern::LoadConversation, System::RawDriverTwoReads) => operation(move |random| {
            let (raw, session) = (raw.clone(), targets.session(random));
            async move { raw.load_conversation_in_two_reads(session).await.map(|work| work.rows) }
        }),
        (Pattern::RecentSessions, System::RawDriver) => operation(move |random| {
            let (raw, account) = (raw.clone(), targets.account(random));
            async move { raw.recent_sessions(account).await.map(|work| work.rows) }
        }),
        (Pattern::ThreadNavigation, System::RawDriver) => operation(move |random| {
            let (raw, parent) = (raw.clone(), targets.parent(random));
            async move { raw.children(parent).await.map(|work| work.rows) }
        }),
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
        (Pattern::RecentSessions | Pattern::ThreadNavigation, System::ScyllaTwoReads | System::RawDriverTwoReads) => {
            unreachable!("the two-read layout changes only loading a conversation")
        }
        (Pattern::RecentSessions, System::Scylla) => operation(move |random| {
            let (scylla, account) = (scylla.clone(), targets.account(random));
            async move { scylla.recent_sessions(account).await }
        }),
        (Pattern::RecentSessions, _) => operation(move |random| {
            let (postgres, account) = (postgres.clone(), targets.account(random));
            async move { postgres.recent_sessions(account).await }
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

pub(crate) fn print_point(label: &str, measurement: &Measurement) {
    let bursts = if measurement.offered_rate.is_some() {
        let bursts = measurement.late_bursts();
        format!("  late bursts {} ({:.0} ms)", bursts.bursts, bursts.total.as_secs_f64() * 1000.0)
    } else {
        String::new()
    };
    let server = measurement.server_cpu_per_op_us().map_or(String::new(), |us| format!("  server CPU {us:.0} µs/op"));
    println!(
        "  {label}: {:>8.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  errors {}{bursts}{server}",
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

/// The load times a data set was recorded with when it was loaded.
async fn recorded_load_times(pg: &PgStore) -> Option<(Duration, Duration)> {
    let client = pg.client().await.ok()?;
    let seconds = |name: &'static str| {
        let client = &client;
        async move {
            let row = client.query_opt("SELECT marker FROM bench_info WHERE name = $1", &[&name]).await.ok()??;
            row.get::<_, String>(0).parse::<f64>().ok().map(Duration::from_secs_f64)
        }
    };
    Some((seconds("postgres_load_seconds").await?, seconds("scylla_load_seconds").await?))
}

async fn postgres_has(pg: &PgStore, marker: &str) -> bool {
    let Ok(client) = pg.client().await else { return false };
    // A missing table or schema means "not loaded", like a different marker.
    match client.query_opt("SELECT marker FROM bench_info WHERE name = 'dataset'", &[]).await {
        Ok(Some(row)) => row.get::<_, String>(0) == marker,
        _ => false,
    }
}
