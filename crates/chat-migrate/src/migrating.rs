//! The migrating store: one [`ConversationApi`] for every phase, switched while it runs.
//!
//! Each request reads the routing once when it starts, so a phase change never splits a request
//! and loses none: requests in flight finish under the routing they began with.
//!
//! An application instance makes its store with [`MigratingStore::following`]: it follows the
//! fleet's shared phase (see [`crate::shared_phase`]), read from PostgreSQL every
//! [`MigratingOptions::phase_poll`], and serves each request under one epoch. A write that
//! PostgreSQL refuses because the phase moved on is retried once under the new phase; while
//! the fleet leaves `scylla-primary`, writes wait for PostgreSQL to catch up.
//!
//! - `postgres`: PostgreSQL only.
//! - `dual-write`: writes through [`DualWriteStore`]; reads from PostgreSQL.
//! - `shadow`: as dual-write; a share of reads is repeated on ScyllaDB in the background and
//!   compared. The caller never waits for it. A difference is read again after a short delay,
//!   PostgreSQL before and after ScyllaDB: if ScyllaDB then matches, it was **stale**; if it
//!   differs the same way twice while PostgreSQL holds still, it is **divergent**, logged with
//!   the differing fields, and the session goes to the repair queue; if PostgreSQL keeps
//!   changing (a session being written), it is **unsettled**. Shadow reads that ScyllaDB fails
//!   or times out are counted too.
//! - `scylla-reads`: as dual-write; the accounts in the configured percentage (sticky, see
//!   [`Routing::reads_from_scylla`]) read from ScyllaDB within a deadline, falling back to
//!   PostgreSQL on an error, a timeout, or a NotFound for something PostgreSQL has. A circuit
//!   breaker sends reads straight to PostgreSQL while ScyllaDB keeps failing; a prober in the
//!   background, never a user's read, repeats the read that failed last until ScyllaDB serves
//!   it again. While dual-write's own copy breaker is open (see [`DualWriteStore`]), reads go
//!   to PostgreSQL as well: this instance is skipping copies, so ScyllaDB is known to lack
//!   recent writes. A write whose copy failed while the breaker was still closed can be missing
//!   from ScyllaDB until the relay copies it, within the outbox's lag.
//! - `scylla-primary`: writes go to ScyllaDB first, through the store with its lightweight
//!   transactions, each recording its change in `pg_outbox` for [`crate::PostgresRelay`]; reads
//!   come from ScyllaDB only. Before rolling back to `scylla-reads`, drain that relay, so
//!   PostgreSQL holds every write again.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use conversation_pg::PgStore;
use conversation_store::{
    Conversation, ConversationApi, ConversationStore, Session, SessionCursor, SessionPage, StoreError, StoreResult,
    TurnByParent,
};
use tokio::sync::Semaphore;

use crate::breaker::{Admission, BreakerConfig, BreakerState, Probe, ProbedBreaker};
use crate::dual_write::DualWriteStore;
use crate::error::{MigrateError, MigrateResult};
use crate::phase::{Phase, Routing};
use crate::shadow::{Compare, FallbackReason, ReadCounts, ReadPattern, ReadStats, ShadowOutcome};
use crate::shared_phase::{self, SharedPhase};
use crate::warnings::WarningLimiter;

/// How the read side behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MigratingOptions {
    /// How long a ScyllaDB read may take before the read falls back to PostgreSQL.
    pub read_deadline: Duration,
    /// How long a shadow comparison that differed waits before reading again.
    pub recheck_delay: Duration,
    /// Shadow reads in flight at most; beyond it, reads are not shadowed (and counted).
    pub max_shadow_in_flight: usize,
    pub breaker: BreakerConfig,
    /// How often a store that follows the shared phase reads it.
    pub phase_poll: Duration,
    /// How long a write waits while writes are paused (leaving `scylla-primary`) before it
    /// fails with an error that says to retry.
    pub paused_write_wait: Duration,
}

impl Default for MigratingOptions {
    fn default() -> Self {
        MigratingOptions {
            read_deadline: Duration::from_millis(200),
            recheck_delay: Duration::from_millis(250),
            max_shadow_in_flight: 64,
            breaker: BreakerConfig::default(),
            phase_poll: Duration::from_secs(1),
            paused_write_wait: Duration::from_secs(10),
        }
    }
}

/// What the read side is doing, for `status` and dashboards.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadSideStatus {
    pub routing: Routing,
    /// The shared phase's epoch this instance serves (0 for a routing of its own).
    pub epoch: i64,
    pub breaker: BreakerState,
    /// How often the breaker opened, and closed again.
    pub breaker_opened: u64,
    pub breaker_closed: u64,
    pub reads: ReadCounts,
    /// Sessions waiting for repair after a divergent read.
    pub repair_queue: usize,
}

