//! One phase for the whole fleet, kept in PostgreSQL (`migration_phase`), with an epoch that rises
//! at every change.
//!
//! Application instances follow it ([`crate::MigratingStore::following`]): each reads it every
//! poll, serves each request under one epoch, and says which epoch it serves in
//! `migration_instances`. `chat-migrate phase set` moves it one step, once its preconditions
//! hold, and waits for the fleet.
//!
//! While instances disagree, writes stay safe:
//! - Between the PostgreSQL-first phases, each relational write reads the phase in its own
//!   transaction, under a lock the change takes exclusively ([`conversation_pg::phase`]): an
//!   instance a moment behind still records its change for ScyllaDB, or not, as the new phase
//!   says.
//! - Into `scylla-primary`: PostgreSQL refuses the relational writes of an instance still
//!   dual-writing, and the instance retries them ScyllaDB-first.
//! - Out of `scylla-primary`: writes pause first. Every registered instance must hold its writes
//!   (a crashed one must be forgotten by hand, [`forget`]), then the relay copies the last of
//!   ScyllaDB's changes to PostgreSQL, and only then does PostgreSQL become the truth again. A
//!   dual-write in between could otherwise copy an older PostgreSQL row over a newer ScyllaDB one.

use conversation_pg::typed;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use conversation_pg::phase::PHASE_LOCK;
use conversation_pg::{PgStore, RelationalWrites};

use crate::error::{pg_error, MigrateError, MigrateResult};
use crate::phase::{Phase, Routing};
use crate::relay::PostgresRelay;
use crate::verify::Truth;

/// The shared phase as last set.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedPhase {
    pub routing: Routing,
    pub epoch: i64,
    /// Leaving `scylla-primary`: instances hold their writes until PostgreSQL has caught up.
    pub writes_paused: bool,
    pub changed_at: DateTime<Utc>,
}

impl SharedPhase {
    /// The database a verify or repair takes as the truth in this phase: ScyllaDB from
    /// `scylla-primary` on, until writes resume in PostgreSQL first.
    pub fn truth(&self) -> Truth {
        if self.routing.phase == Phase::ScyllaPrimary || self.writes_paused {
            Truth::Scylla
        } else {
            Truth::Postgres
        }
    }
}

impl fmt::Display for SharedPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "phase {} (epoch {}, since {}); shadow share {:.0}%, ScyllaDB reads for {}% of accounts",
            self.routing.phase,
            self.epoch,
            self.changed_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.routing.shadow_share * 100.0,
            self.routing.scylla_read_percent
        )?;
        if self.writes_paused {
            write!(f, "; writes paused while PostgreSQL catches up")?;
        }
        Ok(())
    }
}

impl Phase {
    /// What the phase asks of a write that reaches PostgreSQL first.
    pub fn relational_writes(self) -> RelationalWrites {
        match self {
            Phase::Postgres => RelationalWrites::Plain,
            Phase::DualWrite | Phase::Shadow | Phase::ScyllaReads => RelationalWrites::Recorded,
            Phase::ScyllaPrimary => RelationalWrites::Refused,
        }
    }
}

/// Reads the shared phase.
pub async fn read(pg: &PgStore) -> MigrateResult<SharedPhase> {
    let client = pg.client().await?;
    let row = client
        .query_typed_one(
            "SELECT phase, epoch, shadow_share, scylla_read_percent, writes_paused, changed_at FROM migration_phase",
            typed![],
        )
        .await
        .map_err(pg_error("reading the shared phase"))?;
    let phase: Phase = row.get::<_, String>(0).parse().map_err(MigrateError::InvalidInput)?;
    let percent: i32 = row.get(3);
    Ok(SharedPhase {
        routing: Routing::new(phase)
            .with_shadow_share(row.get(2))
            .with_scylla_read_percent(u8::try_from(percent).unwrap_or(100)),
        epoch: row.get(1),
        writes_paused: row.get(4),
        changed_at: row.get(5),
    })
}

/// An application instance that follows the shared phase, as it last reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub instance: String,
    pub epoch: i64,
    pub phase: String,
    /// How long ago it last reported.
    pub silent_for: Duration,
    /// How often it reports.
    pub poll: Duration,
}

