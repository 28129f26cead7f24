//! What one operation of a pattern costs, apart from time: requests sent, partitions the server
//! read, rows and bytes returned. The client's CPU per operation comes from the timed points.

use scylla_table::Database;

use crate::data_set::Targets;
use crate::driver::Operation;
use crate::model::{BenchConfig, Pattern, System};
use crate::raw_driver::Work;
use crate::sides::Sides;

/// Operations averaged over; they run one at a time, so the server counts only theirs.
pub const SAMPLE_OPERATIONS: u64 = 50;

/// Averages per operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadCost {
    pub requests: f64,
    /// Single-partition reads the node counted (`system_views.local_read_latency`); `None` where
    /// the server does not expose them (PostgreSQL, or a cluster without that virtual table).
    pub server_reads: Option<f64>,
    pub rows: f64,
    /// Bytes of the rows in the responses, values with their 4-byte length prefixes (the CQL and
    /// the PostgreSQL wire formats both frame values so).
    pub bytes: f64,
}

/// The random numbers the samples pick their targets with: the same for every system.
fn sample_randoms() -> impl Iterator<Item = u64> {
    (0..SAMPLE_OPERATIONS).map(|index| index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Measures `system`'s cost for `pattern` on the sample targets: the wire figures by running the
/// same reads through the raw driver (or the byte-counting PostgreSQL query), the server's reads
/// by running `operation` itself between two readings of the node's counters.
pub(crate) async fn measure(
    pattern: Pattern,
    system: System,
    operation: &Operation,
    sides: &Sides,
    db: &Database,
    targets: &Targets,
) -> ReadCost {
    let (raw, postgres) = (&sides.raw, &sides.postgres);
    let mut total = Work::default();
    let mut sampled = 0usize;
    for random in sample_randoms() {
        let work = match (pattern, system) {
            (Pattern::LoadConversation, System::Scylla | System::RawDriver) => {
                raw.load_conversation(targets.session(random)).await
            }
            (Pattern::LoadConversation, System::ScyllaTwoReads | System::RawDriverTwoReads) => {
                raw.load_conversation_in_two_reads(targets.session(random)).await
            }
            (Pattern::RecentSessions, System::Scylla | System::RawDriver) => {
                raw.recent_sessions(targets.account(random)).await
            }
            (Pattern::ThreadNavigation, System::Scylla | System::RawDriver) => {
                raw.children(targets.parent(random)).await
            }
            (_, System::Postgres | System::PostgresParentJoin) => {
                postgres.probe(pattern, system, targets.key(pattern, random)).await.map_err(|error| error.to_string())
            }
            _ => Err(format!("{} has no {} series", system.label(), pattern.title())),
        };
        if let Ok(work) = work {
            total = total.add(work);
            sampled += 1;
        }
    }
    let per_op = |value: usize| value as f64 / sampled.max(1) as f64;
    let server_reads = if system.is_scylla() { server_reads_per_op(operation, db).await } else { None };
    ReadCost { requests: per_op(total.requests), server_reads, rows: per_op(total.rows), bytes: per_op(total.bytes) }
}

/// Runs the sample through `operation` between two readings of the node's read counters.
async fn server_reads_per_op(operation: &Operation, db: &Database) -> Option<f64> {
    let before = local_reads(db).await?;
    let mut done = 0u64;
    for random in sample_randoms() {
        if operation(random).await.is_ok() {
            done += 1;
        }
    }
    let after = local_reads(db).await?;
    Some(after.saturating_sub(before) as f64 / done.max(1) as f64)
}

/// Single-partition reads the node has served on the keyspace's tables since it started.
async fn local_reads(db: &Database) -> Option<u64> {
    let rows: Vec<(String, i64)> = db
        .query_rows(
            "SELECT table_name, count FROM system_views.local_read_latency WHERE keyspace_name = ?",
            (db.keyspace(),),
        )
        .await
        .ok()?;
    Some(rows.iter().map(|(_, count)| u64::try_from(*count).unwrap_or(0)).sum())
}

/// Client CPU per request of a ScyllaDB series against its raw-driver reference, measured in
/// alternating rounds: the node's speed drifts over a run (compaction, the JIT, the host), and a
/// series measured minutes apart from its reference would carry that drift into the ratio.
#[derive(Debug, Clone)]
pub struct CpuComparison {
    pub pattern: Pattern,
    pub system: System,
    pub reference: System,
    /// Per round: (ours, reference), in µs of CPU per request.
    pub saturated: Vec<(f64, f64)>,
    pub moderate: Vec<(f64, f64)>,
}

/// Rounds of the comparison; the report takes the median ratio.
pub const CPU_ROUNDS: usize = 3;

impl CpuComparison {
    /// The median over the rounds of ours / reference.
    pub fn median_ratio(rounds: &[(f64, f64)]) -> Option<f64> {
        let mut ratios: Vec<f64> = rounds
            .iter()
            .map(|(ours, reference)| ours / reference.max(1e-9))
            .filter(|ratio| ratio.is_finite())
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios.get(ratios.len() / 2).copied()
    }

    pub fn saturated_ratio(&self) -> Option<f64> {
        Self::median_ratio(&self.saturated)
    }

    pub fn moderate_ratio(&self) -> Option<f64> {
        Self::median_ratio(&self.moderate)
    }
}

/// Runs `ours` and `reference` alternately, at saturation and at the moderate rate, for
/// [`CPU_ROUNDS`] rounds of half a point each.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn compare_cpu(
    pattern: Pattern,
    system: System,
    reference: System,
    ours: &Operation,
    theirs: &Operation,
    requests_per_op: f64,
    clients: usize,
    config: &BenchConfig,
) -> CpuComparison {
    use crate::cpu_time::ServerCpu;
    use crate::driver::{closed_loop, open_loop};
    // Only the client's CPU is compared here.
    let server = &ServerCpu::default();
    let point = config.point / 2;
    let mut comparison = CpuComparison { pattern, system, reference, saturated: Vec::new(), moderate: Vec::new() };
    for _ in 0..CPU_ROUNDS {
        let a = closed_loop(ours.clone(), server, clients, config.warmup, point, config.seed).await;
        let b = closed_loop(theirs.clone(), server, clients, config.warmup, point, config.seed).await;
        comparison.saturated.push((a.cpu_per_request_us(requests_per_op), b.cpu_per_request_us(requests_per_op)));
        let a = open_loop(ours.clone(), server, config.moderate_rate, config.warmup, point, config.seed).await;
        let b = open_loop(theirs.clone(), server, config.moderate_rate, config.warmup, point, config.seed).await;
        comparison.moderate.push((a.cpu_per_request_us(requests_per_op), b.cpu_per_request_us(requests_per_op)));
    }
    comparison
}