impl std::fmt::Display for ReadSideStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "phase {} epoch {} (shadow share {:.0}%, ScyllaDB reads for {}% of accounts)",
            self.routing.phase,
            self.epoch,
            self.routing.shadow_share * 100.0,
            self.routing.scylla_read_percent
        )?;
        writeln!(
            f,
            "circuit breaker {} (opened {} times, closed {} times); repair queue {}",
            self.breaker, self.breaker_opened, self.breaker_closed, self.repair_queue
        )?;
        write!(f, "{}", self.reads)
    }
}

/// What the store serves requests under.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Served {
    routing: Routing,
    /// The shared phase's epoch; 0 for a routing of the store's own.
    epoch: i64,
    writes_paused: bool,
}

struct Inner {
    postgres: PgStore,
    dual: DualWriteStore,
    scylla: ConversationStore,
    /// The ScyllaDB store recording its changes for PostgreSQL: the writer in `scylla-primary`.
    primary: ConversationStore,
    served: RwLock<Served>,
    /// Held shared by every write from the moment it reads the routing until it ends, and
    /// exclusively by the follower before it reports a new epoch: a reported epoch then has
    /// no write of an older one still in flight.
    writes: tokio::sync::RwLock<()>,
    /// Set when the instance stops following the shared phase: its writes are refused from then
    /// on, since no phase change waits for it any more.
    stopped: std::sync::atomic::AtomicBool,
    options: MigratingOptions,
    /// In front of ScyllaDB reads; its prober repeats the read that failed last.
    breaker: Arc<ProbedBreaker>,
    stats: ReadStats,
    shadow_slots: Arc<Semaphore>,
    shadow_sampled: AtomicU64,
    repair_queue: Mutex<BTreeSet<String>>,
    /// Reads fall back together while ScyllaDB fails: one line per interval says so.
    warnings: WarningLimiter,
}

/// The store an application uses through the whole migration. Cheap to clone.
#[derive(Clone)]
pub struct MigratingStore {
    inner: Arc<Inner>,
}

impl MigratingStore {
    /// A store with a routing of its own, switched with [`MigratingStore::set_routing`]: for
    /// one process, tests and tools. `dual` writes in the dual-writing phases (and its
    /// PostgreSQL store, without the outbox, serves the `postgres` phase); `scylla` serves
    /// ScyllaDB reads.
    pub fn new(
        dual: DualWriteStore,
        scylla: ConversationStore,
        routing: Routing,
        options: MigratingOptions,
    ) -> MigrateResult<MigratingStore> {
        routing.check().map_err(MigrateError::InvalidInput)?;
        let postgres = dual.relational().clone().with_outbox(false);
        Ok(MigratingStore::build(dual, postgres, scylla, Served { routing, epoch: 0, writes_paused: false }, options))
    }

    /// The store of an application instance: it follows the shared phase, starting from the
    /// one PostgreSQL holds now, and its relational writes do what the phase asks in their own
    /// transactions. Keep the follower running as long as the store serves; stopping it
    /// unregisters the instance.
    pub async fn following(
        dual: DualWriteStore,
        scylla: ConversationStore,
        options: MigratingOptions,
    ) -> MigrateResult<(MigratingStore, PhaseFollower)> {
        let dual = dual.following_the_phase();
        let postgres = dual.relational().clone();
        // Registered before the phase is read: a change that lands in between waits for this
        // instance to report it, rather than missing an instance that serves the old phase.
        let instance = format!("{}-{}", std::process::id(), &conversation_store::new_id()[..8]);
        shared_phase::report(&postgres, &instance, 0, "starting", options.phase_poll).await?;
        let shared = match shared_phase::read(&postgres).await {
            Ok(shared) => shared,
            Err(error) => {
                // Not serving: a registration left behind would hold up leaving scylla-primary.
                let _ = shared_phase::forget(&postgres, &instance).await;
                return Err(error);
            }
        };
        let served = Served { routing: shared.routing, epoch: shared.epoch, writes_paused: shared.writes_paused };
        let store = MigratingStore::build(dual, postgres, scylla, served, options);
        shared_phase::report(
            &store.inner.postgres,
            &instance,
            shared.epoch,
            shared.routing.phase.name(),
            options.phase_poll,
        )
        .await?;
        tracing::info!(instance, phase = %shared.routing.phase, epoch = shared.epoch, "following the shared phase");
        let follower = PhaseFollower::spawn(store.clone(), instance);
        Ok((store, follower))
    }

    fn build(
        dual: DualWriteStore,
        postgres: PgStore,
        scylla: ConversationStore,
        served: Served,
        options: MigratingOptions,
    ) -> MigratingStore {
        crate::monitoring::phase(served.routing.phase, served.epoch);
        MigratingStore {
            inner: Arc::new(Inner {
                postgres,
                dual,
                primary: scylla.clone().with_outbox(true),
                scylla,
                served: RwLock::new(served),
                writes: tokio::sync::RwLock::new(()),
                stopped: std::sync::atomic::AtomicBool::new(false),
                breaker: ProbedBreaker::new(options.breaker, "reads"),
                options,
                stats: ReadStats::default(),
                shadow_slots: Arc::new(Semaphore::new(options.max_shadow_in_flight)),
                shadow_sampled: AtomicU64::new(0),
                repair_queue: Mutex::new(BTreeSet::new()),
                warnings: WarningLimiter::default(),
            }),
        }
    }

