//! Phase 1: dual-write. PostgreSQL stays the source of truth; ScyllaDB gets a copy of each change
//! right after it commits.
//!
//! Each write is one PostgreSQL transaction that also records the change in the outbox. After
//! the commit, the rows the transaction returned are copied to ScyllaDB (QUORUM, turns in a
//! logged batch) within a deadline, each at its version, with nothing read again from
//! PostgreSQL on the request's path. Their outbox entries are cleared off the write's path, with others in one
//! statement (an entry left over is copied again by the relay, which changes nothing). If
//! ScyllaDB is down, slow or overloaded, the write still succeeds: the entries stay, and the
//! relay copies them later, re-reading the rows. If PostgreSQL is down, the write fails and
//! nothing reaches ScyllaDB. Reads come from PostgreSQL.
//!
//! A circuit breaker in front of the inline copy skips it while ScyllaDB keeps failing, so a
//! write then costs what PostgreSQL alone costs instead of waiting out the deadline; the relay
//! copies what it skipped. Its prober, off the users' path, reads at QUORUM the owner row of the
//! session whose copy failed last, and closes it once a quorum answers again.
//!
//! What a reader of ScyllaDB sees: a write whose inline copy landed is there when the write
//! returns (QUORUM). A write whose copy failed, timed out or was skipped reaches ScyllaDB
//! through the relay, within the outbox's lag, or soon after the session's next write through
//! this instance, which starts a catch-up of everything the session has waiting; so while this
//! store's copy breaker is not closed, [`crate::MigratingStore`] sends the reads it would route to
//! ScyllaDB to PostgreSQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};

use conversation_pg::{OutboxLag, PgStore, Written};
use conversation_store::{SessionOwnerPrimaryKey, StoreResult};

use crate::breaker::{Admission, BreakerConfig, BreakerCounts, BreakerState, Probe, ProbedBreaker};
use crate::relay::ScyllaRelay;
use crate::warnings::WarningLimiter;

/// How long a write waits for its ScyllaDB copy before leaving it to the relay.
pub const DEFAULT_INLINE_DEADLINE: Duration = Duration::from_millis(500);

/// The dual-writing store. Cheap to clone.
#[derive(Clone)]
pub struct DualWriteStore {
    pg: PgStore,
    relay: ScyllaRelay,
    inline_deadline: Duration,
    /// In front of the inline copy; shared by the store's clones.
    copy_breaker: Arc<ProbedBreaker>,
    /// Clears the entries inline copies wrote; started with the first copy.
    clearer: Arc<OnceLock<mpsc::UnboundedSender<Clearing>>>,
    /// Sessions whose inline copy did not land in this instance (failed, timed out, skipped),
    /// each with the number of the miss: their next write also starts a catch-up of every entry
    /// they have waiting, in the background.
    behind: Arc<Mutex<Behind>>,
    /// Catch-ups running at once at most; past it, the relay catches the session up.
    catching_up: Arc<Semaphore>,
    /// Copies fail together while ScyllaDB is down: one line per interval says so.
    warnings: Arc<WarningLimiter>,
}

/// Sessions kept in [`DualWriteStore::behind`] at most; past it, the relay alone catches the
/// others up.
const BEHIND_AT_MOST: usize = 10_000;
/// Catch-ups running at once at most.
const CATCH_UPS_AT_ONCE: usize = 4;

#[derive(Default)]
struct Behind {
    sessions: HashMap<String, u64>,
    misses: u64,
}

/// Entries clears wait at most this long for others to go with them.
const CLEARING_DELAY: Duration = Duration::from_millis(20);
/// Entries cleared in one statement at most.
const CLEARING_BATCH: usize = 1000;

/// What the clearer is asked.
enum Clearing {
    /// Clear these entries: their copies landed.
    Copied(Vec<i64>),
    /// Answer once everything asked before is cleared.
    Flush(oneshot::Sender<()>),
}

impl DualWriteStore {
    /// A dual-writing store over `relay`'s PostgreSQL store (its outbox is switched on) and
    /// ScyllaDB copier.
    pub fn new(relay: ScyllaRelay) -> DualWriteStore {
        let pg = relay.pg().clone().with_outbox(true);
        DualWriteStore {
            pg,
            relay,
            inline_deadline: DEFAULT_INLINE_DEADLINE,
            copy_breaker: ProbedBreaker::new(BreakerConfig::default(), "inline copies"),
            clearer: Arc::new(OnceLock::new()),
            behind: Arc::default(),
            catching_up: Arc::new(Semaphore::new(CATCH_UPS_AT_ONCE)),
            warnings: Arc::default(),
        }
    }

    /// The same store, with a copy breaker of its own that opens and recovers as `config` says.
    pub fn with_copy_breaker(mut self, config: BreakerConfig) -> DualWriteStore {
        self.copy_breaker = ProbedBreaker::new(config, "inline copies");
        self
    }

