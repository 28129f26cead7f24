//! `chat-migrate rehearse`: the whole migration on the benchmark's data set, under a live load
//! of every kind of write, on the real databases, with a report that says what held.
//!
//! Two application instances follow the shared phase, which moves as an operator would move it
//! (`chat-migrate phase set`): `postgres` → `dual-write`, then with the backfill and a verify →
//! `shadow` → `scylla-reads` at 10%, 50% and 100% → the node frozen (SIGSTOP) → a verify →
//! `scylla-primary` with the relay toward PostgreSQL → the node frozen again → back to
//! `scylla-reads` → back through `shadow` to `dual-write`. The load stops, the queues drain, and
//! every acknowledged write is looked up in both databases by its content (see [`ledger`]).
//! Everything runs with the default backoff, breaker and timeouts.

pub mod ledger;
mod load;
mod plot;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_dataset::Scale;
use conversation_pg::{PgConfig, PgStore};
use conversation_store::ConversationStore;
use scylla_table::{ConnectionConfig, Database};

pub use ledger::{Ledger, Verdict, VerdictRow, Verdicts, WriteKind};
pub use load::{LoadRates, Op, Sample};
pub use plot::register_font;

use crate::storage::{measure_storage, Storage};
use chat_migrate::migrating::{MigratingOptions, MigratingStore, PhaseFollower, ReadSideStatus};
use chat_migrate::phase::{Phase, Routing};
use chat_migrate::shared_phase::{self, SetOptions};
use chat_migrate::verify::{read_copies, verifying_tables, SessionAddress};
use chat_migrate::{
    backfill, ensure_scylla_schema, scan, BackfillOptions, BackfillReport, DualWriteStore, PostgresRelay, RelayConfig,
    ScyllaRelay,
};
use chat_migrate::{MigrateError, MigrateResult};
use chat_migrate::{ScanOptions, ScyllaCopier, Selection};
use local_cassandra::LocalNode;

/// The keyspace and PostgreSQL schema `chat-migrate rehearse` works in; both are made anew each run.
pub const REHEARSAL_NAME: &str = "rehearsal";

/// The steps in which the node is frozen begin with this.
pub const FROZEN_STEP: &str = "node frozen";

/// The step of dual-write without a backfill: the throttled backfill's baseline.
pub const DUAL_WRITE_STEP: &str = "dual-write";
/// The step of the backfill run without a throttle, and of the one that holds live reads' p99.
pub const UNTHROTTLED_STEP: &str = "dual-write + backfill, unthrottled";
pub const THROTTLED_STEP: &str = "dual-write + backfill, throttled";

/// Application instances, each following the shared phase.
const INSTANCES: usize = 2;

/// What to rehearse with.
pub struct RehearsalConfig {
    /// The keyspace and PostgreSQL schema to work in (dropped first, kept after for inspection).
    pub name: String,
    pub scale: Scale,
    pub seed: u64,
    pub rates: LoadRates,
    /// How long each routing step runs under load.
    pub step: Duration,
    /// How long the node stays frozen, each time.
    pub outage: Duration,
    /// The live reads' p99 the throttled backfill holds to; when `None`, twice that of the
    /// dual-write step before the backfills.
    pub max_live_p99: Option<Duration>,
    pub postgres_url: String,
    pub scylla: ConnectionConfig,
    /// The local node to freeze and measure; without it the outage steps are skipped and said so.
    pub node: Option<LocalNode>,
    pub out_dir: PathBuf,
}

/// One step of the timeline.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub start: Duration,
    pub end: Duration,
}

/// The fleet's read side once a second (every instance's counts added up), for the timeline.
#[derive(Debug, Clone)]
pub struct Tick {
    pub at: Duration,
    pub status: ReadSideStatus,
}

/// A verify while (or after) the load runs: divergences found, and those still there when the
/// divergent sessions are read again (a session being written can differ for a moment).
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyResult {
    pub sessions: usize,
    pub first_pass: usize,
    pub settled: usize,
}