    pub fn routing(&self) -> Routing {
        self.inner.routing()
    }

    /// Switches the routing for every request that starts from now on. The phase may move one
    /// step forward or back; the dials may change freely. For a store with a routing of its
    /// own: a store that follows the shared phase takes the next shared change over this.
    pub fn set_routing(&self, routing: Routing) -> MigrateResult<()> {
        routing.check().map_err(MigrateError::InvalidInput)?;
        let mut served = self.inner.served.write().unwrap_or_else(|poison| poison.into_inner());
        let current = &mut served.routing;
        if !current.phase.can_move_to(routing.phase) {
            return Err(MigrateError::InvalidInput(format!(
                "cannot go from phase {} to {} directly: phases move one step at a time, forward or back",
                current.phase, routing.phase
            )));
        }
        if current.phase == Phase::ScyllaPrimary && routing.phase == Phase::ScyllaReads {
            tracing::warn!("leaving scylla-primary: PostgreSQL lacks any write the relay toward it has not copied yet");
        }
        if *current != routing {
            tracing::info!(from = %current.phase, to = %routing.phase, shadow_share = routing.shadow_share,
                scylla_read_percent = routing.scylla_read_percent, "read routing changed");
        }
        *current = routing;
        crate::monitoring::phase(routing.phase, served.epoch);
        Ok(())
    }

    pub fn status(&self) -> ReadSideStatus {
        ReadSideStatus {
            routing: self.routing(),
            epoch: self.inner.served().epoch,
            breaker: self.inner.breaker.state(),
            breaker_opened: self.inner.breaker.counts().opened,
            breaker_closed: self.inner.breaker.counts().closed,
            reads: self.inner.stats.snapshot(),
            repair_queue: self.inner.lock_repair_queue().len(),
        }
    }

    /// Takes the sessions that divergent reads queued for repair (see [`mod@crate::scan`]).
    pub fn take_repair_queue(&self) -> Vec<String> {
        std::mem::take(&mut *self.inner.lock_repair_queue()).into_iter().collect()
    }

    /// Waits until no shadow comparison is running.
    pub async fn shadow_idle(&self) {
        let slots = u32::try_from(self.inner.options.max_shadow_in_flight).unwrap_or(u32::MAX);
        if let Ok(all) = self.inner.shadow_slots.acquire_many(slots).await {
            drop(all);
        }
    }

    pub fn dual_write(&self) -> &DualWriteStore {
        &self.inner.dual
    }

    async fn read<R: Read>(&self, call: R) -> StoreResult<R::Output> {
        let routing = self.inner.routing();
        if routing.phase == Phase::ScyllaPrimary {
            let answer = call.run(&self.inner.scylla).await;
            if comparable(&answer).is_some() {
                self.inner.stats.served_by_scylla(R::PATTERN);
            }
            return answer;
        }
        if routing.reads_from_scylla(call.account()) {
            return self.inner.clone().read_scylla_first(call).await;
        }
        let answer = call.run(&self.inner.postgres).await;
        if routing.phase == Phase::Shadow && self.inner.sampled(routing.shadow_share) {
            if let Some(postgres) = comparable(&answer) {
                self.inner.clone().spawn_shadow(call, postgres);
            }
        }
        answer
    }
}

impl Inner {
    fn served(&self) -> Served {
        *self.served.read().unwrap_or_else(|poison| poison.into_inner())
    }

    fn routing(&self) -> Routing {
        self.served().routing
    }

    /// Serves the shared phase from now on, if it is newer than what is served.
    fn adopt(&self, shared: &SharedPhase) {
        let mut served = self.served.write().unwrap_or_else(|poison| poison.into_inner());
        if shared.epoch <= served.epoch {
            return;
        }
        tracing::info!(from = %served.routing.phase, to = %shared.routing.phase, epoch = shared.epoch,
            writes_paused = shared.writes_paused, "following the shared phase");
        *served = Served { routing: shared.routing, epoch: shared.epoch, writes_paused: shared.writes_paused };
        crate::monitoring::phase(served.routing.phase, served.epoch);
    }

    /// Reads the shared phase now and serves it.
    async fn refresh(&self) -> StoreResult<Served> {
        let shared = shared_phase::read(&self.postgres).await.map_err(into_store_error)?;
        self.adopt(&shared);
        Ok(self.served())
    }

