//! [`ConversationApi`]: the platform's conversation operations, once, for every store.
//!
//! The ScyllaDB store ([`ConversationStore`]), the relational store and the migration's
//! dual-writing store all implement it, so application code written against the trait does not
//! change from one migration phase to the next. Every implementation enforces the same rules and
//! returns the same [`StoreError`]s for the same calls; a shared conformance suite checks that.

use std::future::Future;

use crate::conversation::Conversation;
use crate::cursor::SessionCursor;
use crate::cursor::SessionPage;
use crate::error::StoreResult;
use crate::store::ConversationStore;
use crate::tables::Session;
use crate::tables::{StepByTurn, TurnByParent, TurnBySession};

/// The conversation platform's operations. Every method takes the caller's `account_uid`; a
/// session of another account is [`StoreError::NotFound`](crate::StoreError::NotFound), exactly
/// like a missing one.
///
/// ```no_run
/// use conversation_store::{ConversationApi, StoreResult};
///
/// // Application code names the trait, not a store, so any phase's store fits.
/// async fn ask(store: &impl ConversationApi, account: &str, prompt: &str) -> StoreResult<String> {
///     let session = store.create_session(account, "New chat").await?;
///     let turn = store.append_human_turn(account, &session.session_uid, None, prompt, None).await?;
///     Ok(turn.turn_uid)
/// }
/// ```
pub trait ConversationApi: Send + Sync {
    /// Starts a session with a new id.
    fn create_session(&self, account_uid: &str, title: &str) -> impl Future<Output = StoreResult<Session>> + Send;

    /// Starts a session with an id the caller chose. Repeating the call returns the same session;
    /// the id in use by another account is a conflict.
    fn create_session_with_id(
        &self,
        account_uid: &str,
        session_uid: &str,
        title: &str,
    ) -> impl Future<Output = StoreResult<Session>> + Send;

    /// The session, if `account_uid` owns it. Soft-deleted sessions are returned too.
    fn session(&self, account_uid: &str, session_uid: &str) -> impl Future<Output = StoreResult<Session>> + Send;

