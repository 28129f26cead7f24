//! `chat-migrate rehearse`: the whole migration on the benchmark's data set, under a live mixed
//! load, on the real databases, with a report that says what held.
//!
//! The steps: `postgres` → `dual-write` with the backfill running and a verify after it →
//! `shadow` at 100% → `scylla-reads` at 10%, 50% and 100% → the node frozen (SIGSTOP) while
//! reads fall back → the relay drains → `scylla-primary`, with PostgreSQL kept up to date → a
//! final verify once the load stops.

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

pub use load::{LoadRates, Op, Sample};
pub use plot::register_font;

use crate::breaker::BreakerConfig;
use crate::error::MigrateResult;
use crate::local_node::LocalNode;
use crate::migrating::{MigratingOptions, MigratingStore, ReadSideStatus};
use crate::phase::{Phase, Routing};
use crate::storage::{measure_storage, Storage};
use crate::{backfill, ensure_scylla_schema, scan, BackfillOptions, DualWriteStore, PostgresRelay, Relay, RelayConfig};
use crate::{ScanOptions, ScyllaCopier, Selection};

/// The keyspace and PostgreSQL schema `chat-migrate rehearse` works in; both are made anew each run.
pub const REHEARSAL_NAME: &str = "rehearsal";

/// The step in which the node is frozen.
pub const FROZEN_STEP: &str = "node frozen";

/// What to rehearse with.
pub struct RehearsalConfig {
    /// The keyspace and PostgreSQL schema to work in (dropped first, kept after for inspection).
    pub name: String,
    pub scale: Scale,
    pub seed: u64,
    pub rates: LoadRates,
    /// How long each routing step runs under load.
    pub step: Duration,
    /// How long the node stays frozen.
    pub outage: Duration,
    pub postgres_url: String,
    pub scylla: ConnectionConfig,
    /// The local node to freeze and measure; without it the outage step is skipped and said so.
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

/// The read side's counters once a second, for the timeline.
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

pub struct RehearsalOutcome {
    pub config_summary: String,
    pub steps: Vec<Step>,
    pub samples: Vec<Sample>,
    pub ticks: Vec<Tick>,
    pub backfill_rows: u64,
    pub backfill_time: Duration,
    pub verify_after_backfill: VerifyResult,
    pub final_verify: VerifyResult,
    pub outage: Option<Duration>,
    pub outage_note: Option<String>,
    /// New turns acknowledged to the load, and the turns each database holds beyond the data set.
    pub acknowledged_turns: u64,
    pub postgres_new_turns: i64,
    pub scylla_new_turns: i64,
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
    let mut scylla_config = config.scylla.clone().request_timeout(Duration::from_secs(2));
    scylla_config.keyspace = name.to_owned();
    let db = Database::connect(&scylla_config).await?;
    db.drop_keyspace(name).await?;
    ensure_scylla_schema(&db, Some(&scylla_config.replication)).await?;
    let copier = ScyllaCopier::new(db.clone());
    let relay_config = RelayConfig {
        first_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        ..RelayConfig::default()
    };
    let relay = Relay::new(pg.clone(), copier.clone(), relay_config);
    let scylla = ConversationStore::new(db.clone());
    let options = MigratingOptions {
        breaker: BreakerConfig { open_for: Duration::from_secs(2), ..BreakerConfig::default() },
        ..MigratingOptions::default()
    };
    let store = MigratingStore::new(
        DualWriteStore::new(relay.clone()),
        scylla.clone(),
        Routing::new(Phase::Postgres),
        options,
    )?;

    let targets = Arc::new(load::Targets::of(&config.scale, config.seed));
    let load = load::Load::start(store.clone(), targets, config.rates);
    let ticks = Arc::new(std::sync::Mutex::new(Vec::new()));
    let monitor = {
        let (store, ticks, origin) = (store.clone(), ticks.clone(), Instant::now() - load.elapsed());
        tokio::spawn(async move {
            let mut every_second = tokio::time::interval(Duration::from_secs(1));
            loop {
                every_second.tick().await;
                let tick = Tick { at: origin.elapsed(), status: store.status() };
                ticks.lock().unwrap_or_else(|poison| poison.into_inner()).push(tick);
            }
        })
    };
    let mut steps: Vec<Step> = Vec::new();

    step("postgres", &load, &mut steps);
    tokio::time::sleep(config.step).await;

    step("dual-write + backfill", &load, &mut steps);
    store.set_routing(Routing::new(Phase::DualWrite))?;
    let background_relay = relay.clone().spawn();
    let backfill_options = BackfillOptions { restart: true, ..BackfillOptions::default() };
    let backfilled = backfill(&pg, &copier, &backfill_options).await?;
    wait_for_outbox(&pg, Duration::from_secs(60)).await?;
    let verify_after_backfill = settled_verify(&pg, &copier).await?;
    println!(
        "          backfill {} rows in {:.1} s; verify: {} divergent sessions, {} after a recheck",
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
        store.set_routing(routing)?;
        tokio::time::sleep(config.step).await;
    }