    /// What a write starts under, with the guard it holds until it ends. While writes are
    /// paused (the fleet is leaving `scylla-primary`), waits for the phase to move on, up to
    /// `paused_write_wait`.
    async fn begin_write(&self) -> StoreResult<(Served, tokio::sync::RwLockReadGuard<'_, ()>)> {
        let started = Instant::now();
        loop {
            let in_flight = self.writes.read().await;
            if self.stopped.load(Ordering::Acquire) {
                return Err(StoreError::WritesMoved {
                    reason: "this instance stopped following the shared phase (it is shutting down)".into(),
                });
            }
            let served = self.served();
            if !served.writes_paused {
                return Ok((served, in_flight));
            }
            drop(in_flight);
            if started.elapsed() >= self.options.paused_write_wait {
                return Err(StoreError::WritesMoved {
                    reason: format!(
                        "writes are paused while the phase leaves scylla-primary (epoch {}), for over {} s",
                        served.epoch,
                        self.options.paused_write_wait.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            if started.elapsed() >= self.options.phase_poll {
                // The follower reads the phase every poll; reading it here too only once a poll
                // has passed keeps a paused fleet from asking PostgreSQL on every write.
                self.refresh().await?;
            }
        }
    }

    fn lock_repair_queue(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.repair_queue.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Exactly `share` of the calls, spread evenly: call n is taken when n·share crosses an integer.
    fn sampled(&self, share: f64) -> bool {
        let n = self.shadow_sampled.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * share).floor() > (n * share).floor()
    }

    /// Keeps `call` as the read the breaker's prober repeats: the last that failed, or that the
    /// open breaker kept from ScyllaDB.
    fn remember_failed_read<R: Read>(&self, call: &Arc<R>) {
        let (call, deadline, scylla) = (call.clone(), self.options.read_deadline, self.scylla.clone());
        let probe: Probe = Arc::new(move || {
            let (call, scylla) = (call.clone(), scylla.clone());
            Box::pin(async move {
                match tokio::time::timeout(deadline, call.run(&scylla)).await {
                    Ok(Ok(_)) | Ok(Err(StoreError::NotFound { .. })) => true,
                    Ok(Err(error)) => !is_database_failure(&error),
                    Err(_) => false,
                }
            })
        });
        self.breaker.set_probe(probe);
    }

    /// A ScyllaDB read within the deadline; `None` when the deadline passed.
    async fn scylla_read<R: Read>(&self, call: &R) -> Option<StoreResult<R::Output>> {
        tokio::time::timeout(self.options.read_deadline, call.run(&self.scylla)).await.ok()
    }

    async fn read_scylla_first<R: Read>(self: Arc<Self>, call: R) -> StoreResult<R::Output> {
        let pattern = R::PATTERN;
        // Only a closed breaker lets a user's read try ScyllaDB; its probes are the prober's.
        // While this instance's inline copies are skipped or failing, ScyllaDB may lack the
        // user's own last write: the read goes to PostgreSQL too.
        if self.dual.copy_breaker() != BreakerState::Closed {
            self.stats.fallback(pattern, FallbackReason::CopyBreakerOpen);
            return call.run(&self.postgres).await;
        }
        let admission = self.breaker.admit();
        if admission == Admission::Skip {
            self.stats.fallback(pattern, FallbackReason::BreakerOpen);
            // The prober repeats the latest read it was kept from, so that one read that always
            // fails (one too large for the deadline, say) cannot hold the breaker open.
            let call = Arc::new(call);
            self.remember_failed_read(&call);
            return call.run(&self.postgres).await;
        }
        let record = |succeeded| self.breaker.record(admission, succeeded);
        let (succeeded, fallback) = match self.scylla_read(&call).await {
            Some(Ok(answer)) => {
                record(true);
                self.stats.served_by_scylla(pattern);
                return Ok(answer);
            }
            // ScyllaDB answered; whether the answer is right, PostgreSQL tells.
            Some(Err(StoreError::NotFound { .. })) => (true, FallbackReason::NotFound),
            // The caller's mistake gets the same error from either database.
            Some(Err(error)) if !is_database_failure(&error) => {
                record(true);
                self.stats.served_by_scylla(pattern);
                return Err(error);
            }
            Some(Err(error)) => {
                if let Some(held_back) = self.warnings.admit("read failed") {
                    tracing::warn!(
                        pattern = pattern.name(),
                        %error,
                        held_back,
                        "ScyllaDB read failed; falling back to PostgreSQL"
                    );
                }
                (false, FallbackReason::Error)
            }
            None => {
                if let Some(held_back) = self.warnings.admit("read timed out") {
                    tracing::warn!(
                        pattern = pattern.name(),
                        deadline_ms = self.options.read_deadline.as_millis() as u64,
                        held_back,
                        "ScyllaDB read timed out; falling back to PostgreSQL"
                    );
                }
                (false, FallbackReason::Timeout)
            }
        };
        if !succeeded {
            // Before the report that may open the breaker, so its prober has this read to repeat.
            let call = Arc::new(call);
            self.remember_failed_read(&call);
            record(false);
            return self.fall_back(&*call, fallback).await;
        }
        record(true);
        self.fall_back(&call, fallback).await
    }

    /// The read from PostgreSQL after ScyllaDB's answer could not be served, counted by why.
    async fn fall_back<R: Read>(&self, call: &R, fallback: FallbackReason) -> StoreResult<R::Output> {
        let pattern = R::PATTERN;
        let answer = call.run(&self.postgres).await;
        match (&answer, fallback) {
            // Both agree there is nothing: ScyllaDB's answer stands.
            (Err(StoreError::NotFound { .. }), FallbackReason::NotFound) => self.stats.served_by_scylla(pattern),
            (Ok(_), FallbackReason::NotFound) => {
                // Every one: the session's id is what the repair queue, held in memory, loses on a restart.
                tracing::warn!(pattern = pattern.name(), session = ?call.session(), "ScyllaDB lacks what PostgreSQL has; queued for repair");
                self.stats.fallback(pattern, fallback);
                if let Some(session) = call.session() {
                    self.lock_repair_queue().insert(session.to_owned());
                }
            }
            _ => self.stats.fallback(pattern, fallback),
        }
        answer
    }

    fn spawn_shadow<R: Read>(self: Arc<Self>, call: R, postgres: Option<R::Output>) {
        let Ok(slot) = self.shadow_slots.clone().try_acquire_owned() else {
            self.stats.shadow_skipped();
            return;
        };
        tokio::spawn(async move {
            let _slot = slot;
            let Some(scylla) = self.shadow_scylla_read(&call).await else { return };
            if option_differences(&postgres, &scylla).is_empty() {
                self.stats.shadow(R::PATTERN, ShadowOutcome::Matched);
                return;
            }
            let Some(recheck) = self.recheck(&call).await else { return };
            self.stats.shadow(R::PATTERN, recheck.outcome);
            if recheck.outcome != ShadowOutcome::Divergent {
                return;
            }
            let sessions = call.sessions_involved(recheck.postgres.as_ref(), recheck.scylla.as_ref());
            tracing::warn!(
                pattern = R::PATTERN.name(),
                account = call.account(),
                sessions = ?sessions,
                differences = ?recheck.differences,
                "ScyllaDB diverges from PostgreSQL; queued for repair"
            );
            self.lock_repair_queue().extend(sessions);
        });
    }

    /// A shadow read of ScyllaDB, as compared; `None` when it failed or timed out, which is
    /// counted as such.
    async fn shadow_scylla_read<R: Read>(&self, call: &R) -> Option<Option<R::Output>> {
        match self.scylla_read(call).await {
            None => {
                self.stats.shadow_failed(R::PATTERN, FallbackReason::Timeout);
                None
            }
            Some(answer) => {
                let compared = comparable(&answer);
                if compared.is_none() {
                    self.stats.shadow_failed(R::PATTERN, FallbackReason::Error);
                }
                compared
            }
        }
    }

    /// Reads a differing answer again, PostgreSQL around ScyllaDB, until it can tell why they
    /// differed. ScyllaDB matching either PostgreSQL answer was only behind (stale). Divergent
    /// takes PostgreSQL holding still across the ScyllaDB read, twice in a row, with the same
    /// differences both times: a session being written keeps changing both answers, and a write
    /// committed in PostgreSQL an instant before its copy reaches ScyllaDB looks different the
    /// next time. `None` when a read failed (counted when it was ScyllaDB's).
    async fn recheck<R: Read>(&self, call: &R) -> Option<Recheck<R::Output>> {
        let mut candidate: Option<Vec<String>> = None;
        for _ in 0..SHADOW_RECHECKS {
            tokio::time::sleep(self.options.recheck_delay).await;
            let before = comparable(&call.run(&self.postgres).await)?;
            let scylla = self.shadow_scylla_read(call).await?;
            let after = comparable(&call.run(&self.postgres).await)?;
            if option_differences(&before, &scylla).is_empty() || option_differences(&after, &scylla).is_empty() {
                return Some(Recheck {
                    outcome: ShadowOutcome::Stale,
                    differences: Vec::new(),
                    postgres: after,
                    scylla,
                });
            }
            if !option_differences(&before, &after).is_empty() {
                candidate = None;
                continue;
            }
            let differences = option_differences(&after, &scylla);
            if candidate.as_ref() == Some(&differences) {
                return Some(Recheck { outcome: ShadowOutcome::Divergent, differences, postgres: after, scylla });
            }
            candidate = Some(differences);
        }
        Some(Recheck { outcome: ShadowOutcome::Unsettled, differences: Vec::new(), postgres: None, scylla: None })
    }
}

/// How many times a differing shadow read is read again before it counts as unsettled.
const SHADOW_RECHECKS: usize = 4;

/// What reading a differing answer again concluded, with the last answers read.
struct Recheck<T> {
    outcome: ShadowOutcome,
    differences: Vec<String>,
    postgres: Option<T>,
    scylla: Option<T>,
}

/// The task that keeps a store on the shared phase: it reads the phase every poll, serves a
/// newer epoch from then on, and reports the epoch it serves. Stopping it unregisters the
/// instance.
pub struct PhaseFollower {
    instance: String,
    store: MigratingStore,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl PhaseFollower {
    fn spawn(store: MigratingStore, instance: String) -> PhaseFollower {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let (follower, name) = (store.clone(), instance.clone());
        let task = tokio::spawn(async move {
            let inner = &follower.inner;
            let poll = inner.options.phase_poll;
            let mut failing = false;
            // The epoch last reported, so writes are waited for only when it moves on.
            let mut reported = inner.served().epoch;
            while !*stopped.borrow() {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = stopped.changed() => break,
                }
                let followed = match shared_phase::read(&inner.postgres).await {
                    Ok(shared) => {
                        inner.adopt(&shared);
                        // Writes begun under an older epoch end before the new one is reported
                        // (adopted here, or by a write that was refused and read the phase).
                        let served = inner.served();
                        if served.epoch != reported {
                            drop(inner.writes.write().await);
                            reported = served.epoch;
                        }
                        shared_phase::report(&inner.postgres, &name, served.epoch, served.routing.phase.name(), poll)
                            .await
                    }
                    Err(error) => Err(error),
                };
                match followed {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!(instance = name, "reading the shared phase works again");
                    }
                    Ok(()) => {}
                    // Once per outage: the instance keeps serving the phase it has.
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(instance = name, %error, "cannot read the shared phase; serving the last one read");
                    }
                    Err(_) => {}
                }
            }
        });
        PhaseFollower { instance, store, stop, task }
    }

    /// This instance's name in `migration_instances`.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Stops following and unregisters the instance. Writes still in flight end first, and the
    /// store refuses writes from then on: no phase change waits for it any more. Stop it after
    /// the application has stopped taking requests.
    pub async fn stop(self) -> MigrateResult<()> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let inner = &self.store.inner;
        let in_flight = inner.writes.write().await;
        inner.stopped.store(true, Ordering::Release);
        drop(in_flight);
        shared_phase::forget(&inner.postgres, &self.instance).await?;
        Ok(())
    }
}

fn into_store_error(error: MigrateError) -> StoreError {
    match error {
        MigrateError::Store(error) => error,
        MigrateError::Scylla(error) => StoreError::Database(error),
        other => StoreError::InvalidInput { field: "shared phase", reason: other.to_string() },
    }
}

/// An error that says the database failed, not the request.
fn is_database_failure(error: &StoreError) -> bool {
    matches!(error, StoreError::Database(_) | StoreError::Relational { .. })
}

/// The answer as compared: `Some(None)` for NotFound, `None` for a failure (nothing to compare).
fn comparable<T: Clone>(answer: &StoreResult<T>) -> Option<Option<T>> {
    match answer {
        Ok(value) => Some(Some(value.clone())),
        Err(StoreError::NotFound { .. }) => Some(None),
        Err(_) => None,
    }
}

fn option_differences<T: Compare>(postgres: &Option<T>, scylla: &Option<T>) -> Vec<String> {
    match (postgres, scylla) {
        (Some(postgres), Some(scylla)) => T::differences(postgres, scylla),
        (None, None) => Vec::new(),
        (Some(_), None) => vec!["found in PostgreSQL, not in ScyllaDB".to_owned()],
        (None, Some(_)) => vec!["found in ScyllaDB, not in PostgreSQL".to_owned()],
    }
}

/// One routed read: its arguments, owned, so a shadow comparison can repeat it later.
trait Read: Send + Sync + 'static {
    type Output: Compare + Clone + Send + Sync + 'static;
    const PATTERN: ReadPattern;

