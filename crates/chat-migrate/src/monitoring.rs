//! Every metric the migration exports, and the one place each is recorded.
//!
//! The library records through the [`metrics`] facade: nothing is kept unless the process
//! installs a recorder, such as `metrics-exporter-prometheus` (the `chat-migrate` command's
//! `--metrics-addr`, or an application's own). [`METRICS`] lists them all with their labels and
//! meaning; [`describe`] hands those descriptions to the installed recorder, and the dashboard
//! and `docs/operations.md` are checked against the list.

use std::time::Duration;

use crate::phase::Phase;

/// What kind of value a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up; watch its rate.
    Counter,
    /// A level at the time of the scrape.
    Gauge,
}

/// One exported metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn counter(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Metric {
    Metric { name, kind: Kind::Counter, labels, help }
}

const fn gauge(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Metric {
    Metric { name, kind: Kind::Gauge, labels, help }
}

pub const PHASE: Metric = gauge(
    "chat_migrate_phase",
    &["phase"],
    "1 for the phase this process serves (an application) or last read (a command), 0 for the others",
);
pub const PHASE_EPOCH: Metric =
    gauge("chat_migrate_phase_epoch", &[], "The epoch of the shared phase served or last read");
pub const BREAKER_STATE: Metric =
    gauge("chat_migrate_breaker_state", &["breaker"], "A circuit breaker's state: 0 closed, 1 half-open, 2 open");
pub const BREAKER_TRANSITIONS: Metric =
    counter("chat_migrate_breaker_transitions_total", &["breaker", "to"], "Circuit breaker state changes");
pub const SCYLLA_OUTBOX_DEPTH: Metric = gauge(
    "chat_migrate_scylla_outbox_depth",
    &[],
    "Changes recorded in PostgreSQL's scylla_outbox and not yet copied to ScyllaDB",
);
pub const SCYLLA_OUTBOX_OLDEST_AGE: Metric = gauge(
    "chat_migrate_scylla_outbox_oldest_age_seconds",
    &[],
    "How long the oldest change in scylla_outbox has waited (0 when it is empty)",
);
pub const SCYLLA_OUTBOX_BACKING_OFF: Metric = gauge(
    "chat_migrate_scylla_outbox_backing_off",
    &[],
    "Changes in scylla_outbox whose copy failed, waiting out a backoff",
);
pub const PG_OUTBOX_DEPTH: Metric = gauge(
    "chat_migrate_pg_outbox_depth",
    &[],
    "Changes recorded in ScyllaDB's pg_outbox (scylla-primary) and not yet copied to PostgreSQL",
);
pub const PG_OUTBOX_DEAD_LETTERS: Metric = counter(
    "chat_migrate_pg_outbox_dead_letters_total",
    &[],
    "Changes set aside in relay_dead_letters because PostgreSQL refused their rows",
);
pub const RELAY_ENTRIES: Metric = counter(
    "chat_migrate_relay_entries_total",
    &["to", "outcome"],
    "Outbox entries a relay handled, toward `scylla` or `postgres`: copied, failed (retried after a backoff), \
     abandoned (their write failed) or dead_lettered",
);
pub const RELAY_PASS_FAILURES: Metric = counter(
    "chat_migrate_relay_pass_failures_total",
    &["to"],
    "Relay passes that failed as a whole (a database unreachable); the relay retries",
);
pub const INLINE_COPIES: Metric = counter(
    "chat_migrate_inline_copies_total",
    &["outcome"],
    "Dual-write's copies to ScyllaDB on the request's path: copied, failed, timed_out, skipped (copy breaker \
     open), caught_up and catch_up_failed (a session's waiting entries, in the background)",
);
pub const BACKFILL_SESSIONS: Metric =
    counter("chat_migrate_backfill_sessions_total", &[], "Sessions the backfill copied");
pub const BACKFILL_ROWS: Metric = counter("chat_migrate_backfill_rows_total", &[], "ScyllaDB rows the backfill wrote");
pub const BACKFILL_ROWS_PER_SECOND: Metric =
    gauge("chat_migrate_backfill_rows_per_second", &[], "The backfill's ScyllaDB rows per second since it started");
pub const BACKFILL_RANGES: Metric = gauge("chat_migrate_backfill_ranges", &[], "Ranges of this backfill's shard");
pub const BACKFILL_RANGES_DONE: Metric =
    gauge("chat_migrate_backfill_ranges_done", &[], "Ranges of this backfill's shard that are done");
pub const BACKFILL_ETA: Metric = gauge(
    "chat_migrate_backfill_eta_seconds",
    &[],
    "Time left for the backfill at its rate so far (sessions left over sessions per second)",
);
pub const BACKFILL_RATE_LIMIT: Metric = gauge(
    "chat_migrate_backfill_rate_limit_rows_per_second",
    &[],
    "The adaptive throttle's current limit (0 while it has none)",
);
pub const BACKFILL_LIVE_PROBE_P99: Metric = gauge(
    "chat_migrate_backfill_live_probe_p99_seconds",
    &[],
    "The p99 of the throttle's live read probes over its window",
);
pub const SCAN_SESSIONS: Metric =
    counter("chat_migrate_scan_sessions_total", &["scan"], "Sessions a verify or repair checked");
pub const SCAN_DIVERGENCES: Metric = counter(
    "chat_migrate_scan_divergences_total",
    &["scan", "kind"],
    "Divergences a verify or repair found, after its rechecks",
);
pub const REPAIR_ROWS: Metric = counter(
    "chat_migrate_repair_rows_total",
    &["action"],
    "Rows a repair wrote: rewritten from the truth, or removed (extra copies)",
);
pub const SHADOW_COMPARED: Metric = counter(
    "chat_migrate_shadow_compared_total",
    &["pattern", "outcome"],
    "Shadow reads compared with PostgreSQL's answer: matched, stale, divergent, unsettled",
);
pub const SHADOW_FAILED: Metric = counter(
    "chat_migrate_shadow_failed_total",
    &["pattern", "reason"],
    "Shadow reads ScyllaDB failed or did not answer in time",
);
pub const SHADOW_SKIPPED: Metric =
    counter("chat_migrate_shadow_skipped_total", &[], "Shadow reads skipped because too many were in flight");
pub const SCYLLA_READS: Metric =
    counter("chat_migrate_scylla_reads_total", &["pattern"], "Reads ScyllaDB served to the application");
pub const FALLBACKS: Metric = counter(
    "chat_migrate_fallbacks_total",
    &["pattern", "reason"],
    "Reads meant for ScyllaDB that PostgreSQL served instead, by reason",
);

/// Every metric the migration exports.
pub const METRICS: &[Metric] = &[
    PHASE,
    PHASE_EPOCH,
    BREAKER_STATE,
    BREAKER_TRANSITIONS,
    SCYLLA_OUTBOX_DEPTH,
    SCYLLA_OUTBOX_OLDEST_AGE,
    SCYLLA_OUTBOX_BACKING_OFF,
    PG_OUTBOX_DEPTH,
    PG_OUTBOX_DEAD_LETTERS,
    RELAY_ENTRIES,
    RELAY_PASS_FAILURES,
    INLINE_COPIES,
    BACKFILL_SESSIONS,
    BACKFILL_ROWS,
    BACKFILL_ROWS_PER_SECOND,
    BACKFILL_RANGES,
    BACKFILL_RANGES_DONE,
    BACKFILL_ETA,
    BACKFILL_RATE_LIMIT,
    BACKFILL_LIVE_PROBE_P99,
    SCAN_SESSIONS,
    SCAN_DIVERGENCES,
    REPAIR_ROWS,
    SHADOW_COMPARED,
    SHADOW_FAILED,
    SHADOW_SKIPPED,
    SCYLLA_READS,
    FALLBACKS,
];

/// Hands every metric's description to the installed recorder (Prometheus shows it as `# HELP`).
/// Call it once after installing one.
pub fn describe() {
    for metric in METRICS {
        match metric.kind {
            Kind::Counter => metrics::describe_counter!(metric.name, metric.help),
            Kind::Gauge => metrics::describe_gauge!(metric.name, metric.help),
        }
    }
}

/// The phase and epoch this process serves: a `MigratingStore` records them as it follows the
/// shared phase; a process without one (a relay on its own) records what it last read.
pub fn phase(current: Phase, epoch: i64) {
    for phase in Phase::ALL {
        metrics::gauge!(PHASE.name, "phase" => phase.name()).set(if phase == current { 1.0 } else { 0.0 });
    }
    metrics::gauge!(PHASE_EPOCH.name).set(epoch as f64);
}

/// A breaker's state, named and as its gauge's level (see [`BREAKER_STATE`]).
pub(crate) fn breaker_state(breaker: &'static str, level: f64) {
    metrics::gauge!(BREAKER_STATE.name, "breaker" => breaker).set(level);
}

pub(crate) fn breaker_transition(breaker: &'static str, to: &'static str, level: f64) {
    breaker_state(breaker, level);
    metrics::counter!(BREAKER_TRANSITIONS.name, "breaker" => breaker, "to" => to).increment(1);
}

/// Which way a relay copies, as its metrics' `to` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RelayTarget {
    Scylla,
    Postgres,
}

