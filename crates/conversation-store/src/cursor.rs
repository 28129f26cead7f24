//! Pages of an account's sessions, and the opaque cursor of `recent_sessions`: where the
//! previous page ended.

use chrono::{DateTime, Utc};

use crate::clock::cql_millis;
use crate::error::{StoreError, StoreResult};
use crate::tables::Session;

/// The default number of sessions in one page of [`ConversationStore::recent_sessions`](crate::ConversationStore::recent_sessions).
pub const DEFAULT_PAGE_SIZE: usize = 20;

/// One page of an account's sessions, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPage {
    pub sessions: Vec<Session>,
    /// Where to continue, or `None` when there are no more sessions.
    pub next: Option<SessionCursor>,
}

/// Where a page of sessions ended. Pass it back to get the next page. Its text form is opaque:
/// store it and send it to clients, but do not build or parse it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionCursor {
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) session_uid: String,
}

impl SessionCursor {
    /// The cursor that continues after `session`: pages sort by `created_at` descending, then
    /// `session_uid` ascending.
    pub fn after(session: &Session) -> SessionCursor {
        SessionCursor { created_at: cql_millis(session.created_at), session_uid: session.session_uid.clone() }
    }

    /// The `created_at` of the last session already returned.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The `session_uid` of the last session already returned.
    pub fn session_uid(&self) -> &str {
        &self.session_uid
    }

    /// The cursor as URL-safe text.
    pub fn encode(&self) -> String {
        let raw = format!("{}:{}", self.created_at.timestamp_millis(), self.session_uid);
        raw.bytes().map(|byte| format!("{byte:02x}")).collect()
    }

    /// Reads a cursor made by [`SessionCursor::encode`].
    pub fn decode(text: &str) -> StoreResult<SessionCursor> {
        let invalid = || StoreError::InvalidInput { field: "cursor", reason: "not a cursor this store issued".into() };
        if !text.len().is_multiple_of(2) || !text.is_ascii() {
            return Err(invalid());
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| invalid())?;
        let raw = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (millis, session_uid) = raw.split_once(':').ok_or_else(invalid)?;
        let created_at = millis.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis).ok_or_else(invalid)?;
        Ok(SessionCursor { created_at, session_uid: session_uid.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let cursor = SessionCursor {
            created_at: DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            session_uid: "s:1/é".into(),
        };
        assert_eq!(SessionCursor::decode(&cursor.encode()).unwrap(), cursor);
        for garbage in ["", "abc", "zz", "3a", &"41".repeat(3)] {
            assert!(SessionCursor::decode(garbage).is_err(), "{garbage}");
        }
    }
}
