//! The conversation platform's sessions, turns and steps in ScyllaDB.
//!
//! # Tables
//!
//! The four query tables of the design, one per read pattern, each declared once as a struct:
//!
//! | Table | Answers |
//! |---|---|
//! | [`SessionByUser`] (`sessions_by_user`) | a user's recent conversations, newest first |
//! | [`TurnBySession`] (`turns_by_session`) | every turn of a conversation, in order |
//! | [`StepByTurn`] (`steps_by_turn`) | the steps of one agent turn, by index |
//! | [`TurnByParent`] (`turns_by_parent`) | the branches under a turn |
//!
//! Two small lookup tables complete them. The design's tables cannot say which account owns a
//! `session_uid` (every request must check that), nor find a turn from its id alone (a child's
//! write must check its parent, and updating a turn needs its `created_at`):
//!
//! | Table | Holds |
//! |---|---|
//! | [`SessionOwner`] (`session_owners`) | session → owning account, its `created_at`, the active root turn |
//! | [`TurnLocation`] (`turns_by_uid`) | turn → session, `created_at`, type and parent |
//!
//! Each is one read by partition key, so checking ownership costs one fast read per request; the
//! alternative, an `account_uid` column in every table, would change the design's tables and still
//! not let a turn be found by its id.
//!
//! Three more serve the migration: [`StepBySession`] (`steps_by_session`), every step of a session
//! in one partition, kept only with [`ConversationStore::with_steps_by_session`]; and the outbox
//! toward PostgreSQL, [`PgOutboxEntry`] (`pg_outbox`) with [`PgOutboxSlot`] (`pg_outbox_slots`),
//! written only with [`ConversationStore::with_outbox`] (see *Modules*).
//!
//! # Choices
//!
//! - **Root turns.** A session's first turn (and edits of it) has no parent, but
//!   `turns_by_parent.parent_uid` is a partition key and cannot be null. Root turns are stored
//!   there under [`root_parent_key`] (`root:<session_uid>`), so "the children of the root" is one
//!   partition like any other; in `turns_by_session` their `parent_uid` stays null.
//! - **The active path** starts at the session's active root (`session_owners.active_root`) and
//!   follows `active_child`. A new turn becomes its parent's active child in the same batch.
//! - **Access control.** Every operation takes the caller's `account_uid`. A session of another
//!   account is [`StoreError::NotFound`], exactly like a missing one, and no data is returned.
//! - **Retries.** Callers may supply session and turn ids. Ids are claimed with lightweight
//!   transactions, so a retried write reuses the first attempt's `created_at` and overwrites the
//!   same rows instead of duplicating the turn.
//! - **Consistency** is the design's: writes at QUORUM, reads at ONE, overridable with
//!   [`ConversationStore::with_consistency`].
//! - **Limits** are in [`limits`]: titles up to 200 characters, prompts up to 32 KiB, step
//!   contents up to 256 KiB, none empty. Every check runs before the first write, so bad input
//!   leaves nothing half-written.
//!
//! # Modules
//!
//! | Module | What |
//! |---|---|
//! | `tables` | the nine tables, each a `#[derive(ScyllaTable)]` struct |
//! | `store` | [`ConversationStore`], its table handles, sessions and access control |
//! | `turns`, `steps`, `conversation` | appending and navigating turns, steps, loading a conversation |
//! | `api` | [`ConversationApi`], the domain API every store implements |
//! | `cursor` | [`SessionPage`] and its opaque [`SessionCursor`] |
//! | `clock` | [`cql_millis`], the one precision every store keeps, and [`new_id`] |
//! | `change`, `outbox` | what a write changed ([`Changed`]) and the outbox entries that record it toward PostgreSQL |
//! | [`limits`] | the input limits, checked before the first write |
//! | `error` | [`StoreError`] |
//! | [`sample`] | a small realistic conversation tree, for demos and tests |
//!
//! # Example
//!
//! ```no_run
//! use conversation_store::ConversationStore;
//! use scylla_table::{ConnectionConfig, Database};
//!
//! # async fn run() -> Result<(), conversation_store::StoreError> {
//! let config = ConnectionConfig::from_env("chat")?;
//! let store = ConversationStore::new(Database::connect(&config).await?);
//! store.apply_schema(&config.replication).await?;
//!
//! let session = store.create_session("acct-1", "Trip to Lisbon").await?;
//! let id = session.session_uid.as_str();
//! let question = store.append_human_turn("acct-1", id, None, "Plan three days in Lisbon", None).await?;
//! let answer = store.append_agent_turn("acct-1", id, &question.turn_uid, None).await?;
//! store.append_step("acct-1", id, &answer.turn_uid, 0, 1, "Day 1: Alfama and the castle").await?;
//!
//! let conversation = store.load_conversation("acct-1", id).await?;
//! assert_eq!(conversation.active_path.len(), 2);
//! # Ok(())
//! # }
//! ```

mod api;
mod change;
mod clock;
mod conversation;
mod cursor;
mod error;
pub mod limits;
mod outbox;
pub mod rules;
pub mod sample;
mod steps;
mod store;
mod tables;
mod turns;

pub use api::ConversationApi;
pub use change::{outbox_slot, stable_bucket, Changed, OUTBOX_BUCKETS, OUTBOX_SLOT_SECONDS};
pub use clock::{cql_millis, new_id, now_millis};
pub use conversation::{Conversation, ConversationTurn, STEP_FETCH_CONCURRENCY};
pub use cursor::{SessionCursor, SessionPage, DEFAULT_PAGE_SIZE};
pub use error::{purged_session_id, RelationalError, StoreError, StoreResult};
pub use store::{ConversationStore, StoreTables};
pub use tables::{
    all_tables, query_tables, PgOutboxEntry, PgOutboxEntryPartitionKey, PgOutboxEntryPrimaryKey, PgOutboxSlot,
    PgOutboxSlotPartitionKey, PgOutboxSlotPrimaryKey, Session, SessionByUser, SessionByUserPartitionKey,
    SessionByUserPrimaryKey, SessionOwner, SessionOwnerPartitionKey, SessionOwnerPrimaryKey, StepBySession,
    StepBySessionPartitionKey, StepBySessionPrimaryKey, StepByTurn, StepByTurnPartitionKey, StepByTurnPrimaryKey,
    TurnByParent, TurnByParentPartitionKey, TurnByParentPrimaryKey, TurnBySession, TurnBySessionPartitionKey,
    TurnBySessionPrimaryKey, TurnLocation, TurnLocationPartitionKey, TurnLocationPrimaryKey, TurnType,
};
/// The typed column handles of each table (`turns_by_session::liked`, ...).
pub use tables::{
    pg_outbox, session_owners, sessions_by_user, steps_by_session, steps_by_turn, turns_by_parent, turns_by_session,
    turns_by_uid,
};
pub use turns::{new_turn_identity, root_parent_key};
