//! Phase 1: dual-write. PostgreSQL stays the source of truth; ScyllaDB gets a copy of each change
//! right after it commits.
//!
//! Each write is one PostgreSQL transaction that also records the change in the outbox. After
//! the commit, the change is copied to ScyllaDB (QUORUM, turns in a logged batch) within a
//! deadline, and its outbox entry cleared. If ScyllaDB is down, slow or overloaded, the write
//! still succeeds: the entry stays, and the relay copies it later. If PostgreSQL is down, the
//! write fails and nothing reaches ScyllaDB. Reads come from PostgreSQL.

use std::time::Duration;

use conversation_pg::{OutboxLag, PgStore};
use conversation_store::StoreResult;

use crate::relay::ScyllaRelay;

/// How long a write waits for its ScyllaDB copy before leaving it to the relay.
pub const DEFAULT_INLINE_DEADLINE: Duration = Duration::from_millis(500);

/// The dual-writing store. Cheap to clone.
#[derive(Clone)]
pub struct DualWriteStore {
    pg: PgStore,
    relay: ScyllaRelay,
    inline_deadline: Duration,
}

impl DualWriteStore {
    /// A dual-writing store over `relay`'s PostgreSQL store (its outbox is switched on) and
    /// ScyllaDB copier.
    pub fn new(relay: ScyllaRelay) -> DualWriteStore {
        let pg = relay.pg().clone().with_outbox(true);
        DualWriteStore { pg, relay, inline_deadline: DEFAULT_INLINE_DEADLINE }
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

    /// How far ScyllaDB is behind.
    pub async fn lag(&self) -> StoreResult<OutboxLag> {
        self.pg.outbox_lag().await
    }

    /// Copies the session's pending changes. A failure is logged and left to the relay: the
    /// caller's write has already committed.
    async fn copy_inline(&self, session_uid: &str) {
        match tokio::time::timeout(self.inline_deadline, self.relay.sync_session(session_uid)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(session_uid, %error, "ScyllaDB copy failed; the relay will copy it from the outbox")
            }
            Err(_) => tracing::warn!(
                session_uid,
                deadline_ms = self.inline_deadline.as_millis() as u64,
                "ScyllaDB copy timed out; the relay will copy it from the outbox"
            ),
        }
    }

    async fn copied<T>(&self, session_uid: &str, result: StoreResult<T>) -> StoreResult<T> {
        if result.is_ok() {
            self.copy_inline(session_uid).await;
        }
        result
    }
}

/// What dual-write adds to each of PostgreSQL's operations: a write that succeeded is copied to
/// ScyllaDB inline; reads are PostgreSQL's.
macro_rules! then_copy {
    (read $store:ident.$operation:ident($($arg:expr),*)) => {
        $store.pg.$operation($($arg),*).await
    };
    (write $store:ident.$operation:ident($account_uid:expr, $session_uid:expr $(, $arg:expr)*)) => {{
        let result = $store.pg.$operation($account_uid, $session_uid $(, $arg)*).await;
        $store.copied($session_uid, result).await
    }};
    (create $store:ident.$operation:ident($($arg:expr),*)) => {{
        let session = $store.pg.$operation($($arg),*).await?;
        $store.copy_inline(&session.session_uid).await;
        Ok(session)
    }};
}

conversation_store::conversation_api!(impl DualWriteStore => then_copy);