impl Instance {
    /// Whether it reported within three of its polls.
    pub fn is_live(&self) -> bool {
        self.silent_for <= self.poll * 3
    }
}

/// Every registered instance, live or not.
pub async fn instances(pg: &PgStore) -> MigrateResult<Vec<Instance>> {
    let client = pg.client().await?;
    let rows = client
        .query_typed(
            "SELECT instance, epoch, phase, poll_ms, extract(epoch FROM clock_timestamp() - seen_at)::float8
             FROM migration_instances ORDER BY instance",
            typed![],
        )
        .await
        .map_err(pg_error("reading the instances"))?;
    Ok(rows
        .iter()
        .map(|row| Instance {
            instance: row.get(0),
            epoch: row.get(1),
            phase: row.get(2),
            poll: Duration::from_millis(u64::try_from(row.get::<_, i32>(3)).unwrap_or(1000)),
            silent_for: Duration::from_secs_f64(row.get::<_, f64>(4).max(0.0)),
        })
        .collect())
}

/// Records that `instance` serves `epoch` of `phase` (a new instance registers with epoch 0,
/// before it reads the phase, so a change made meanwhile waits for it).
pub(crate) async fn report(pg: &PgStore, instance: &str, epoch: i64, phase: &str, poll: Duration) -> MigrateResult<()> {
    let client = pg.client().await?;
    let poll_ms = i32::try_from(poll.as_millis()).unwrap_or(i32::MAX);
    client
        .execute_typed(
            "INSERT INTO migration_instances (instance, epoch, phase, poll_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (instance) DO UPDATE
             SET epoch = excluded.epoch, phase = excluded.phase, poll_ms = excluded.poll_ms, seen_at = clock_timestamp()", typed![&instance, &epoch, &phase, &poll_ms])
        .await
        .map_err(pg_error("reporting the instance's epoch"))?;
    Ok(())
}

/// Removes an instance from the registry: one that stopped, or (by hand) one that crashed and
/// will not come back. A phase change out of `scylla-primary` waits for every registered one.
pub async fn forget(pg: &PgStore, instance: &str) -> MigrateResult<bool> {
    let client = pg.client().await?;
    let removed = client
        .execute_typed("DELETE FROM migration_instances WHERE instance = $1", typed![&instance])
        .await
        .map_err(pg_error("forgetting an instance"))?;
    Ok(removed > 0)
}

/// One condition a phase change needs, and whether it holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precondition {
    pub name: &'static str,
    pub holds: bool,
    pub detail: String,
}

impl fmt::Display for Precondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", if self.holds { "ok" } else { "no" }, self.name, self.detail)
    }
}

/// How long the outbox's oldest entry may wait while the relay still counts as keeping up; the
/// change itself then waits, with writes held, until the outbox is empty.
const KEEPING_UP: Duration = Duration::from_secs(10);

/// The conditions of moving from `from` to `to`, for ScyllaDB keyspace `keyspace`.
/// `to_postgres` is the relay toward PostgreSQL, needed to leave `scylla-primary`.
pub async fn preconditions(
    pg: &PgStore,
    keyspace: &str,
    from: Phase,
    to: Phase,
    to_postgres: Option<&PostgresRelay>,
) -> MigrateResult<Vec<Precondition>> {
    let mut conditions = Vec::new();
    if from == Phase::ScyllaPrimary && to != Phase::ScyllaPrimary {
        conditions.push(match to_postgres {
            None => Precondition {
                name: "pg_outbox drained",
                holds: false,
                detail: "ScyllaDB is needed to copy its last changes to PostgreSQL".into(),
            },
            Some(relay) => match (relay.depth().await, relay.dead_letters().await?) {
                (Ok(_), dead) if dead > 0 => Precondition {
                    name: "pg_outbox drained",
                    holds: false,
                    detail: format!(
                        "{dead} change(s) PostgreSQL refused wait in relay_dead_letters: fix them, then \
                         `chat-migrate relay --to-postgres --retry-dead-letters`"
                    ),
                },
                (Ok(depth), _) => Precondition {
                    name: "pg_outbox drained",
                    holds: true,
                    detail: format!("{depth} change(s) wait for PostgreSQL; writes pause while the relay copies them"),
                },
                (Err(error), _) => Precondition {
                    name: "pg_outbox drained",
                    holds: false,
                    detail: format!("ScyllaDB does not answer: {error}"),
                },
            },
        });
    }
    if to > from && from >= Phase::DualWrite {
        conditions.push(backfill_done(pg, keyspace).await?);
        conditions.push(verify_clean(pg, keyspace).await?);
        conditions.push(outbox_drained(pg).await?);
    }
    Ok(conditions)
}

