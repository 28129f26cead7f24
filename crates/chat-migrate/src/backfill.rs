//! Backfill: copies the history that predates dual-write, while dual-write runs.
//!
//! The session key space is split into ranges once (the plan, kept in PostgreSQL); each range is
//! scanned by keyset (`uid > last ORDER BY uid`), a batch of whole sessions at a time, projected,
//! and written with every row's version as its timestamp, so a backfilled copy never replaces a
//! newer dual-written one. After each batch the range's checkpoint moves forward: a stopped
//! backfill resumes after the last batch it finished, repeating at most the batches in flight.
//! `--shard i/n` takes every n-th range, so several processes split the work.
//!
//! `--rate` caps the rows written per second; `--max-live-p99` also holds live reads' latency
//! under a target, slowing the backfill while it is missed (see [`crate::throttle`]).
//!
//! Asked to stop ([`BackfillOptions::stop`]), each range finishes the batch it is writing and
//! saves its checkpoint first; a range still waiting for the pace to let it write stops at once,
//! having written nothing of that batch.

use conversation_pg::typed;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conversation_pg::{PgStore, UidRange};
use conversation_store::{ConversationApi, ConversationStore, StoreError, StoreResult};
use futures::{StreamExt, TryStreamExt};

use crate::breaker::Probe;
use crate::copier::ScyllaCopier;
use crate::error::{pg_error, MigrateError, MigrateResult};
use crate::monitoring;
use crate::progress::{Progress, ProgressSink};
use crate::projection::project_snapshot;
use crate::rate::RowRate;
use crate::stop::StopSignal;
use crate::throttle::{AdaptiveThrottle, ThrottleReport};

/// Which part of the work this process does: ranges whose index is `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    fn owns(self, range_index: i32) -> bool {
        u32::try_from(range_index).is_ok_and(|index| index % self.count == self.index)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let invalid = || format!("`{text}` is not a shard: give i/n with 0 <= i < n, like 0/4 (the first of four)");
        let (index, count) = text.split_once('/').ok_or_else(invalid)?;
        let index: u32 = index.trim().parse().map_err(|_| invalid())?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        if count == 0 || index >= count {
            return Err(invalid());
        }
        Ok(Shard { index, count })
    }
}

/// How a backfill runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillOptions {
    /// Ranges the key space is split into, when the plan is first made.
    pub ranges: u32,
    pub shard: Shard,
    /// ScyllaDB rows written per second at most.
    pub rate: Option<NonZeroU32>,
    /// Live reads' p99 to hold to, slowing the backfill down while probes find it missed.
    pub max_live_p99: Option<Duration>,
    /// Ranges scanned at once.
    pub range_concurrency: usize,
    /// Sessions written at once in each range.
    pub session_concurrency: usize,
    /// Sessions read from PostgreSQL per batch.
    pub batch_sessions: i64,
    /// Forget the plan and checkpoints and copy everything again.
    pub restart: bool,
    /// Where the sessions copied are reported.
    pub progress: ProgressSink,
    /// Stops the backfill at its next checkpoints; run it again to resume.
    pub stop: StopSignal,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        BackfillOptions {
            ranges: 64,
            shard: Shard::WHOLE,
            rate: None,
            max_live_p99: None,
            range_concurrency: 4,
            session_concurrency: 16,
            batch_sessions: 64,
            restart: false,
            progress: ProgressSink::default(),
            stop: StopSignal::default(),
        }
    }
}

/// What a backfill did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BackfillReport {
    /// Ranges of this shard, and how many were already done when it started.
    pub ranges: usize,
    pub ranges_already_done: usize,
    /// Whether it continued from checkpoints of an earlier run.
    pub resumed: bool,
    pub sessions: u64,
    pub relational_rows: u64,
    pub scylla_rows: u64,
    /// Requests sent to ScyllaDB (each an unlogged batch of one partition's rows).
    pub requests: u64,
    pub elapsed: Duration,
    /// What the adaptive throttle did, when `max_live_p99` asked for it.
    pub throttle: Option<ThrottleReport>,
    /// Stopped on request before every range was done: run it again to resume.
    pub stopped: bool,
}