/// A freeze of the node: in which phase, and for how long.
#[derive(Debug, Clone)]
pub struct Outage {
    pub phase: Phase,
    pub step: String,
    pub length: Duration,
}

pub struct RehearsalOutcome {
    pub config_summary: String,
    pub steps: Vec<Step>,
    pub samples: Vec<Sample>,
    pub ticks: Vec<Tick>,
    /// The backfill the migration went on with, throttled to hold live reads' p99.
    pub backfill: BackfillReport,
    /// The same backfill before it, unthrottled, on the same data.
    pub unthrottled_backfill: BackfillReport,
    /// Live reads' p99 in the dual-write step before the backfills (the throttle's target is
    /// twice that, unless told otherwise).
    pub live_p99_before: Duration,
    pub verify_after_backfill: VerifyResult,
    pub verify_before_primary: VerifyResult,
    pub final_verify: VerifyResult,
    pub outages: Vec<Outage>,
    pub outage_note: Option<String>,
    /// Phase changes that rolled back.
    pub rollbacks: usize,
    /// Every acknowledged write, judged in both databases.
    pub verdicts: Verdicts,
    /// Writes whose outcome stayed unknown (not judged; their values are accepted).
    pub unknown_writes: usize,
    /// Writes refused at their first try, with the error: none is expected, and one can be the
    /// sign of a loss (a session not found).
    pub refused_writes: Vec<String>,
    pub repaired_sessions: usize,
    pub storage: Storage,
    pub total_time: Duration,
    pub report_path: PathBuf,
    pub plot_path: PathBuf,
}