    fn rename_session(
        &self,
        account_uid: &str,
        session_uid: &str,
        title: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Hides the session from `recent_sessions` and from loading, keeping its data.
    fn delete_session(&self, account_uid: &str, session_uid: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// Undoes `delete_session`.
    fn restore_session(&self, account_uid: &str, session_uid: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// The account's visible sessions, newest first (ties by `session_uid`), `page_size` at a time.
    fn recent_sessions(
        &self,
        account_uid: &str,
        page_size: usize,
        after: Option<&SessionCursor>,
    ) -> impl Future<Output = StoreResult<SessionPage>> + Send;

    /// Appends a human turn under an agent turn, or as a root turn when `parent` is `None`. The
    /// new turn becomes its parent's active child. `turn_uid` makes a retry safe.
    fn append_human_turn(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
        prompt: &str,
        turn_uid: Option<&str>,
    ) -> impl Future<Output = StoreResult<TurnBySession>> + Send;

    /// Appends an agent turn answering the human turn `parent`.
    fn append_agent_turn(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: &str,
        turn_uid: Option<&str>,
    ) -> impl Future<Output = StoreResult<TurnBySession>> + Send;

    /// A new answer to the same prompt: a sibling of `agent_turn`.
    fn regenerate(
        &self,
        account_uid: &str,
        session_uid: &str,
        agent_turn: &str,
        turn_uid: Option<&str>,
    ) -> impl Future<Output = StoreResult<TurnBySession>> + Send;

    /// A changed prompt: a sibling of `human_turn`.
    fn edit(
        &self,
        account_uid: &str,
        session_uid: &str,
        human_turn: &str,
        prompt: &str,
        turn_uid: Option<&str>,
    ) -> impl Future<Output = StoreResult<TurnBySession>> + Send;

    /// Makes `child` the active child of `parent` (of the session's root level when `None`).
    fn set_active_child(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
        child: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Likes (`Some(true)`), dislikes (`Some(false)`) or clears (`None`) an agent turn's feedback.
    fn set_liked(
        &self,
        account_uid: &str,
        session_uid: &str,
        agent_turn: &str,
        liked: Option<bool>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Appends step `idx` of an agent turn; step `idx - 1` must exist.
    fn append_step(
        &self,
        account_uid: &str,
        session_uid: &str,
        turn_uid: &str,
        idx: i32,
        tpe: i32,
        content: &str,
    ) -> impl Future<Output = StoreResult<StepByTurn>> + Send;

    /// Every turn in order with its steps, as a tree with the active path.
    fn load_conversation(
        &self,
        account_uid: &str,
        session_uid: &str,
    ) -> impl Future<Output = StoreResult<Conversation>> + Send;

    /// The children of `parent` (the session's root turns when `None`), oldest first.
    fn children(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
    ) -> impl Future<Output = StoreResult<Vec<TurnByParent>>> + Send;
}

impl ConversationApi for ConversationStore {
    async fn create_session(&self, account_uid: &str, title: &str) -> StoreResult<Session> {
        ConversationStore::create_session(self, account_uid, title).await
    }

    async fn create_session_with_id(&self, account_uid: &str, session_uid: &str, title: &str) -> StoreResult<Session> {
        ConversationStore::create_session_with_id(self, account_uid, session_uid, title).await
    }

    async fn session(&self, account_uid: &str, session_uid: &str) -> StoreResult<Session> {
        ConversationStore::session(self, account_uid, session_uid).await
    }

    async fn rename_session(&self, account_uid: &str, session_uid: &str, title: &str) -> StoreResult<()> {
        ConversationStore::rename_session(self, account_uid, session_uid, title).await
    }

    async fn delete_session(&self, account_uid: &str, session_uid: &str) -> StoreResult<()> {
        ConversationStore::delete_session(self, account_uid, session_uid).await
    }

    async fn restore_session(&self, account_uid: &str, session_uid: &str) -> StoreResult<()> {
        ConversationStore::restore_session(self, account_uid, session_uid).await
    }

    async fn recent_sessions(
        &self,
        account_uid: &str,
        page_size: usize,
        after: Option<&SessionCursor>,
    ) -> StoreResult<SessionPage> {
        ConversationStore::recent_sessions(self, account_uid, page_size, after).await
    }

    async fn append_human_turn(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
        prompt: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        ConversationStore::append_human_turn(self, account_uid, session_uid, parent, prompt, turn_uid).await
    }

    async fn append_agent_turn(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        ConversationStore::append_agent_turn(self, account_uid, session_uid, parent, turn_uid).await
    }

    async fn regenerate(
        &self,
        account_uid: &str,
        session_uid: &str,
        agent_turn: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        ConversationStore::regenerate(self, account_uid, session_uid, agent_turn, turn_uid).await
    }

    async fn edit(
        &self,
        account_uid: &str,
        session_uid: &str,
        human_turn: &str,
        prompt: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        ConversationStore::edit(self, account_uid, session_uid, human_turn, prompt, turn_uid).await
    }

    async fn set_active_child(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
        child: &str,
    ) -> StoreResult<()> {
        ConversationStore::set_active_child(self, account_uid, session_uid, parent, child).await
    }

    async fn set_liked(
        &self,
        account_uid: &str,
        session_uid: &str,
        agent_turn: &str,
        liked: Option<bool>,
    ) -> StoreResult<()> {
        ConversationStore::set_liked(self, account_uid, session_uid, agent_turn, liked).await
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
        ConversationStore::append_step(self, account_uid, session_uid, turn_uid, idx, tpe, content).await
    }

    async fn load_conversation(&self, account_uid: &str, session_uid: &str) -> StoreResult<Conversation> {
        ConversationStore::load_conversation(self, account_uid, session_uid).await
    }

    async fn children(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
    ) -> StoreResult<Vec<TurnByParent>> {
        ConversationStore::children(self, account_uid, session_uid, parent).await
    }
}