async fn backfill_done(pg: &PgStore, keyspace: &str) -> MigrateResult<Precondition> {
    let client = pg.client().await?;
    let row = client
        .query_typed_one(
            "SELECT count(*), count(*) FILTER (WHERE done),
                    coalesce(min(planned_at) >= (SELECT dual_write_since FROM migration_phase), false)
             FROM backfill_ranges WHERE keyspace = $1",
            typed![&keyspace],
        )
        .await
        .map_err(pg_error("reading backfill progress"))?;
    let (ranges, done, planned_during_dual_write): (i64, i64, bool) = (row.get(0), row.get(1), row.get(2));
    Ok(Precondition {
        name: "backfill done",
        holds: ranges > 0 && done == ranges && planned_during_dual_write,
        detail: if ranges == 0 {
            format!("no backfill into `{keyspace}` yet: run `chat-migrate backfill`")
        } else if !planned_during_dual_write {
            format!(
                "the backfill into `{keyspace}` was planned before dual-write last began, so it misses what was \
                 written in between: run it again with `chat-migrate backfill --restart`"
            )
        } else {
            format!("{done} of {ranges} ranges into `{keyspace}` done")
        },
    })
}

async fn verify_clean(pg: &PgStore, keyspace: &str) -> MigrateResult<Precondition> {
    let client = pg.client().await?;
    let row = client
        .query_typed_opt(
            "SELECT v.sessions, v.divergences, v.finished_at,
                    v.started_at >= greatest(
                        (SELECT max(updated_at) FROM backfill_ranges WHERE keyspace = $1),
                        (SELECT dual_write_since FROM migration_phase))
             FROM verify_runs v WHERE v.keyspace = $1 AND v.truth = 'postgres' ORDER BY v.id DESC LIMIT 1",
            typed![&keyspace],
        )
        .await
        .map_err(pg_error("reading the last verify"))?;
    Ok(match row {
        None => {
            Precondition { name: "verify clean", holds: false, detail: "no `chat-migrate verify --all` yet".into() }
        }
        Some(row) => {
            let (sessions, divergences, finished): (i64, i64, DateTime<Utc>) = (row.get(0), row.get(1), row.get(2));
            let after_backfill: bool = row.get::<_, Option<bool>>(3).unwrap_or(false);
            Precondition {
                name: "verify clean",
                holds: divergences == 0 && after_backfill,
                detail: format!(
                    "the last `verify --all` ({}) checked {sessions} sessions and found {divergences} divergences{}",
                    finished.format("%Y-%m-%d %H:%M:%S UTC"),
                    if after_backfill { "" } else { "; it ran before the backfill finished or dual-write began" }
                ),
            }
        }
    })
}

async fn outbox_drained(pg: &PgStore) -> MigrateResult<Precondition> {
    let lag = pg.outbox_lag().await?;
    let oldest = lag.oldest_age.unwrap_or_default();
    Ok(Precondition {
        name: "outbox drained",
        holds: oldest <= KEEPING_UP,
        detail: format!(
            "{} change(s) wait for ScyllaDB, the oldest for {:.1} s (the change waits, with writes held, until \
             none is left)",
            lag.depth,
            oldest.as_secs_f64()
        ),
    })
}

/// How long a phase change waits for the phase lock, while relational writes queue behind it.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// How a phase change waits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SetOptions {
    /// How long to wait for the instances to follow.
    pub fleet_wait: Duration,
    /// How long to wait, writes held, for a queue to empty.
    pub drain_wait: Duration,
}

impl Default for SetOptions {
    fn default() -> Self {
        SetOptions { fleet_wait: Duration::from_secs(30), drain_wait: Duration::from_secs(30) }
    }
}