    fn account(&self) -> &str;

    /// The session the read is about, if it is about one.
    fn session(&self) -> Option<&str>;

    fn run<S: ConversationApi>(&self, store: &S) -> impl Future<Output = StoreResult<Self::Output>> + Send;

    /// The sessions to repair when the answers diverge.
    fn sessions_involved(&self, _postgres: Option<&Self::Output>, _scylla: Option<&Self::Output>) -> Vec<String> {
        self.session().map(str::to_owned).into_iter().collect()
    }
}

struct ReadSession {
    account: String,
    session: String,
}

impl Read for ReadSession {
    type Output = Session;
    const PATTERN: ReadPattern = ReadPattern::Session;

    fn account(&self) -> &str {
        &self.account
    }

    fn session(&self) -> Option<&str> {
        Some(&self.session)
    }

    async fn run<S: ConversationApi>(&self, store: &S) -> StoreResult<Session> {
        store.session(&self.account, &self.session).await
    }
}

struct LoadConversation {
    account: String,
    session: String,
}

impl Read for LoadConversation {
    type Output = Conversation;
    const PATTERN: ReadPattern = ReadPattern::LoadConversation;

    fn account(&self) -> &str {
        &self.account
    }

    fn session(&self) -> Option<&str> {
        Some(&self.session)
    }

