//! The conversation platform on PostgreSQL: the relational store that is the source of truth
//! while the platform moves to ScyllaDB.
//!
//! [`PgStore`] implements [`ConversationApi`](conversation_store::ConversationApi), the same
//! domain API as the ScyllaDB store, with the same access rules and errors, over the design's
//! relational schema (`sessions`, `human_turns`, `agent_turns`, `steps`). The schema is a set of
//! versioned SQL files in `migrations/`, applied by refinery ([`PgStore::apply_schema`]).
//!
//! # Row versions
//!
//! Every row carries `version`, a write version in microseconds: `greatest(now, previous + 1)`,
//! set in the transaction that changes the row, so it rises strictly with each change. The
//! migration writes every ScyllaDB copy of a row with its version as the write timestamp, which
//! makes every replay, backfill and repair idempotent and never lets an old copy win.
//!
//! # The outbox
//!
//! With [`PgStore::with_outbox`], each write also records what it changed in `scylla_outbox`, in
//! the same transaction. The migration's relay copies those changes to ScyllaDB; see
//! [`outbox`]. With [`PgStore::following_the_phase`], the migration's shared phase decides, in
//! each write's own transaction; see [`phase`].
//!
//! # Modules
//!
//! | Module | What |
//! |---|---|
//! | [`config`], `tls` | the connection string, as libpq reads it, and TLS with rustls |
//! | `store`, [`sql`] | [`PgStore`], the pool and the one way statements are sent (unnamed, typed) |
//! | `api`, `sessions`, `turns`, `steps`, `conversation` | the domain API on the relational schema |
//! | [`rows`], [`snapshot`] | relational rows, and a session's rows read in one snapshot for the migration |
//! | `writer`, [`outbox`] | a write's transaction and the outbox entries it owes |
//! | [`phase`] | the shared phase as each write reads it |
//! | `replica`, `bulk` | writes of rows as another store holds them, and bulk loads |
//! | [`adoption`], `marker` | taking over a database other code wrote: versions, bookkeeping, triggers, and the mark that tells them a write is the store's |
//! | `schema` | the versioned SQL migrations |
//!
//! ```no_run
//! use conversation_pg::{PgConfig, PgStore};
//! use conversation_store::ConversationApi;
//!
//! # async fn run() -> conversation_store::StoreResult<()> {
//! let store = PgStore::connect(&PgConfig::from_env()).await?;
//! store.apply_schema().await?;
//! let session = store.create_session("acct-1", "Trip to Lisbon").await?;
//! let turn = store.append_human_turn("acct-1", &session.session_uid, None, "Plan three days", None).await?;
//! # let _ = turn;
//! # Ok(()) }
//! ```

pub mod adoption;
mod api;
mod bulk;
pub mod config;
mod conversation;
mod marker;
pub mod outbox;
pub mod phase;
mod replica;
pub mod rows;
mod schema;
mod sessions;
pub mod snapshot;
pub mod sql;
mod steps;
mod store;
mod tls;
mod turns;
mod writer;

pub use config::{PgConfig, DEFAULT_POSTGRES_URL};
pub use outbox::{GoneCopies, OutboxEntry, OutboxLag};
pub use phase::{PhaseHold, RelationalWrites};
pub use rows::{SessionRow, StepRow, TurnRow, Written, WrittenRow};
pub use snapshot::{PurgedSession, SessionSnapshot, UidRange};
pub use store::{sqlstate, PgStore};