impl RelayTarget {
    fn label(self) -> &'static str {
        match self {
            RelayTarget::Scylla => "scylla",
            RelayTarget::Postgres => "postgres",
        }
    }
}

/// A relay pass's entries by outcome (see [`RELAY_ENTRIES`]).
pub(crate) fn relay_pass(to: RelayTarget, outcomes: [(&'static str, usize); 4]) {
    for (outcome, entries) in outcomes {
        if entries > 0 {
            metrics::counter!(RELAY_ENTRIES.name, "to" => to.label(), "outcome" => outcome).increment(entries as u64);
        }
    }
}

pub(crate) fn relay_pass_failed(to: RelayTarget) {
    metrics::counter!(RELAY_PASS_FAILURES.name, "to" => to.label()).increment(1);
}

pub(crate) fn scylla_outbox(depth: i64, oldest_age: Option<Duration>, backing_off: i64) {
    metrics::gauge!(SCYLLA_OUTBOX_DEPTH.name).set(depth as f64);
    metrics::gauge!(SCYLLA_OUTBOX_OLDEST_AGE.name).set(oldest_age.unwrap_or_default().as_secs_f64());
    metrics::gauge!(SCYLLA_OUTBOX_BACKING_OFF.name).set(backing_off as f64);
}

pub(crate) fn pg_outbox(depth: usize) {
    metrics::gauge!(PG_OUTBOX_DEPTH.name).set(depth as f64);
}

pub(crate) fn pg_outbox_dead_letter() {
    metrics::counter!(PG_OUTBOX_DEAD_LETTERS.name).increment(1);
}

/// One inline copy's outcome; see [`INLINE_COPIES`] for the names.
pub(crate) fn inline_copy(outcome: &'static str) {
    metrics::counter!(INLINE_COPIES.name, "outcome" => outcome).increment(1);
}

/// A backfill batch written: its sessions and rows, and where the whole stands.
pub(crate) fn backfill_batch(sessions: u64, rows: u64, rows_per_second: f64, eta: Duration) {
    metrics::counter!(BACKFILL_SESSIONS.name).increment(sessions);
    metrics::counter!(BACKFILL_ROWS.name).increment(rows);
    metrics::gauge!(BACKFILL_ROWS_PER_SECOND.name).set(rows_per_second);
    metrics::gauge!(BACKFILL_ETA.name).set(eta.as_secs_f64());
}

pub(crate) fn backfill_ranges(ranges: usize, done: usize) {
    metrics::gauge!(BACKFILL_RANGES.name).set(ranges as f64);
    metrics::gauge!(BACKFILL_RANGES_DONE.name).set(done as f64);
}

pub(crate) fn backfill_range_done() {
    metrics::gauge!(BACKFILL_RANGES_DONE.name).increment(1.0);
}

pub(crate) fn throttle(limit: Option<f64>, probe_p99: Option<Duration>) {
    metrics::gauge!(BACKFILL_RATE_LIMIT.name).set(limit.unwrap_or(0.0));
    if let Some(p99) = probe_p99 {
        metrics::gauge!(BACKFILL_LIVE_PROBE_P99.name).set(p99.as_secs_f64());
    }
}

/// `scan` is `verify` or `repair`; each divergence kind is given by its label (`differing
/// column` is exported as `differing_column`).
pub(crate) fn scanned(
    scan: &'static str,
    sessions: usize,
    divergences: impl IntoIterator<Item = (&'static str, usize)>,
) {
    metrics::counter!(SCAN_SESSIONS.name, "scan" => scan).increment(sessions as u64);
    for (kind, count) in divergences {
        if count > 0 {
            metrics::counter!(SCAN_DIVERGENCES.name, "scan" => scan, "kind" => kind.replace(' ', "_"))
                .increment(count as u64);
        }
    }
}

pub(crate) fn repaired(rewritten: usize, removed: usize) {
    metrics::counter!(REPAIR_ROWS.name, "action" => "rewritten").increment(rewritten as u64);
    metrics::counter!(REPAIR_ROWS.name, "action" => "removed").increment(removed as u64);
}

pub(crate) fn shadow_compared(pattern: &'static str, outcome: &'static str) {
    metrics::counter!(SHADOW_COMPARED.name, "pattern" => pattern, "outcome" => outcome).increment(1);
}

pub(crate) fn shadow_failed(pattern: &'static str, reason: &'static str) {
    metrics::counter!(SHADOW_FAILED.name, "pattern" => pattern, "reason" => reason).increment(1);
}

pub(crate) fn shadow_skipped() {
    metrics::counter!(SHADOW_SKIPPED.name).increment(1);
}

pub(crate) fn scylla_read(pattern: &'static str) {
    metrics::counter!(SCYLLA_READS.name, "pattern" => pattern).increment(1);
}

pub(crate) fn fallback(pattern: &'static str, reason: &'static str) {
    metrics::counter!(FALLBACKS.name, "pattern" => pattern, "reason" => reason).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_listed_once_and_named_as_prometheus_expects() {
        let mut names: Vec<&str> = METRICS.iter().map(|metric| metric.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a metric is listed twice");
        for metric in METRICS {
            assert!(metric.name.starts_with("chat_migrate_"), "{}", metric.name);
            assert!(metric.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert_eq!(metric.kind == Kind::Counter, metric.name.ends_with("_total"), "{}", metric.name);
            assert!(!metric.help.is_empty());
        }
    }
}