    /// The state of the breaker in front of the inline copy.
    pub fn copy_breaker(&self) -> BreakerState {
        self.copy_breaker.state()
    }

    /// How often the copy breaker opened and closed again, and how many inline copies it
    /// skipped.
    pub fn copy_breaker_counts(&self) -> BreakerCounts {
        self.copy_breaker.counts()
    }

    /// The same store, whose relational writes do what the shared phase asks (see
    /// `PgStore::following_the_phase`).
    pub fn following_the_phase(mut self) -> DualWriteStore {
        self.pg = self.pg.following_the_phase();
        self
    }

    pub fn with_inline_deadline(mut self, deadline: Duration) -> DualWriteStore {
        self.inline_deadline = deadline;
        self
    }

    pub fn relational(&self) -> &PgStore {
        &self.pg
    }

    pub fn relay(&self) -> &ScyllaRelay {
        &self.relay
    }

    /// How far ScyllaDB is behind: the entries still to copy (those copied inline are cleared
    /// first).
    pub async fn lag(&self) -> StoreResult<OutboxLag> {
        self.flush_clearing().await;
        self.pg.outbox_lag().await
    }

    /// Waits until every entry whose inline copy landed so far is cleared (or its clearing
    /// failed, leaving it to the relay).
    pub async fn flush_clearing(&self) {
        if let Some(clearer) = self.clearer.get() {
            let (done, flushed) = oneshot::channel();
            if clearer.send(Clearing::Flush(done)).is_ok() {
                let _ = flushed.await;
            }
        }
    }