/// Runs the rehearsal and writes its report.
pub async fn rehearse(config: RehearsalConfig) -> MigrateResult<RehearsalOutcome> {
    let started = Instant::now();
    let name = config.name.as_str();
    println!(
        "Preparing: data set `{}` ({} sessions) into PostgreSQL schema and keyspace `{name}`",
        config.scale.name, config.scale.sessions
    );
    let pg = PgStore::connect(&PgConfig::new(config.postgres_url.clone(), name).with_pool_size(32)).await?;
    pg.drop_schema().await?;
    let seeded = crate::seed::seed(&pg, &config.scale, config.seed, true).await?;
    let mut scylla_config = config.scylla.clone();
    scylla_config.keyspace = name.to_owned();
    let db = Database::connect(&scylla_config).await?;
    db.drop_keyspace(name).await?;
    ensure_scylla_schema(&db, Some(&scylla_config.replication)).await?;
    let copier = ScyllaCopier::new(db.clone());
    let relay = ScyllaRelay::new(pg.clone(), copier.clone(), RelayConfig::default());
    let scylla = ConversationStore::new(db.clone());
    let to_postgres = PostgresRelay::new(scylla.clone(), pg.clone());
    let mut fleet = Vec::new();
    let mut followers: Vec<PhaseFollower> = Vec::new();
    for _ in 0..INSTANCES {
        let (store, follower) =
            MigratingStore::following(DualWriteStore::new(relay.clone()), scylla.clone(), MigratingOptions::default())
                .await?;
        fleet.push(store);
        followers.push(follower);
    }
    let phase = Mover { pg: &pg, keyspace: name, to_postgres: &to_postgres };

    let targets = Arc::new(load::Targets::of(&config.scale, config.seed));
    let ledger = Arc::new(Ledger::default());
    let load = load::Load::start(fleet.clone(), targets, config.rates, ledger.clone());
    let ticks = Arc::new(std::sync::Mutex::new(Vec::new()));
    let monitor = {
        let (fleet, ticks, origin) = (fleet.clone(), ticks.clone(), Instant::now() - load.elapsed());
        tokio::spawn(async move {
            let mut every_second = tokio::time::interval(Duration::from_secs(1));
            loop {
                every_second.tick().await;
                let tick = Tick { at: origin.elapsed(), status: fleet_status(&fleet) };
                ticks.lock().unwrap_or_else(|poison| poison.into_inner()).push(tick);
            }
        })
    };
    let mut steps: Vec<Step> = Vec::new();

    step("postgres", &load, &mut steps);
    tokio::time::sleep(config.step).await;

    // Dual-write alone first: the backfill's cost to live reads is measured against this step,
    // not against PostgreSQL alone, whose reads dual-write's own writes already slow down.
    step(DUAL_WRITE_STEP, &load, &mut steps);
    phase.set(Routing::new(Phase::DualWrite)).await?;
    let background_relay = relay.clone().spawn();
    let background_to_postgres = to_postgres.clone().spawn();
    tokio::time::sleep(config.step).await;
    let before = steps.last().map_or(Duration::ZERO, |step| step.start);
    let live_p99_before = p99(load.read_latencies(before, load.elapsed()));
    let target = config.max_live_p99.unwrap_or((live_p99_before * 2).max(Duration::from_millis(1)));

    // The same backfill twice, on the same data (copies at their versions write the same cells
    // again): unthrottled, for its speed and what it costs live reads, then throttled.
    step(UNTHROTTLED_STEP, &load, &mut steps);
    let unthrottled = backfill(&pg, &copier, &BackfillOptions { restart: true, ..BackfillOptions::default() }).await?;
    step(THROTTLED_STEP, &load, &mut steps);
    let backfill_options = BackfillOptions { restart: true, max_live_p99: Some(target), ..BackfillOptions::default() };
    let backfilled = backfill(&pg, &copier, &backfill_options).await?;
    println!(
        "          backfill: unthrottled {:.0} rows/s; holding live reads' p99 to {:.1} ms (dual-write's alone: \
         {:.1} ms): {:.0} rows/s",
        unthrottled.rows_per_second(),
        target.as_secs_f64() * 1e3,
        live_p99_before.as_secs_f64() * 1e3,
        backfilled.rows_per_second()
    );
    step("dual-write, verify", &load, &mut steps);
    let before_drain = ledger.writes_so_far();
    wait_for_outbox(&pg, Duration::from_secs(60)).await?;
    // Judged before any repair: a verify repairs what it finds, and would hide a loss.
    check(&ledger, "after the backfill", before_drain, Databases::Both, &pg, &copier).await?;
    let verify_after_backfill = verify_all(&pg, &copier).await?;
    println!(
        "          backfill {} rows in {:.1} s; verify --all: {} divergent sessions, {} after repairing them",
        backfilled.scylla_rows,
        backfilled.elapsed.as_secs_f64(),
        verify_after_backfill.first_pass,
        verify_after_backfill.settled
    );

    for (name, routing) in [
        ("shadow 100%", Routing::new(Phase::Shadow)),
        ("scylla-reads 10%", Routing::new(Phase::ScyllaReads).with_scylla_read_percent(10)),
        ("scylla-reads 50%", Routing::new(Phase::ScyllaReads).with_scylla_read_percent(50)),
        ("scylla-reads 100%", Routing::new(Phase::ScyllaReads)),
    ] {
        step(name, &load, &mut steps);
        phase.set(routing).await?;
        tokio::time::sleep(config.step).await;
    }

    let mut outages = Vec::new();
    let outage_note = match &config.node {
        Some(node) => {
            outages.push(freeze(node, Phase::ScyllaReads, config.outage, &load, &mut steps).await?);
            step("recovery", &load, &mut steps);
            let before_drain = ledger.writes_so_far();
            wait_for(Duration::from_secs(60), || async {
                let closed = fleet.iter().all(|store| store.status().breaker == chat_migrate::BreakerState::Closed);
                Ok(closed && pg.outbox_lag().await?.depth == 0)
            })
            .await?;
            check(&ledger, "after the outage in scylla-reads", before_drain, Databases::Both, &pg, &copier).await?;
            None
        }
        None => Some(
            "skipped: no local node of `cargo xtask db up` to freeze (SCYLLA_URI is set, or --node-dir names none)"
                .to_owned(),
        ),
    };

    step("verify, then scylla-primary", &load, &mut steps);
    let verify_before_primary = verify_all(&pg, &copier).await?;
    println!(
        "          verify --all: {} divergent sessions, {} after repairing them",
        verify_before_primary.first_pass, verify_before_primary.settled
    );
    let before_switch = ledger.writes_so_far();
    phase.set(Routing::new(Phase::ScyllaPrimary)).await?;
    check(&ledger, "entering scylla-primary", before_switch, Databases::Both, &pg, &copier).await?;
    tokio::time::sleep(config.step).await;
    if let Some(node) = &config.node {
        outages.push(freeze(node, Phase::ScyllaPrimary, config.outage, &load, &mut steps).await?);
        step("recovery", &load, &mut steps);
        tokio::time::sleep(config.step).await;
    }

    let mut rollbacks = 0;
    for (name, routing) in [
        ("back to scylla-reads", Routing::new(Phase::ScyllaReads)),
        ("back to shadow", Routing::new(Phase::Shadow)),
        ("back to dual-write", Routing::new(Phase::DualWrite)),
    ] {
        step(name, &load, &mut steps);
        let before_switch = ledger.writes_so_far();
        let left_primary = phase.current().await? == Phase::ScyllaPrimary;
        phase.set(routing).await?;
        rollbacks += 1;
        // Leaving scylla-primary drains the queue toward PostgreSQL, so both databases hold every
        // write acknowledged before; further back, ScyllaDB's copies may still be on their way.
        let databases = if left_primary { Databases::Both } else { Databases::Postgres };
        check(&ledger, &format!("going {name}"), before_switch, databases, &pg, &copier).await?;
        tokio::time::sleep(config.step).await;
    }

    let end = load.elapsed();
    if let Some(last) = steps.last_mut() {
        last.end = end;
    }
    let samples = load.stop().await;
    monitor.abort();
    for store in &fleet {
        store.shadow_idle().await;
    }
    for follower in followers {
        follower.stop().await?;
    }
    println!("{:>6.1} s  load stopped; draining both queues and verifying", end.as_secs_f64());
    background_to_postgres.stop().await;
    background_relay.stop().await;
    to_postgres.drain(Some(Duration::from_secs(120))).await?;
    relay.drain(Some(Duration::from_secs(120))).await?;
    // Judged before the repair queue is worked off: a repair would hide what the migration lost.
    let upto = ledger.writes_so_far();
    check(&ledger, "the end", upto, Databases::Both, &pg, &copier).await?;
    let verdicts = ledger.verdicts();
    let queued: std::collections::BTreeSet<String> = fleet.iter().flat_map(MigratingStore::take_repair_queue).collect();
    let repaired_sessions = queued.len();
    if !queued.is_empty() {
        scan(&pg, &copier, &ScanOptions::new(Selection::Sessions(queued.into_iter().collect())), true).await?;
    }
    let final_verify = settled_verify(&pg, &copier).await?;
    let storage = measure_storage(&pg, &db, config.node.as_ref()).await;

    let ticks = std::mem::take(&mut *ticks.lock().unwrap_or_else(|poison| poison.into_inner()));
    std::fs::create_dir_all(&config.out_dir)
        .map_err(|error| MigrateError::InvalidInput(format!("cannot create {}: {error}", config.out_dir.display())))?;
    let mut outcome = RehearsalOutcome {
        config_summary: format!(
            "data set `{}` (seed {}): {} sessions, {} turns, {} steps; load {:.0} writes/s from {} writers over {INSTANCES} \
             instances, {:.0} loads/s, {:.0} recent-sessions reads/s, {:.0} children/s; {:.0} s per step; outages {:.0} s",
            config.scale.name,
            config.seed,
            seeded.sessions,
            seeded.turns,
            seeded.steps,
            config.rates.writes,
            load::WRITERS,
            config.rates.loads,
            config.rates.recent_sessions,
            config.rates.children,
            config.step.as_secs_f64(),
            config.outage.as_secs_f64()
        ),
        steps,
        samples,
        ticks,
        backfill: backfilled,
        unthrottled_backfill: unthrottled,
        live_p99_before,
        verify_after_backfill,
        verify_before_primary,
        final_verify,
        outages,
        outage_note,
        rollbacks,
        unknown_writes: ledger.unknown_count(),
        refused_writes: ledger.refused(),
        verdicts,
        repaired_sessions,
        storage,
        total_time: Duration::ZERO,
        report_path: config.out_dir.join("report.md"),
        plot_path: config.out_dir.join("timeline.png"),
    };
    plot::timeline(&outcome.plot_path, &outcome).map_err(MigrateError::InvalidInput)?;
    outcome.total_time = started.elapsed();
    std::fs::write(&outcome.report_path, report::markdown(&outcome)).map_err(|error| {
        MigrateError::InvalidInput(format!("cannot write {}: {error}", outcome.report_path.display()))
    })?;
    Ok(outcome)
}