impl BackfillReport {
    pub fn rows_per_second(&self) -> f64 {
        self.scylla_rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One range of the plan and its checkpoint.
#[derive(Debug, Clone)]
struct PlannedRange {
    index: i32,
    lower: Option<String>,
    upper: Option<String>,
    last: Option<String>,
    sessions: i64,
    done: bool,
}

/// Makes the plan if there is none for `keyspace`, under a lock so that shards starting at once
/// agree on it, and returns it.
async fn plan(pg: &PgStore, keyspace: &str, options: &BackfillOptions) -> MigrateResult<(Vec<PlannedRange>, bool)> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await.map_err(pg_error("starting a transaction"))?;
    tx.execute_typed("SELECT pg_advisory_xact_lock(hashtext('backfill:' || $1))", typed![&keyspace])
        .await
        .map_err(pg_error("locking the backfill plan"))?;
    if options.restart {
        tx.execute_typed("DELETE FROM backfill_ranges WHERE keyspace = $1", typed![&keyspace])
            .await
            .map_err(pg_error("forgetting the backfill plan"))?;
    }
    let existing: i64 = tx
        .query_typed_one("SELECT count(*) FROM backfill_ranges WHERE keyspace = $1", typed![&keyspace])
        .await
        .map_err(pg_error("reading the backfill plan"))?
        .get(0);
    let resumed = existing > 0;
    if !resumed {
        let fractions: Vec<f64> = (1..options.ranges).map(|k| f64::from(k) / f64::from(options.ranges)).collect();
        let boundaries: Option<Vec<String>> = tx
            .query_typed_one(
                "SELECT percentile_disc($1::float8[]) WITHIN GROUP (ORDER BY uid) FROM sessions",
                typed![&fractions],
            )
            .await
            .map_err(pg_error("splitting the sessions into ranges"))?
            .get(0);
        let mut boundaries = boundaries.unwrap_or_default();
        boundaries.dedup();
        let mut lower: Option<String> = None;
        for (index, upper) in boundaries.into_iter().map(Some).chain(std::iter::once(None)).enumerate() {
            let index = i32::try_from(index).unwrap_or(i32::MAX);
            tx.execute_typed(
                "INSERT INTO backfill_ranges (keyspace, range_index, lower_uid, upper_uid) VALUES ($1, $2, $3, $4)",
                typed![&keyspace, &index, &lower, &upper],
            )
            .await
            .map_err(pg_error("saving the backfill plan"))?;
            lower = upper;
        }
    }
    let rows = tx
        .query_typed(
            "SELECT range_index, lower_uid, upper_uid, last_uid, sessions, done FROM backfill_ranges
             WHERE keyspace = $1 ORDER BY range_index",
            typed![&keyspace],
        )
        .await
        .map_err(pg_error("reading the backfill plan"))?;
    tx.commit().await.map_err(pg_error("saving the backfill plan"))?;
    let ranges = rows
        .iter()
        .map(|row| PlannedRange {
            index: row.get(0),
            lower: row.get(1),
            upper: row.get(2),
            last: row.get(3),
            sessions: row.get(4),
            done: row.get(5),
        })
        .filter(|range| options.shard.owns(range.index))
        .collect();
    Ok((ranges, resumed))
}

/// Totals shared by the range workers.
#[derive(Default)]
struct Counters {
    /// Sessions this run has to copy, as counted when it started.
    to_copy: u64,
    sessions: AtomicU64,
    relational_rows: AtomicU64,
    scylla_rows: AtomicU64,
    requests: AtomicU64,
    /// A range left work undone because a stop was asked.
    stopped: AtomicBool,
}

/// Copies every session of this shard's ranges that is not yet copied. Run it again after a
/// stop, and it continues from the checkpoints.
pub async fn backfill(pg: &PgStore, copier: &ScyllaCopier, options: &BackfillOptions) -> MigrateResult<BackfillReport> {
    if options.ranges == 0 || options.batch_sessions <= 0 {
        return Err(MigrateError::InvalidInput("--ranges and --batch must be at least 1".into()));
    }
    let shared = crate::shared_phase::read(pg).await?;
    if shared.routing.phase == crate::Phase::ScyllaPrimary || shared.writes_paused {
        return Err(MigrateError::Refused(
            "the shared phase is scylla-primary: ScyllaDB holds newer data than PostgreSQL, which a backfill \
             would copy over it"
                .into(),
        ));
    }
    let started = Instant::now();
    let keyspace = copier.database().keyspace().to_owned();
    let (ranges, resumed) = plan(pg, &keyspace, options).await?;
    let pending: Vec<PlannedRange> = ranges.iter().filter(|range| !range.done).cloned().collect();
    let remaining = remaining_sessions(pg, &pending).await?;
    options.progress.report(Progress::Started { total: remaining, unit: "sessions" });
    if resumed {
        tracing::info!(
            done = ranges.len() - pending.len(),
            of = ranges.len(),
            sessions_done = ranges.iter().map(|range| range.sessions).sum::<i64>(),
            "resuming the backfill from its checkpoints"
        );
    }
    monitoring::backfill_ranges(ranges.len(), ranges.len() - pending.len());
    let counters = Counters { to_copy: remaining, ..Counters::default() };
    let pace = Pace {
        rate: options.rate.map(RowRate::new),
        throttle: match options.max_live_p99 {
            Some(target) => {
                let probes = live_read_probes(pg, copier, shared.routing.phase).await?;
                Some(AdaptiveThrottle::start(target, options.rate, probes))
            }
            None => None,
        },
    };
    let copied = futures::stream::iter(pending)
        .map(|range| copy_range(pg, copier, &keyspace, range, options, &counters, &pace, started))
        .buffer_unordered(options.range_concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await;
    let stopped = counters.stopped.load(Ordering::Relaxed);
    options.progress.report(Progress::Finished { completed: copied.is_ok() && !stopped });
    copied?;
    Ok(BackfillReport {
        ranges: ranges.len(),
        ranges_already_done: ranges.iter().filter(|range| range.done).count(),
        resumed,
        sessions: counters.sessions.load(Ordering::Relaxed),
        relational_rows: counters.relational_rows.load(Ordering::Relaxed),
        scylla_rows: counters.scylla_rows.load(Ordering::Relaxed),
        requests: counters.requests.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        throttle: pace.throttle.as_ref().map(AdaptiveThrottle::report),
        stopped,
    })
}

/// What paces the writes: the hard cap, and the throttle that holds live latency.
struct Pace {
    rate: Option<RowRate>,
    throttle: Option<AdaptiveThrottle>,
}

impl Pace {
    async fn wait_for(&self, rows: usize) {
        if let Some(throttle) = &self.throttle {
            throttle.wait_for(rows).await;
        }
        if let Some(rate) = &self.rate {
            rate.wait_for(rows).await;
        }
    }
}

/// Reads as the application reads, for the throttle: a conversation load from PostgreSQL, and
/// from ScyllaDB too once the phase reads it (shadow reads on), of the first visible session by
/// id (the first range's first batch copies it early; until then ScyllaDB answers not found,
/// which is still a read). An answer, found or not, is a reading. The phase is the one at the
/// start: a backfill is not expected to outlast a phase change.
async fn live_read_probes(pg: &PgStore, copier: &ScyllaCopier, phase: crate::Phase) -> MigrateResult<Vec<Probe>> {
    let client = pg.client().await?;
    let sample = client
        .query_typed_opt("SELECT account_uid, uid FROM sessions WHERE deleted_at IS NULL ORDER BY uid LIMIT 1", &[])
        .await
        .map_err(pg_error("choosing a session to probe"))?;
    let (account_uid, session_uid): (String, String) = match sample {
        Some(row) => (row.get(0), row.get(1)),
        None => ("probe".into(), "probe".into()),
    };
    fn answered<T>(result: StoreResult<T>) -> bool {
        matches!(result, Ok(_) | Err(StoreError::NotFound { .. }))
    }
    let scylla =
        ConversationStore::new(copier.database().clone()).with_steps_by_session(copier.layout().steps_by_session);
    let postgres = pg.clone();
    let ids = Arc::new((account_uid, session_uid));
    let on_postgres: Probe = {
        let ids = ids.clone();
        Arc::new(move || {
            let (postgres, ids) = (postgres.clone(), ids.clone());
            Box::pin(async move { answered(postgres.load_conversation(&ids.0, &ids.1).await) })
        })
    };
    let on_scylla: Probe = Arc::new(move || {
        let (scylla, ids) = (scylla.clone(), ids.clone());
        Box::pin(async move { answered(scylla.load_conversation(&ids.0, &ids.1).await) })
    });
    let reads_scylla = matches!(phase, crate::Phase::Shadow | crate::Phase::ScyllaReads);
    Ok(if reads_scylla { vec![on_postgres, on_scylla] } else { vec![on_postgres] })
}

async fn remaining_sessions(pg: &PgStore, pending: &[PlannedRange]) -> MigrateResult<u64> {
    let client = pg.client().await?;
    let mut total = 0;
    for range in pending {
        let after = range.last.as_ref().or(range.lower.as_ref());
        let count: i64 = client
            .query_typed_one(
                "SELECT count(*) FROM sessions WHERE ($1::text IS NULL OR uid > $1) AND ($2::text IS NULL OR uid <= $2)", typed![&after, &range.upper])
            .await
            .map_err(pg_error("counting sessions to copy"))?
            .get(0);
        total += u64::try_from(count).unwrap_or(0);
    }
    Ok(total)
}

#[allow(clippy::too_many_arguments)]
async fn copy_range(
    pg: &PgStore,
    copier: &ScyllaCopier,
    keyspace: &str,
    range: PlannedRange,
    options: &BackfillOptions,
    counters: &Counters,
    pace: &Pace,
    started: Instant,
) -> MigrateResult<()> {
    let mut after = range.last.clone().or(range.lower.clone());
    loop {
        if options.stop.is_stopped() {
            counters.stopped.store(true, Ordering::Relaxed);
            return Ok(());
        }
        let batch = pg
            .snapshot_range(&UidRange { lower: after.clone(), upper: range.upper.clone() }, options.batch_sessions)
            .await?;
        let Some(last) = batch.last().map(|snapshot| snapshot.session.uid.clone()) else {
            let client = pg.client().await?;
            client
                .execute_typed(
                    "UPDATE backfill_ranges SET done = true, updated_at = clock_timestamp()
                     WHERE keyspace = $1 AND range_index = $2",
                    typed![&keyspace, &range.index],
                )
                .await
                .map_err(pg_error("marking a range done"))?;
            monitoring::backfill_range_done();
            return Ok(());
        };
        let copies: Vec<_> = batch.iter().map(|snapshot| project_snapshot(snapshot, copier.layout())).collect();
        let scylla_rows: usize = copies.iter().map(|copy| copy.scylla_rows()).sum();
        let relational_rows: usize = batch.iter().map(|snapshot| snapshot.relational_rows()).sum();
        tokio::select! {
            _ = pace.wait_for(scylla_rows) => {}
            // Nothing of this batch is written yet: the checkpoint stays before it.
            _ = options.stop.stopped() => {
                counters.stopped.store(true, Ordering::Relaxed);
                return Ok(());
            }
        }
        let requests: Vec<usize> = futures::stream::iter(copies)
            .map(|copy| async move { copier.write_session_copy(&copy).await })
            .buffer_unordered(options.session_concurrency.max(1))
            .try_collect()
            .await?;
        let sessions = i64::try_from(batch.len()).unwrap_or(i64::MAX);
        let rows = i64::try_from(scylla_rows).unwrap_or(i64::MAX);
        let client = pg.client().await?;
        client
            .execute_typed(
                "UPDATE backfill_ranges SET last_uid = $3, sessions = sessions + $4, rows = rows + $5,
                     updated_at = clock_timestamp()
                 WHERE keyspace = $1 AND range_index = $2",
                typed![&keyspace, &range.index, &last, &sessions, &rows],
            )
            .await
            .map_err(pg_error("saving the range's checkpoint"))?;
        let copied = counters.sessions.fetch_add(batch.len() as u64, Ordering::Relaxed) + batch.len() as u64;
        counters.relational_rows.fetch_add(relational_rows as u64, Ordering::Relaxed);
        let total_rows = counters.scylla_rows.fetch_add(scylla_rows as u64, Ordering::Relaxed) + scylla_rows as u64;
        counters.requests.fetch_add(requests.iter().sum::<usize>() as u64, Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        let rows_per_second = total_rows as f64 / elapsed;
        // Sessions written since the count may outnumber it: the estimate then stops at zero.
        let eta = Duration::from_secs_f64(counters.to_copy.saturating_sub(copied) as f64 * elapsed / copied as f64);
        monitoring::backfill_batch(batch.len() as u64, scylla_rows as u64, rows_per_second, eta);
        options
            .progress
            .report(Progress::Advanced { done: batch.len() as u64, rows_per_second: Some(rows_per_second) });
        after = Some(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_split_the_ranges() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "1/0", "x/2", "1", "-1/2", ""] {
            let error = bad.parse::<Shard>().unwrap_err();
            assert!(error.contains("0/4"), "{bad}: {error}");
        }
        let shards = [Shard { index: 0, count: 3 }, Shard { index: 1, count: 3 }, Shard { index: 2, count: 3 }];
        for range in 0..10 {
            assert_eq!(shards.iter().filter(|shard| shard.owns(range)).count(), 1, "range {range}");
        }
    }
}