/// What a phase change did.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseChange {
    pub from: SharedPhase,
    pub to: SharedPhase,
    /// Instances that had not followed when the wait ended (each follows at its next poll).
    pub lagging: Vec<Instance>,
    /// Leaving `scylla-primary`: the changes the relay copied to PostgreSQL while writes paused.
    pub copied_to_postgres: Option<usize>,
}

/// Moves the shared phase to `target` (one step, or the same phase with other dials), once the
/// preconditions hold; [`MigrateError::Refused`] says which do not. `keyspace` is the ScyllaDB
/// keyspace the copy lives in.
pub async fn set(
    pg: &PgStore,
    keyspace: &str,
    target: Routing,
    to_postgres: Option<&PostgresRelay>,
    options: SetOptions,
) -> MigrateResult<PhaseChange> {
    target.check().map_err(MigrateError::InvalidInput)?;
    let current = read(pg).await?;
    let (from, to) = (current.routing.phase, target.phase);
    if !from.can_move_to(to) {
        return Err(MigrateError::Refused(format!(
            "cannot go from phase {from} to {to} directly: phases move one step at a time, forward or back"
        )));
    }
    let conditions = preconditions(pg, keyspace, from, to, to_postgres).await?;
    let failed: Vec<String> = conditions.iter().filter(|condition| !condition.holds).map(ToString::to_string).collect();
    if !failed.is_empty() {
        return Err(MigrateError::Refused(format!("phase {from} -> {to} refused:\n  {}", failed.join("\n  "))));
    }
    let leaving_primary = from == Phase::ScyllaPrimary && to != Phase::ScyllaPrimary;
    let mut copied_to_postgres = None;
    if leaving_primary {
        let relay = to_postgres.ok_or_else(|| MigrateError::Refused("ScyllaDB is needed".into()))?;
        let paused = switch(pg, &current, &current.routing, true, false, options).await?;
        let lagging = wait_for_fleet(pg, paused.epoch, true, options.fleet_wait).await?;
        if !lagging.is_empty() {
            switch(pg, &paused, &current.routing, false, false, options).await?;
            return Err(MigrateError::Refused(format!(
                "phase {from} -> {to} refused: {} instance(s) did not hold their writes within {} s, so writes \
                 go on in scylla-primary: {}. Forget an instance that is gone for good with `chat-migrate phase \
                 forget <instance>`",
                lagging.len(),
                options.fleet_wait.as_secs(),
                describe(&lagging)
            )));
        }
        match relay.drain(Some(options.drain_wait)).await {
            Ok((report, 0)) if report.dead_lettered == 0 => copied_to_postgres = Some(report.copied),
            outcome => {
                switch(pg, &paused, &current.routing, false, false, options).await?;
                let why = match outcome {
                    Ok((report, 0)) => {
                        format!("PostgreSQL refused {} change(s) (relay_dead_letters)", report.dead_lettered)
                    }
                    Ok((_, left)) => format!("{left} change(s) still wait for PostgreSQL"),
                    Err(error) => error.to_string(),
                };
                return Err(MigrateError::Refused(format!(
                    "phase {from} -> {to} refused: the relay could not copy ScyllaDB's last changes to PostgreSQL \
                     within {} s ({why}); writes go on in scylla-primary",
                    options.drain_wait.as_secs()
                )));
            }
        }
        let changed = switch(pg, &paused, &target, false, false, options).await?;
        let lagging = wait_for_fleet(pg, changed.epoch, false, options.fleet_wait).await?;
        return Ok(PhaseChange { from: current, to: changed, lagging, copied_to_postgres });
    }
    let needs_empty_outbox = to > from && from >= Phase::DualWrite;
    let changed = switch(pg, &current, &target, false, needs_empty_outbox, options).await?;
    let lagging = wait_for_fleet(pg, changed.epoch, false, options.fleet_wait).await?;
    Ok(PhaseChange { from: current, to: changed, lagging, copied_to_postgres })
}

