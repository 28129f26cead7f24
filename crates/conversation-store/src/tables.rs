//! The four query tables, exactly as the platform's ScyllaDB design defines them, the two lookup
//! tables the store needs beside them, and the outbox toward PostgreSQL for the migration's last phase.

use chrono::{DateTime, Utc};
use scylla_table::schema::TableSchema;
use scylla_table::{ScyllaTable, TextEnum};

/// Who wrote a turn. Stored as the text `'human'` or `'agent'`.
#[derive(TextEnum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TurnType {
    Human,
    Agent,
}

/// A user's sessions, newest first: `SELECT ... WHERE account_uid = ? LIMIT 20`.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "sessions_by_user")]
pub struct SessionByUser {
    #[table(partition_key)]
    pub account_uid: String,
    #[table(clustering, order = "desc")]
    pub created_at: DateTime<Utc>,
    #[table(clustering)]
    pub session_uid: String,
    pub title: String,
    /// Set when the session is soft-deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A session as its owner sees it.
pub type Session = SessionByUser;

/// Every turn of a session, oldest first: the first query of loading a conversation.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "turns_by_session")]
pub struct TurnBySession {
    #[table(partition_key)]
    pub session_uid: String,
    #[table(clustering)]
    pub created_at: DateTime<Utc>,
    #[table(clustering)]
    pub turn_uid: String,
    #[table(cql_type = "text")]
    pub turn_type: TurnType,
    /// `None` for the first turn of a session.
    pub parent_uid: Option<String>,
    /// The child turn on the active path, if the turn has children.
    pub active_child: Option<String>,
    /// Only human turns have a prompt.
    pub prompt: Option<String>,
    /// Only agent turns can be liked; `None` means no feedback.
    pub liked: Option<bool>,
}

/// The steps of one agent turn, by index.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "steps_by_turn")]
pub struct StepByTurn {
    #[table(partition_key)]
    pub turn_uid: String,
    #[table(clustering)]
    pub idx: i32,
    /// The step's type code.
    pub tpe: i32,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

/// The children of a turn, oldest first: navigating a conversation's branches.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "turns_by_parent")]
pub struct TurnByParent {
    #[table(partition_key)]
    pub parent_uid: String,
    #[table(clustering)]
    pub created_at: DateTime<Utc>,
    #[table(clustering)]
    pub turn_uid: String,
    pub session_uid: String,
    #[table(cql_type = "text")]
    pub turn_type: TurnType,
}

/// Every table of the store: the four query tables of the design, then the two lookup tables.
pub fn all_tables() -> Vec<&'static TableSchema> {
    vec![
        SessionByUser::table_schema(),
        TurnBySession::table_schema(),
        StepByTurn::table_schema(),
        TurnByParent::table_schema(),
        SessionOwner::table_schema(),
        TurnLocation::table_schema(),
        StepBySession::table_schema(),
        PgOutboxEntry::table_schema(),
        PgOutboxSlot::table_schema(),
    ]
}

/// Every step of a session, by turn and index: with it, a conversation loads in two concurrent
/// single-partition reads (its turns, and this) instead of one read per agent turn. Opt-in (see
/// `ConversationStore::with_steps_by_session`); `steps_by_turn` stays for the design's
/// "steps of one turn" read.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "steps_by_session")]
pub struct StepBySession {
    #[table(partition_key)]
    pub session_uid: String,
    #[table(clustering)]
    pub turn_uid: String,
    #[table(clustering)]
    pub idx: i32,
    pub tpe: i32,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

impl StepBySession {
    /// The copy of `step` (of a turn in `session_uid`).
    pub fn of(session_uid: &str, step: &StepByTurn) -> StepBySession {
        StepBySession {
            session_uid: session_uid.to_owned(),
            turn_uid: step.turn_uid.clone(),
            idx: step.idx,
            tpe: step.tpe,
            content: step.content.clone(),
            created_at: step.created_at,
        }
    }

    /// Back to the design's row.
    pub fn into_step(self) -> StepByTurn {
        StepByTurn {
            turn_uid: self.turn_uid,
            idx: self.idx,
            tpe: self.tpe,
            content: self.content,
            created_at: self.created_at,
        }
    }
}

/// Changes waiting to be copied to PostgreSQL once ScyllaDB is primary (the migration's last
/// phase): each write records what it changed here, and the relay re-reads the named rows, copies
/// them, and removes the entries. A partition per `bucket` (by session) and minute (`slot`), each
/// in the order the changes were recorded, so one session's changes are read in order, and a
/// drained minute is never read again: a queue drained by deletes would otherwise pile its
/// tombstones up in the partitions every pass reads. [`PgOutboxSlot`] lists the minutes to read.
/// An entry deleted and brought back (a tombstone collected before every replica had it) only
/// copies its row once more, which changes nothing: hence the short grace.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "pg_outbox", gc_grace_seconds = 3600)]
pub struct PgOutboxEntry {
    #[table(partition_key)]
    pub bucket: i32,
    /// The minute `recorded_at` falls in.
    #[table(partition_key)]
    pub slot: DateTime<Utc>,
    #[table(clustering)]
    pub recorded_at: DateTime<Utc>,
    #[table(clustering)]
    pub entry_id: String,
    pub session_uid: String,
    /// `session`, `turn` or `step`.
    pub kind: String,
    pub turn_uid: Option<String>,
    pub idx: Option<i32>,
    /// The timestamp, in microseconds, of the logged batch that made the change with this
    /// entry: the change's version toward PostgreSQL, also where it wrote a null (which has no
    /// write time). `None` for an entry recorded around a lightweight transaction, whose rows
    /// carry their own write times.
    pub stamp: Option<i64>,
}

/// The minutes of a `pg_outbox` bucket that may hold entries: every entry is written with its
/// minute's row here first (in the same logged batch, or just before it), and the relay reads
/// only the minutes listed, removing one once it is drained and too old to receive an entry.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "pg_outbox_slots", gc_grace_seconds = 3600)]
pub struct PgOutboxSlot {
    #[table(partition_key)]
    pub bucket: i32,
    #[table(clustering)]
    pub slot: DateTime<Utc>,
}

/// The four query tables of the design.
pub fn query_tables() -> Vec<&'static TableSchema> {
    all_tables().into_iter().take(4).collect()
}

/// Who owns a session, and where its `sessions_by_user` row is. Not part of the read design: the
/// four query tables cannot answer "which account owns session X?", which every request must
/// check, nor find a session's row without its `created_at`.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "session_owners")]
pub struct SessionOwner {
    #[table(partition_key)]
    pub session_uid: String,
    pub account_uid: String,
    pub created_at: DateTime<Utc>,
    /// The root turn on the active path (the first turn, or the latest edit of it).
    pub active_root: Option<String>,
}

/// Where a turn is: its session, its clustering key and its parent. Lets a write check a parent
/// and update a turn knowing only the turn's id, and claims caller-supplied ids exactly once.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "turns_by_uid")]
pub struct TurnLocation {
    #[table(partition_key)]
    pub turn_uid: String,
    pub session_uid: String,
    pub created_at: DateTime<Utc>,
    #[table(cql_type = "text")]
    pub turn_type: TurnType,
    pub parent_uid: Option<String>,
}