    async fn run<S: ConversationApi>(&self, store: &S) -> StoreResult<Conversation> {
        store.load_conversation(&self.account, &self.session).await
    }
}

struct RecentSessions {
    account: String,
    page_size: usize,
    after: Option<SessionCursor>,
}

impl Read for RecentSessions {
    type Output = SessionPage;
    const PATTERN: ReadPattern = ReadPattern::RecentSessions;

    fn account(&self) -> &str {
        &self.account
    }

    fn session(&self) -> Option<&str> {
        None
    }

    async fn run<S: ConversationApi>(&self, store: &S) -> StoreResult<SessionPage> {
        store.recent_sessions(&self.account, self.page_size, self.after.as_ref()).await
    }

    /// Every session on either page: repairing one that was right changes nothing.
    fn sessions_involved(&self, postgres: Option<&SessionPage>, scylla: Option<&SessionPage>) -> Vec<String> {
        let sessions: BTreeSet<String> = postgres
            .into_iter()
            .chain(scylla)
            .flat_map(|page| page.sessions.iter().map(|session| session.session_uid.clone()))
            .collect();
        sessions.into_iter().collect()
    }
}

struct Children {
    account: String,
    session: String,
    parent: Option<String>,
}

impl Read for Children {
    type Output = Vec<TurnByParent>;
    const PATTERN: ReadPattern = ReadPattern::Children;

