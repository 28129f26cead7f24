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
use conversation_store::{
    Conversation, ConversationApi, Session, SessionCursor, SessionPage, StepByTurn, StoreResult, TurnByParent,
    TurnBySession,
};

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

impl ConversationApi for DualWriteStore {
    async fn create_session(&self, account_uid: &str, title: &str) -> StoreResult<Session> {
        let session = self.pg.create_session(account_uid, title).await?;
        self.copy_inline(&session.session_uid).await;
        Ok(session)
    }

    async fn create_session_with_id(&self, account_uid: &str, session_uid: &str, title: &str) -> StoreResult<Session> {
        let result = self.pg.create_session_with_id(account_uid, session_uid, title).await;
        self.copied(session_uid, result).await
    }

    async fn session(&self, account_uid: &str, session_uid: &str) -> StoreResult<Session> {
        self.pg.session(account_uid, session_uid).await
    }

    async fn rename_session(&self, account_uid: &str, session_uid: &str, title: &str) -> StoreResult<()> {
        let result = self.pg.rename_session(account_uid, session_uid, title).await;
        self.copied(session_uid, result).await
    }

    async fn delete_session(&self, account_uid: &str, session_uid: &str) -> StoreResult<()> {
        let result = self.pg.delete_session(account_uid, session_uid).await;
        self.copied(session_uid, result).await
    }

    async fn restore_session(&self, account_uid: &str, session_uid: &str) -> StoreResult<()> {
        let result = self.pg.restore_session(account_uid, session_uid).await;
        self.copied(session_uid, result).await
    }

    async fn recent_sessions(
        &self,
        account_uid: &str,
        page_size: usize,
        after: Option<&SessionCursor>,
    ) -> StoreResult<SessionPage> {
        self.pg.recent_sessions(account_uid, page_size, after).await
    }

    async fn append_human_turn(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
        prompt: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        let result = self.pg.append_human_turn(account_uid, session_uid, parent, prompt, turn_uid).await;
        self.copied(session_uid, result).await
    }

    async fn append_agent_turn(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        let result = self.pg.append_agent_turn(account_uid, session_uid, parent, turn_uid).await;
        self.copied(session_uid, result).await
    }

    async fn regenerate(
        &self,
        account_uid: &str,
        session_uid: &str,
        agent_turn: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        let result = self.pg.regenerate(account_uid, session_uid, agent_turn, turn_uid).await;
        self.copied(session_uid, result).await
    }

    async fn edit(
        &self,
        account_uid: &str,
        session_uid: &str,
        human_turn: &str,
        prompt: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        let result = self.pg.edit(account_uid, session_uid, human_turn, prompt, turn_uid).await;
        self.copied(session_uid, result).await
    }

    async fn set_active_child(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
        child: &str,
    ) -> StoreResult<()> {
        let result = self.pg.set_active_child(account_uid, session_uid, parent, child).await;
        self.copied(session_uid, result).await
    }

    async fn set_liked(
        &self,
        account_uid: &str,
        session_uid: &str,
        agent_turn: &str,
        liked: Option<bool>,
    ) -> StoreResult<()> {
        let result = self.pg.set_liked(account_uid, session_uid, agent_turn, liked).await;
        self.copied(session_uid, result).await
    }

    async fn append_step(
        &self,
        account_uid: &str,
        session_uid: &str,
        turn_uid: &str,
        idx: i32,
        tpe: i32,
        content: &str,
    ) -> StoreResult<StepByTurn> {
        let result = self.pg.append_step(account_uid, session_uid, turn_uid, idx, tpe, content).await;
        self.copied(session_uid, result).await
    }

    async fn load_conversation(&self, account_uid: &str, session_uid: &str) -> StoreResult<Conversation> {
        self.pg.load_conversation(account_uid, session_uid).await
    }

    async fn children(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
    ) -> StoreResult<Vec<TurnByParent>> {
        self.pg.children(account_uid, session_uid, parent).await
    }
}