/// Moves the shared phase as `chat-migrate phase set` does, waiting out a refusal that passes
/// (a queue that has not caught up yet).
struct Mover<'a> {
    pg: &'a PgStore,
    keyspace: &'a str,
    to_postgres: &'a PostgresRelay,
}

impl Mover<'_> {
    async fn current(&self) -> MigrateResult<Phase> {
        Ok(shared_phase::read(self.pg).await?.routing.phase)
    }

    async fn set(&self, routing: Routing) -> MigrateResult<()> {
        let started = Instant::now();
        loop {
            match shared_phase::set(self.pg, self.keyspace, routing, Some(self.to_postgres), SetOptions::default())
                .await
            {
                Ok(change) if change.lagging.is_empty() => return Ok(()),
                Ok(change) => {
                    return Err(MigrateError::InvalidInput(format!(
                        "instances did not follow the phase: {}",
                        shared_phase::describe(&change.lagging)
                    )))
                }
                Err(MigrateError::Refused(why)) if started.elapsed() < Duration::from_secs(120) => {
                    tracing::info!(%why, "phase change refused for now; trying again");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// Freezes the node for `outage`, as one step.
async fn freeze(
    node: &LocalNode,
    phase: Phase,
    outage: Duration,
    load: &load::Load,
    steps: &mut Vec<Step>,
) -> MigrateResult<Outage> {
    let name = format!("{FROZEN_STEP} in {phase}");
    step(&name, load, steps);
    let frozen = Instant::now();
    let paused = node.pause().map_err(MigrateError::InvalidInput)?;
    tokio::time::sleep(outage).await;
    drop(paused);
    Ok(Outage { phase, step: name, length: frozen.elapsed() })
}

/// The fleet's read side: every instance's counters added up; the breaker of the first one
/// that is not closed.
fn fleet_status(fleet: &[MigratingStore]) -> ReadSideStatus {
    let mut statuses = fleet.iter().map(MigratingStore::status);
    let mut all = statuses.next().expect("a fleet has an instance");
    for status in statuses {
        all.reads.merge(&status.reads);
        all.breaker_opened += status.breaker_opened;
        all.breaker_closed += status.breaker_closed;
        all.repair_queue += status.repair_queue;
        if status.breaker != chat_migrate::BreakerState::Closed {
            all.breaker = status.breaker;
        }
    }
    all
}

/// Which databases must hold every write acknowledged before a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Databases {
    Both,
    Postgres,
}

/// A checkpoint: reads every session the load wrote from both databases and judges the first
/// `upto` writes (those acknowledged before the phase change that drained the queues).
async fn check(
    ledger: &Ledger,
    label: &str,
    upto: usize,
    databases: Databases,
    pg: &PgStore,
    copier: &ScyllaCopier,
) -> MigrateResult<()> {
    let sessions = ledger.sessions();
    let uids: Vec<String> = sessions.keys().cloned().collect();
    let mut postgres = ledger::Observed::default();
    let mut scylla = ledger::Observed::default();
    let tables = verifying_tables(copier.tables());
    for chunk in uids.chunks(200) {
        let snapshots = pg.snapshot_sessions(chunk).await?;
        for uid in chunk {
            postgres.add_postgres(uid, snapshots.iter().find(|snapshot| snapshot.session.uid == *uid));
            let address = &sessions[uid];
            let at =
                SessionAddress { session_uid: uid, account_uid: &address.account_uid, created_at: address.created_at };
            let found = read_copies(&tables, at, &ledger.turns_of(uid), copier.layout()).await?;
            scylla.add_scylla(uid, &found);
        }
    }
    ledger.check(label, upto, &postgres, (databases == Databases::Both).then_some(&scylla));
    println!("          checked the {upto} writes so far {label}");
    Ok(())
}

pub use report::{ms as format_ms, summary};

/// The nearest-rank 99th percentile.
fn p99(mut latencies: Vec<Duration>) -> Duration {
    Duration::from_secs_f64(report::percentile_ms(&mut latencies, 99.0) / 1e3)
}

/// Ends the current step and begins the next.
fn step(name: &str, load: &load::Load, steps: &mut Vec<Step>) {
    let now = load.elapsed();
    if let Some(last) = steps.last_mut() {
        last.end = now;
    }
    println!("{:>6.1} s  {name}", now.as_secs_f64());
    steps.push(Step { name: name.to_owned(), start: now, end: now });
}

async fn wait_for<F, Fut>(deadline: Duration, mut done: F) -> MigrateResult<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = MigrateResult<bool>>,
{
    let started = Instant::now();
    while !done().await? {
        if started.elapsed() > deadline {
            return Err(chat_migrate::MigrateError::InvalidInput(format!(
                "the rehearsal waited {} s for the migration to settle; see the logs (RUST_LOG=info)",
                deadline.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Waits until the outbox toward ScyllaDB is empty at some moment (writes keep adding to it).
async fn wait_for_outbox(pg: &PgStore, deadline: Duration) -> MigrateResult<()> {
    wait_for(deadline, || async { Ok(pg.outbox_lag().await?.depth == 0) }).await
}

/// `verify --all` as an operator runs it before moving reads on: what it finds is repaired and
/// the verify run again, up to three times, until one comes out clean. The clean run is what
/// `phase set` asks for.
async fn verify_all(pg: &PgStore, copier: &ScyllaCopier) -> MigrateResult<VerifyResult> {
    let mut result = VerifyResult::default();
    for round in 0..3 {
        let report = scan(pg, copier, &ScanOptions::new(Selection::All), false).await?;
        if round == 0 {
            result.sessions = report.sessions;
            result.first_pass = report.divergent_sessions.len();
        }
        result.settled = report.divergent_sessions.len();
        if report.divergent_sessions.is_empty() {
            break;
        }
        scan(pg, copier, &ScanOptions::new(Selection::Sessions(report.divergent_sessions)), true).await?;
    }
    Ok(result)
}

/// Verifies every session; sessions that differ are read again up to three times, a second
/// apart, so a session caught mid-write is not counted as divergent.
async fn settled_verify(pg: &PgStore, copier: &ScyllaCopier) -> MigrateResult<VerifyResult> {
    let report = scan(pg, copier, &ScanOptions::new(Selection::All), false).await?;
    let mut result =
        VerifyResult { sessions: report.sessions, first_pass: report.divergent_sessions.len(), settled: 0 };
    let mut divergent = report.divergent_sessions;
    for _ in 0..3 {
        if divergent.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        divergent =
            scan(pg, copier, &ScanOptions::new(Selection::Sessions(divergent)), false).await?.divergent_sessions;
    }
    result.settled = divergent.len();
    Ok(result)
}