    fn account(&self) -> &str {
        &self.account
    }

    fn session(&self) -> Option<&str> {
        Some(&self.session)
    }

    async fn run<S: ConversationApi>(&self, store: &S) -> StoreResult<Vec<TurnByParent>> {
        store.children(&self.account, &self.session, self.parent.as_deref()).await
    }
}

/// A write under the phase it begins in: `$body` runs with `$phase` bound to it. If PostgreSQL
/// refuses the write because the shared phase moved on, it runs once more under the phase read
/// afresh.
macro_rules! routed {
    ($self:ident, |$phase:ident| $body:expr) => {{
        let mut retried = false;
        loop {
            let (served, in_flight) = $self.inner.begin_write().await?;
            let $phase = served.routing.phase;
            let result = $body;
            drop(in_flight);
            match result {
                Err(StoreError::WritesMoved { .. }) if !retried => {
                    retried = true;
                    $self.inner.refresh().await?;
                }
                other => break other,
            }
        }
    }};
}

/// A write of the platform's API, routed by the phase: PostgreSQL alone, dual-write, or
/// ScyllaDB first.
macro_rules! routed_write {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        routed!($self, |phase| match phase {
            Phase::Postgres => $self.inner.postgres.$method($($arg),*).await,
            Phase::DualWrite | Phase::Shadow | Phase::ScyllaReads => $self.inner.dual.$method($($arg),*).await,
            Phase::ScyllaPrimary => $self.inner.primary.$method($($arg),*).await,
        })
    };
}

impl MigratingStore {
    /// Deletes a session and everything in it for good (the right to be forgotten), in both
    /// databases. While PostgreSQL leads, its purge records the session's turns and the relay
    /// tombstones every ScyllaDB copy at the purge's version. In `scylla-primary`, ScyllaDB may
    /// hold turns PostgreSQL has not received yet: the turns are read from ScyllaDB at QUORUM,
    /// the purge is recorded in PostgreSQL with them and a version past every write time found,
    /// and ScyllaDB is tombstoned at that version. Purging a purged session is NotFound, as in
    /// PostgreSQL; in `scylla-primary` it also lays the tombstones again, finishing a purge that
    /// failed part way.
    pub async fn purge_session(&self, account_uid: &str, session_uid: &str) -> StoreResult<()> {
        routed!(self, |phase| match phase {
            Phase::Postgres => self.inner.postgres.purge_session(account_uid, session_uid).await.map(drop),
            Phase::DualWrite | Phase::Shadow | Phase::ScyllaReads => {
                match self.inner.dual.relational().purge_session(account_uid, session_uid).await {
                    Err(StoreError::NotFound { what, id }) => {
                        // Purged already: a purge made in scylla-primary whose tombstones failed
                        // has nothing left in the outbox to finish it, so a retry does.
                        self.inner.finish_recorded_purge(account_uid, session_uid).await?;
                        Err(StoreError::NotFound { what, id })
                    }
                    other => other.map(drop),
                }
            }
            Phase::ScyllaPrimary => self.inner.purge_led_by_scylla(account_uid, session_uid).await,
        })
    }
}