/// Writes the new phase row under the phase lock, held exclusively: no relational write is in
/// flight meanwhile. With `empty_outbox`, first waits (writes held) until the outbox toward
/// ScyllaDB is empty. Refuses if someone else changed the phase since `expected` was read.
async fn switch(
    pg: &PgStore,
    expected: &SharedPhase,
    target: &Routing,
    writes_paused: bool,
    empty_outbox: bool,
    options: SetOptions,
) -> MigrateResult<SharedPhase> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await.map_err(pg_error("starting the phase change"))?;
    // While the change waits for the lock, every relational write queues behind it: a repair
    // holding the phase still would stall the application for as long. Give up after a while.
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{}ms'", LOCK_WAIT.as_millis()))
        .await
        .map_err(pg_error("bounding the wait for the phase lock"))?;
    if let Err(error) = tx.execute_typed("SELECT pg_advisory_xact_lock($1)", typed![&PHASE_LOCK]).await {
        return Err(match error.code() {
            Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) => MigrateError::Refused(format!(
                "the phase lock was busy for {} s (a repair holding the phase still?); try again",
                LOCK_WAIT.as_secs()
            )),
            _ => pg_error("taking the phase lock")(error),
        });
    }
    tx.batch_execute("SET LOCAL lock_timeout = 0").await.map_err(pg_error("resetting the lock wait"))?;
    let epoch: i64 = tx
        .query_typed_one("SELECT epoch FROM migration_phase FOR UPDATE", typed![])
        .await
        .map_err(pg_error("reading the shared phase"))?
        .get(0);
    if epoch != expected.epoch {
        return Err(MigrateError::Refused(format!(
            "the phase changed meanwhile (epoch {} is now {epoch}); look again with `chat-migrate phase`",
            expected.epoch
        )));
    }
    if empty_outbox {
        let started = std::time::Instant::now();
        loop {
            let depth: i64 = tx
                .query_typed_one("SELECT count(*) FROM scylla_outbox", typed![])
                .await
                .map_err(pg_error("measuring the outbox"))?
                .get(0);
            if depth == 0 {
                break;
            }
            if started.elapsed() >= options.drain_wait {
                return Err(MigrateError::Refused(format!(
                    "{depth} change(s) still wait for ScyllaDB after {} s with writes held: is a relay running?",
                    options.drain_wait.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let percent = i32::from(target.scylla_read_percent);
    let entering_dual_write = expected.routing.phase == Phase::Postgres && target.phase == Phase::DualWrite;
    let row = tx
        .query_typed_one(
            "UPDATE migration_phase SET phase = $1, epoch = epoch + 1, shadow_share = $2, scylla_read_percent = $3,
                 relational_writes = $4, writes_paused = $5, changed_at = clock_timestamp(),
                 dual_write_since = CASE WHEN $6 THEN clock_timestamp() ELSE dual_write_since END
             RETURNING epoch, changed_at",
            typed![
                &target.phase.name(),
                &target.shadow_share,
                &percent,
                &target.phase.relational_writes().name(),
                &writes_paused,
                &entering_dual_write,
            ],
        )
        .await
        .map_err(pg_error("changing the shared phase"))?;
    tx.commit().await.map_err(pg_error("committing the phase change"))?;
    let changed = SharedPhase { routing: *target, epoch: row.get(0), writes_paused, changed_at: row.get(1) };
    tracing::info!(from = %expected.routing.phase, to = %changed.routing.phase, epoch = changed.epoch,
        writes_paused, "shared phase changed");
    Ok(changed)
}

/// Waits until the instances serve `epoch`: every registered one with `all`, the live ones
/// otherwise. Returns those that had not when `wait` ran out.
async fn wait_for_fleet(pg: &PgStore, epoch: i64, all: bool, wait: Duration) -> MigrateResult<Vec<Instance>> {
    let started = std::time::Instant::now();
    loop {
        let lagging: Vec<Instance> = instances(pg)
            .await?
            .into_iter()
            .filter(|instance| instance.epoch < epoch && (all || instance.is_live()))
            .collect();
        if lagging.is_empty() || started.elapsed() >= wait {
            return Ok(lagging);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Instances as a short list for messages.
pub fn describe(instances: &[Instance]) -> String {
    let names: Vec<String> = instances
        .iter()
        .map(|instance| {
            format!(
                "{} (epoch {}, {}, last heard {:.0} s ago)",
                instance.instance,
                instance.epoch,
                instance.phase,
                instance.silent_for.as_secs_f64()
            )
        })
        .collect();
    names.join(", ")
}
