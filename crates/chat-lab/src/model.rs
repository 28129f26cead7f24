//! What the benchmark measures and how: the run's configuration, the read patterns, the systems
//! that serve them, the latency target, and the benchmark's error.

use std::path::PathBuf;
use std::time::Duration;

use scylla_table::ConnectionConfig;

use crate::dataset::Scale;
use crate::priority::ClientPriority;

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
    /// Measure dual-write with the local node frozen too (SIGSTOP): the copy breaker's cost.
    /// Never in a run that shares the node with tests.
    pub freeze_node: bool,
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
            freeze_node: true,
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
            freeze_node: false,
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
            System::Scylla => "ScyllaDB schema",
            System::ScyllaTwoReads => "ScyllaDB schema, two reads (steps_by_session)",
            System::RawDriver => "ScyllaDB schema, raw driver (reference)",
            System::RawDriverTwoReads => "ScyllaDB schema, two reads, raw driver (reference)",
            System::Postgres => "PostgreSQL, design's query",
            System::PostgresParentJoin => "PostgreSQL, parent join",
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
