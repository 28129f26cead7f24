//! What a benchmark run found: the series of each pattern on each system, the sustained rates,
//! saturation, the migration's costs and the servers' setup, which the report and plots render.

use std::path::PathBuf;
use std::time::Duration;

use crate::dataset::Counts;
use crate::driver::Measurement;
use crate::migration::MigrationOutcome;
use crate::model::{BenchConfig, Pattern, System};
use crate::profile::Profile;
use crate::read_path::{CpuComparison, ReadCost};
use crate::saturation::SaturationRounds;
use crate::setup::ServerSetup;

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

/// Everything one benchmark run measured, and where its report and plots are.
pub struct BenchOutcome {
    pub config: BenchConfig,
    /// The servers as the run found them.
    pub setup: ServerSetup,
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
