//! The relational rows, each with its write version, and how they read from PostgreSQL.

use chrono::{DateTime, Utc};
use conversation_store::{cql_millis, Changed, Session, StepByTurn, TurnBySession, TurnType};
use tokio_postgres::Row;

/// Columns of `sessions`, in the order [`SessionRow::from_row`] reads them.
pub(crate) const SESSION_COLUMNS: &str = "uid, account_uid, title, created_at, deleted_at, active_root, version";
/// Columns of the `turns` view, in the order [`TurnRow::from_row`] reads them.
pub(crate) const TURN_COLUMNS: &str =
    "uid, session_uid, turn_type, parent_uid, active_child, prompt, liked, created_at, version";
/// Columns of `steps`, in the order [`StepRow::from_row`] reads them.
pub(crate) const STEP_COLUMNS: &str = "agent_turn_uid, idx, tpe, content, created_at, version";

/// A row of `sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub uid: String,
    pub account_uid: String,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub active_root: Option<String>,
    /// The write version, in microseconds.
    pub version: i64,
}

impl SessionRow {
    pub(crate) fn from_row(row: &Row) -> SessionRow {
        SessionRow {
            uid: row.get(0),
            account_uid: row.get(1),
            title: row.get(2),
            created_at: cql_millis(row.get(3)),
            deleted_at: row.get::<_, Option<DateTime<Utc>>>(4).map(cql_millis),
            active_root: row.get(5),
            version: row.get(6),
        }
    }

    /// The session as the domain API returns it.
    pub fn to_session(&self) -> Session {
        Session {
            account_uid: self.account_uid.clone(),
            created_at: self.created_at,
            session_uid: self.uid.clone(),
            title: self.title.clone(),
            deleted_at: self.deleted_at,
        }
    }
}

/// A row of `human_turns` or `agent_turns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnRow {
    pub uid: String,
    pub session_uid: String,
    pub turn_type: TurnType,
    pub parent_uid: Option<String>,
    pub active_child: Option<String>,
    /// Human turns only.
    pub prompt: Option<String>,
    /// Agent turns only.
    pub liked: Option<bool>,
    pub created_at: DateTime<Utc>,
    pub version: i64,
}

impl TurnRow {
    pub(crate) fn from_row(row: &Row) -> TurnRow {
        let turn_type: &str = row.get(2);
        TurnRow {
            uid: row.get(0),
            session_uid: row.get(1),
            turn_type: if turn_type == "human" { TurnType::Human } else { TurnType::Agent },
            parent_uid: row.get(3),
            active_child: row.get(4),
            prompt: row.get(5),
            liked: row.get(6),
            created_at: cql_millis(row.get(7)),
            version: row.get(8),
        }
    }

    /// The turn as the domain API returns it.
    pub fn to_turn(&self) -> TurnBySession {
        TurnBySession {
            session_uid: self.session_uid.clone(),
            created_at: self.created_at,
            turn_uid: self.uid.clone(),
            turn_type: self.turn_type,
            parent_uid: self.parent_uid.clone(),
            active_child: self.active_child.clone(),
            prompt: self.prompt.clone(),
            liked: self.liked,
        }
    }

    /// The table that holds this kind of turn.
    pub(crate) fn table(turn_type: TurnType) -> &'static str {
        match turn_type {
            TurnType::Human => "human_turns",
            TurnType::Agent => "agent_turns",
        }
    }

    /// The columns of a row of [`TurnRow::table`], in the order [`TurnRow::from_row`] reads them
    /// (as [`TURN_COLUMNS`] gives them from the `turns` view): for the `RETURNING` of a write.
    pub(crate) fn table_columns(turn_type: TurnType) -> &'static str {
        match turn_type {
            TurnType::Human => {
                "uid, session_uid, 'human'::text, parent_uid, active_child, prompt, NULL::boolean, created_at, version"
            }
            TurnType::Agent => {
                "uid, session_uid, 'agent'::text, parent_uid, active_child, NULL::text, liked, created_at, version"
            }
        }
    }
}

/// A row of `steps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRow {
    pub agent_turn_uid: String,
    pub idx: i32,
    pub tpe: i32,
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub version: i64,
}

impl StepRow {
    pub(crate) fn from_row(row: &Row) -> StepRow {
        StepRow {
            agent_turn_uid: row.get(0),
            idx: row.get(1),
            tpe: row.get(2),
            content: row.get(3),
            created_at: cql_millis(row.get(4)),
            version: row.get(5),
        }
    }

    /// The step as the domain API returns it.
    pub fn to_step(&self) -> StepByTurn {
        StepByTurn {
            turn_uid: self.agent_turn_uid.clone(),
            idx: self.idx,
            tpe: self.tpe,
            content: self.content.clone(),
            created_at: self.created_at,
        }
    }
}

/// A row as a committed write left it, with the outbox entry the write made for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The entry to clear once the row is copied.
    pub entry_id: i64,
    pub session_uid: String,
    pub row: WrittenRow,
}

/// The whole row, as `RETURNING` gave it in the write's transaction (its version included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrittenRow {
    Session(SessionRow),
    Turn(TurnRow),
    Step(StepRow),
}

impl WrittenRow {
    /// What the row's outbox entry says changed.
    pub fn changed(&self) -> Changed {
        match self {
            WrittenRow::Session(_) => Changed::Session,
            WrittenRow::Turn(turn) => Changed::Turn { turn_uid: turn.uid.clone() },
            WrittenRow::Step(step) => Changed::Step { turn_uid: step.agent_turn_uid.clone(), idx: step.idx },
        }
    }

    pub fn version(&self) -> i64 {
        match self {
            WrittenRow::Session(session) => session.version,
            WrittenRow::Turn(turn) => turn.version,
            WrittenRow::Step(step) => step.version,
        }
    }
}