    let (outage, outage_note) = match &config.node {
        Some(node) => {
            step(FROZEN_STEP, &load, &mut steps);
            let frozen = Instant::now();
            let paused = node.pause().map_err(crate::MigrateError::InvalidInput)?;
            tokio::time::sleep(config.outage).await;
            drop(paused);
            let outage = frozen.elapsed();
            step("recovery", &load, &mut steps);
            wait_for(Duration::from_secs(60), || async {
                Ok(store.status().breaker == crate::BreakerState::Closed && pg.outbox_lag().await?.depth == 0)
            })
            .await?;
            (Some(outage), None)
        }
        None => (
            None,
            Some(
                "skipped: no local node of `cargo xtask db up` to freeze (SCYLLA_URI is set, or --node-dir names none)"
                    .to_owned(),
            ),
        ),
    };

    step("scylla-primary", &load, &mut steps);
    wait_for_outbox(&pg, Duration::from_secs(60)).await?;
    store.set_routing(Routing::new(Phase::ScyllaPrimary))?;
    let to_postgres = PostgresRelay::new(scylla.clone(), pg.clone());
    let background_to_postgres = to_postgres.clone().spawn();
    tokio::time::sleep(config.step).await;

    let end = load.elapsed();
    if let Some(last) = steps.last_mut() {
        last.end = end;
    }
    let (samples, acknowledged_turns) = load.stop().await;
    monitor.abort();
    store.shadow_idle().await;
    background_relay.stop().await;
    background_to_postgres.stop().await;
    println!("{:>6.1} s  load stopped; draining toward PostgreSQL and verifying", end.as_secs_f64());
    to_postgres.drain(Some(Duration::from_secs(120))).await?;
    let queued = store.take_repair_queue();
    let repaired_sessions = queued.len();
    if !queued.is_empty() {
        scan(&pg, &copier, &ScanOptions::new(Selection::Sessions(queued)), true).await?;
    }
    let final_verify = settled_verify(&pg, &copier).await?;

    let (_, pg_turns, _) = pg.row_counts().await?;
    let scylla_turns = count_rows(&db, "turns_by_session").await?;
    let storage = measure_storage(&pg, &db, config.node.as_ref()).await;

    let ticks = std::mem::take(&mut *ticks.lock().unwrap_or_else(|poison| poison.into_inner()));
    std::fs::create_dir_all(&config.out_dir).map_err(|error| {
        crate::MigrateError::InvalidInput(format!("cannot create {}: {error}", config.out_dir.display()))
    })?;
    let mut outcome = RehearsalOutcome {
        config_summary: format!(
            "data set `{}` (seed {}): {} sessions, {} turns, {} steps; load {:.0} new turns/s, {:.0} loads/s, {:.0} histories/s, \
             {:.0} children/s; {:.0} s per step; outage {:.0} s",
            config.scale.name,
            config.seed,
            seeded.sessions,
            seeded.turns,
            seeded.steps,
            config.rates.writes,
            config.rates.loads,
            config.rates.histories,
            config.rates.children,
            config.step.as_secs_f64(),
            config.outage.as_secs_f64()
        ),
        steps,
        samples,
        ticks,
        backfill_rows: backfilled.scylla_rows,
        backfill_time: backfilled.elapsed,
        verify_after_backfill,
        final_verify,
        outage,
        outage_note,
        acknowledged_turns,
        postgres_new_turns: pg_turns - seeded.turns as i64,
        scylla_new_turns: scylla_turns - seeded.turns as i64,
        repaired_sessions,
        storage,
        total_time: Duration::ZERO,
        report_path: config.out_dir.join("report.md"),
        plot_path: config.out_dir.join("timeline.png"),
    };
    plot::timeline(&outcome.plot_path, &outcome).map_err(crate::MigrateError::InvalidInput)?;
    outcome.total_time = started.elapsed();
    std::fs::write(&outcome.report_path, report::markdown(&outcome)).map_err(|error| {
        crate::MigrateError::InvalidInput(format!("cannot write {}: {error}", outcome.report_path.display()))
    })?;
    Ok(outcome)
}

pub use report::{ms as format_ms, summary};

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
            return Err(crate::MigrateError::InvalidInput(format!(
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

async fn count_rows(db: &Database, table: &str) -> MigrateResult<i64> {
    let rows: Vec<(i64,)> = db.query_rows(&format!("SELECT count(*) FROM {}.{table}", db.keyspace()), ()).await?;
    Ok(rows.first().map_or(0, |(count,)| *count))
}