    /// Hands copied entries to the clearer, starting it the first time. It runs until every
    /// clone of the store is gone, then clears what it still holds.
    fn clear_later(&self, ids: Vec<i64>) {
        if ids.is_empty() {
            return;
        }
        let clearer = self.clearer.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(clear_copied_entries(self.pg.clone(), receiver));
            sender
        });
        // The receiver lives as long as any sender: this send cannot fail.
        let _ = clearer.send(Clearing::Copied(ids));
    }

    /// Copies the rows the write committed, as it returned them, unless the copy breaker is
    /// open. A failure is logged and left to the relay: the caller's write has already
    /// committed, and its outbox entries stay until a copy lands.
    ///
    /// A write that recorded nothing (a repeated request: its first attempt may have committed
    /// with the reply lost, and no copy), or to a session whose copy did not land before, also
    /// starts a catch-up of every entry the session has waiting, off the request's path.
    ///
    /// Copying PostgreSQL's rows after the phase moved on to `scylla-primary` is safe: the
    /// switch waits until the outbox is empty, an entry leaves it only once a copy at its
    /// version or later landed, and ScyllaDB-first writes are stamped past a row's newest
    /// write, so a late copy loses to all of them.
    async fn copy_inline(&self, session_uid: &str, written: Vec<Written>) {
        let behind = lock(&self.behind).sessions.contains_key(session_uid);
        if written.is_empty() {
            self.catch_up_later(session_uid);
            return;
        }
        let admission = self.copy_breaker.admit();
        if admission == Admission::Skip {
            crate::monitoring::inline_copy("skipped");
            self.fell_behind(session_uid);
            return;
        }
        let failed = match tokio::time::timeout(self.inline_deadline, self.relay.copy_written(&written)).await {
            Ok(Ok(ids)) => {
                self.clear_later(ids);
                None
            }
            Ok(Err(error)) => {
                if let Some(held_back) = self.warnings.admit("copy failed") {
                    tracing::warn!(
                        session_uid,
                        %error,
                        held_back,
                        "ScyllaDB copy failed; the relay will copy it from the outbox"
                    );
                }
                Some("failed")
            }
            Err(_) => {
                if let Some(held_back) = self.warnings.admit("copy timed out") {
                    tracing::warn!(
                        session_uid,
                        deadline_ms = self.inline_deadline.as_millis() as u64,
                        held_back,
                        "ScyllaDB copy timed out; the relay will copy it from the outbox"
                    );
                }
                Some("timed_out")
            }
        };
        crate::monitoring::inline_copy(failed.unwrap_or("copied"));
        if failed.is_some() {
            self.fell_behind(session_uid);
            self.copy_breaker.set_probe(self.quorum_probe(session_uid));
        } else if behind {
            self.catch_up_later(session_uid);
        }
        self.copy_breaker.record(admission, failed.is_none());
    }

    /// Remembers that the session has entries no inline copy wrote.
    fn fell_behind(&self, session_uid: &str) {
        let mut behind = lock(&self.behind);
        behind.misses += 1;
        let miss = behind.misses;
        if behind.sessions.len() < BEHIND_AT_MOST || behind.sessions.contains_key(session_uid) {
            behind.sessions.insert(session_uid.to_owned(), miss);
        }
    }

    /// Copies every entry the session has waiting, re-reading the rows as a relay does, in a
    /// task of its own (none when [`CATCH_UPS_AT_ONCE`] run already, or the copy breaker is
    /// not closed: the relay copies them then). Its outcome is no verdict for the breaker: its
    /// time goes mostly to PostgreSQL's reads. The session stays behind if it missed again
    /// meanwhile.
    fn catch_up_later(&self, session_uid: &str) {
        if self.copy_breaker.state() != BreakerState::Closed {
            return;
        }
        let Ok(permit) = self.catching_up.clone().try_acquire_owned() else { return };
        let miss = lock(&self.behind).sessions.get(session_uid).copied();
        let (store, session_uid) = (self.clone(), session_uid.to_owned());
        tokio::spawn(async move {
            let _permit = permit;
            match store.relay.copy_pending(&session_uid).await {
                Ok(ids) => {
                    let mut behind = lock(&store.behind);
                    if behind.sessions.get(&session_uid) == miss.as_ref() {
                        behind.sessions.remove(&session_uid);
                    }
                    drop(behind);
                    crate::monitoring::inline_copy("caught_up");
                    store.clear_later(ids);
                }
                Err(error) => {
                    if let Some(held_back) = store.warnings.admit("catch-up failed") {
                        tracing::warn!(%session_uid, %error, held_back, "catching the session up failed; the relay will copy it");
                    }
                    crate::monitoring::inline_copy("catch_up_failed");
                }
            }
        });
    }

    /// A QUORUM read of the session's owner row within the inline deadline: it succeeds when a
    /// quorum of the session's replicas answers, as the copy's QUORUM writes need. A read, not a
    /// copy: a prober runs outside any request, so it must not write PostgreSQL's rows over
    /// ScyllaDB's once the phase may have moved on to `scylla-primary`.
    fn quorum_probe(&self, session_uid: &str) -> Probe {
        let tables = crate::verify::verifying_tables(self.relay.copier().tables());
        let (key, deadline) = (SessionOwnerPrimaryKey { session_uid: session_uid.to_owned() }, self.inline_deadline);
        Arc::new(move || {
            let (tables, key) = (tables.clone(), key.clone());
            Box::pin(async move { matches!(tokio::time::timeout(deadline, tables.owners.get(&key)).await, Ok(Ok(_))) })
        })
    }

    async fn copied<T>(&self, session_uid: &str, pg: &PgStore, result: StoreResult<T>) -> StoreResult<T> {
        if result.is_ok() {
            self.copy_inline(session_uid, pg.take_written()).await;
        }
        result
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The clearer: clears copied entries in batches of up to [`CLEARING_BATCH`], each batch
/// gathered for up to [`CLEARING_DELAY`]. A failed clear is logged and left: the relay copies
/// those entries again.
async fn clear_copied_entries(pg: PgStore, mut requests: mpsc::UnboundedReceiver<Clearing>) {
    fn take(request: Clearing, ids: &mut Vec<i64>, flushes: &mut Vec<oneshot::Sender<()>>) {
        match request {
            Clearing::Copied(copied) => ids.extend(copied),
            Clearing::Flush(done) => flushes.push(done),
        }
    }
    let mut flushes = Vec::new();
    while let Some(first) = requests.recv().await {
        let mut ids = Vec::new();
        take(first, &mut ids, &mut flushes);
        let gathering = tokio::time::sleep(CLEARING_DELAY);
        tokio::pin!(gathering);
        while ids.len() < CLEARING_BATCH && flushes.is_empty() {
            tokio::select! {
                request = requests.recv() => match request {
                    Some(request) => take(request, &mut ids, &mut flushes),
                    None => break,
                },
                _ = &mut gathering => break,
            }
        }
        if let Err(error) = pg.outbox_clear_copied(&ids).await {
            tracing::warn!(%error, entries = ids.len(), "clearing copied outbox entries failed; the relay will copy them again");
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// What dual-write adds to each of PostgreSQL's operations: a write that succeeded is copied to
/// ScyllaDB inline; reads are PostgreSQL's.
macro_rules! then_copy {
    (read $store:ident.$operation:ident($($arg:expr),*)) => {
        $store.pg.$operation($($arg),*).await
    };
    (write $store:ident.$operation:ident($account_uid:expr, $session_uid:expr $(, $arg:expr)*)) => {{
        let pg = $store.pg.collecting_written();
        let result = pg.$operation($account_uid, $session_uid $(, $arg)*).await;
        $store.copied($session_uid, &pg, result).await
    }};
    (create $store:ident.$operation:ident($($arg:expr),*)) => {{
        let pg = $store.pg.collecting_written();
        let session = pg.$operation($($arg),*).await?;
        $store.copy_inline(&session.session_uid, pg.take_written()).await;
        Ok(session)
    }};
}

conversation_store::conversation_api!(impl DualWriteStore => then_copy);