impl Inner {
    /// Lays again the tombstones of a purge PostgreSQL recorded for this account's session.
    async fn finish_recorded_purge(&self, account_uid: &str, session_uid: &str) -> StoreResult<()> {
        if let Some(purged) = self.postgres.purged_session(session_uid).await? {
            if purged.keys.account_uid == account_uid {
                self.dual.relay().copier().finish_purge(&purged).await.map_err(into_store_error)?;
            }
        }
        Ok(())
    }

    async fn purge_led_by_scylla(&self, account_uid: &str, session_uid: &str) -> StoreResult<()> {
        let copier = self.dual.relay().copier();
        // At SERIAL: a replica that missed the session's creation must not answer NotFound to a
        // purge of data that is there.
        let tables = crate::verify::verifying_tables(copier.tables());
        let key = conversation_store::SessionOwnerPrimaryKey { session_uid: session_uid.to_owned() };
        let serial = tables.owners.consistency().serial();
        let owner = tables.owners.clone().with_read_consistency(serial).get(&key).await?;
        let session = match owner {
            Some(owner) if owner.account_uid == account_uid => owner,
            _ => {
                // Purged already, perhaps by a try that failed before its tombstones all landed:
                // they are laid again, and the answer is PostgreSQL's to a repeated purge.
                self.finish_recorded_purge(account_uid, session_uid).await?;
                return Err(StoreError::NotFound { what: "session", id: session_uid.to_owned() });
            }
        };
        let address = crate::verify::SessionAddress { session_uid, account_uid, created_at: session.created_at };
        let copies =
            crate::verify::read_copies(&tables, address, &[], copier.layout()).await.map_err(into_store_error)?;
        let turn_uids: Vec<String> = copies.by_session.iter().map(|turn| turn.turn_uid.clone()).collect();
        let keys = conversation_pg::SessionRow {
            uid: session_uid.to_owned(),
            account_uid: account_uid.to_owned(),
            title: String::new(),
            created_at: session.created_at,
            deleted_at: None,
            active_root: None,
            version: 0,
        };
        let version = self.postgres.purge_replica(&keys, &turn_uids, copies.newest_write().unwrap_or(0)).await?;
        copier.tombstone_session(&keys, &turn_uids, version).await.map_err(StoreError::Database)
    }
}

impl MigratingStore {
    /// `create_session_with_id`, routed by the phase. In `scylla-primary`, PostgreSQL keeps the
    /// purges, and the relay removes what a purged id holds: a caller's id is checked there first
    /// (PostgreSQL refuses it itself elsewhere).
    async fn create_session_with_id_routed(
        &self,
        account_uid: &str,
        session_uid: &str,
        title: &str,
    ) -> StoreResult<Session> {
        routed!(self, |phase| match phase {
            Phase::Postgres => self.inner.postgres.create_session_with_id(account_uid, session_uid, title).await,
            Phase::DualWrite | Phase::Shadow | Phase::ScyllaReads => {
                self.inner.dual.create_session_with_id(account_uid, session_uid, title).await
            }
            Phase::ScyllaPrimary => {
                if self.inner.postgres.purged_session(session_uid).await?.is_some() {
                    Err(conversation_store::purged_session_id(session_uid))
                } else {
                    self.inner.primary.create_session_with_id(account_uid, session_uid, title).await
                }
            }
        })
    }
}

/// How the migrating store runs each operation: writes go where the phase sends them, and each
/// read is a named pattern that the phase serves from one store or both (shadow reads,
/// fallback).
macro_rules! by_phase {
    (write $store:ident.create_session_with_id($account_uid:expr, $session_uid:expr, $title:expr)) => {
        $store.create_session_with_id_routed($account_uid, $session_uid, $title).await
    };
    (write $store:ident.$operation:ident($($arg:expr),*)) => {
        routed_write!($store.$operation($($arg),*))
    };
    (create $store:ident.$operation:ident($($arg:expr),*)) => {
        routed_write!($store.$operation($($arg),*))
    };
    (read $store:ident.session($account_uid:expr, $session_uid:expr)) => {
        $store.read(ReadSession { account: $account_uid.to_owned(), session: $session_uid.to_owned() }).await
    };
    (read $store:ident.recent_sessions($account_uid:expr, $page_size:expr, $after:expr)) => {
        $store
            .read(RecentSessions { account: $account_uid.to_owned(), page_size: $page_size, after: $after.cloned() })
            .await
    };
    (read $store:ident.load_conversation($account_uid:expr, $session_uid:expr)) => {
        $store.read(LoadConversation { account: $account_uid.to_owned(), session: $session_uid.to_owned() }).await
    };
    (read $store:ident.children($account_uid:expr, $session_uid:expr, $parent:expr)) => {
        $store
            .read(Children {
                account: $account_uid.to_owned(),
                session: $session_uid.to_owned(),
                parent: $parent.map(str::to_owned),
            })
            .await
    };
}

conversation_store::conversation_api!(impl MigratingStore => by_phase);
