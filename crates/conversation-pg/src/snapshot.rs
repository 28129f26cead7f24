//! Whole sessions as relational rows: what the backfill copies and what verify compares.

use crate::typed;
use conversation_store::StoreResult;
use tokio_postgres::GenericClient;

use crate::rows::{SessionRow, StepRow, TurnRow, SESSION_COLUMNS, STEP_COLUMNS, TURN_COLUMNS};

use crate::store::{pg, PgStore};

/// A session with every turn and step, each with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSnapshot {
    pub session: SessionRow,
    /// In `created_at`, `uid` order.
    pub turns: Vec<TurnRow>,
    /// In `agent_turn_uid`, `idx` order.
    pub steps: Vec<StepRow>,
}

impl SessionSnapshot {
    /// Rows in all: the session, its turns and its steps.
    pub fn relational_rows(&self) -> usize {
        1 + self.turns.len() + self.steps.len()
    }
}

/// A range of session ids: `lower < uid <= upper`, either end open when `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UidRange {
    pub lower: Option<String>,
    pub upper: Option<String>,
}

impl PgStore {
    /// Up to `limit` sessions of `range`, by uid, with all their turns and steps: three queries.
    pub async fn snapshot_range(&self, range: &UidRange, limit: i64) -> StoreResult<Vec<SessionSnapshot>> {
        let client = self.client().await?;
        let rows = client
            .query_typed(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions
                     WHERE ($1::text IS NULL OR uid > $1) AND ($2::text IS NULL OR uid <= $2)
                     ORDER BY uid LIMIT $3"
                ),
                typed![&range.lower, &range.upper, &limit],
            )
            .await
            .map_err(pg("scanning sessions"))?;
        let sessions: Vec<SessionRow> = rows.iter().map(SessionRow::from_row).collect();
        snapshots(&**client, sessions).await
    }

    /// The named sessions that exist, with all their turns and steps, in uid order.
    pub async fn snapshot_sessions(&self, session_uids: &[String]) -> StoreResult<Vec<SessionSnapshot>> {
        let client = self.client().await?;
        let rows = client
            .query_typed(
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE uid = ANY($1) ORDER BY uid"),
                typed![&session_uids],
            )
            .await
            .map_err(pg("reading sessions"))?;
        let sessions: Vec<SessionRow> = rows.iter().map(SessionRow::from_row).collect();
        snapshots(&**client, sessions).await
    }

    /// Ids of sessions with any row changed at or after `since_version` (microseconds).
    pub async fn sessions_changed_since(&self, since_version: i64) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query_typed(
                "SELECT uid FROM sessions WHERE version >= $1
                 UNION SELECT session_uid FROM human_turns WHERE version >= $1
                 UNION SELECT session_uid FROM agent_turns WHERE version >= $1
                 UNION SELECT a.session_uid FROM steps s JOIN agent_turns a ON a.uid = s.agent_turn_uid
                     WHERE s.version >= $1
                 ORDER BY 1",
                typed![&since_version],
            )
            .await
            .map_err(pg("finding changed sessions"))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// A hard-deleted session's keys, the delete's version and its turns, if it was purged.
    pub async fn purged_session(&self, session_uid: &str) -> StoreResult<Option<PurgedSession>> {
        purged_session_in(&**self.client().await?, session_uid).await
    }

    /// The current row of one session, turn or step, for copying one change.
    pub async fn session_row(&self, session_uid: &str) -> StoreResult<Option<SessionRow>> {
        let client = self.client().await?;
        let row = client
            .query_typed_opt(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE uid = $1"), typed![&session_uid])
            .await
            .map_err(pg("reading the session"))?;
        Ok(row.map(|row| SessionRow::from_row(&row)))
    }

    /// The session row and its turns' ids, without the turns' contents or any step: what a
    /// verify needs to find a session's copies in ScyllaDB.
    pub async fn session_keys(&self, session_uid: &str) -> StoreResult<Option<(SessionRow, Vec<String>)>> {
        let Some(session) = self.session_row(session_uid).await? else { return Ok(None) };
        let client = self.client().await?;
        let turns = client
            .query_typed("SELECT uid FROM turns WHERE session_uid = $1 ORDER BY uid", typed![&session_uid])
            .await
            .map_err(pg("reading the session's turn ids"))?;
        Ok(Some((session, turns.iter().map(|turn| turn.get(0)).collect())))
    }

    pub async fn turn_row(&self, turn_uid: &str) -> StoreResult<Option<TurnRow>> {
        let client = self.client().await?;
        let row = client
            .query_typed_opt(&format!("SELECT {TURN_COLUMNS} FROM turns WHERE uid = $1"), typed![&turn_uid])
            .await
            .map_err(pg("reading the turn"))?;
        Ok(row.map(|row| TurnRow::from_row(&row)))
    }

    pub async fn step_row(&self, turn_uid: &str, idx: i32) -> StoreResult<Option<StepRow>> {
        let client = self.client().await?;
        let row = client
            .query_typed_opt(
                &format!("SELECT {STEP_COLUMNS} FROM steps WHERE agent_turn_uid = $1 AND idx = $2"),
                typed![&turn_uid, &idx],
            )
            .await
            .map_err(pg("reading the step"))?;
        Ok(row.map(|row| StepRow::from_row(&row)))
    }

    /// Counts of sessions, turns and steps.
    /// Sessions in the schema's `sessions` table, whatever made it; 0 when there is none.
    pub async fn sessions_held(&self) -> StoreResult<i64> {
        let client = self.client().await?;
        let exists: bool = client
            .query_typed_one("SELECT to_regclass('sessions') IS NOT NULL", &[])
            .await
            .map_err(pg("looking for the sessions table"))?
            .get(0);
        if !exists {
            return Ok(0);
        }
        Ok(client.query_typed_one("SELECT count(*) FROM sessions", &[]).await.map_err(pg("counting sessions"))?.get(0))
    }

    pub async fn row_counts(&self) -> StoreResult<(i64, i64, i64)> {
        let client = self.client().await?;
        let row = client
            .query_typed_one(
                "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM human_turns) + \
                 (SELECT count(*) FROM agent_turns), (SELECT count(*) FROM steps)",
                typed![],
            )
            .await
            .map_err(pg("counting rows"))?;
        Ok((row.get(0), row.get(1), row.get(2)))
    }
}

async fn snapshots(
    client: &(impl GenericClient + Sync),
    sessions: Vec<SessionRow>,
) -> StoreResult<Vec<SessionSnapshot>> {
    if sessions.is_empty() {
        return Ok(Vec::new());
    }
    let uids: Vec<&str> = sessions.iter().map(|session| session.uid.as_str()).collect();
    let turns = client
        .query_typed(
            &format!(
                "SELECT {TURN_COLUMNS} FROM turns WHERE session_uid = ANY($1) ORDER BY session_uid, cql_ms(created_at), uid"
            ), typed![&uids])
        .await
        .map_err(pg("reading turns"))?;
    let steps = client
        .query_typed(
            "SELECT s.agent_turn_uid, s.idx, s.tpe, s.content, s.created_at, s.version, a.session_uid
             FROM steps s JOIN agent_turns a ON a.uid = s.agent_turn_uid
             WHERE a.session_uid = ANY($1) ORDER BY s.agent_turn_uid, s.idx",
            typed![&uids],
        )
        .await
        .map_err(pg("reading steps"))?;
    let mut by_session: std::collections::HashMap<String, SessionSnapshot> = sessions
        .into_iter()
        .map(|session| (session.uid.clone(), SessionSnapshot { session, turns: Vec::new(), steps: Vec::new() }))
        .collect();
    for row in &turns {
        let turn = TurnRow::from_row(row);
        if let Some(snapshot) = by_session.get_mut(&turn.session_uid) {
            snapshot.turns.push(turn);
        }
    }
    for row in &steps {
        let session_uid: String = row.get(6);
        if let Some(snapshot) = by_session.get_mut(&session_uid) {
            snapshot.steps.push(StepRow::from_row(row));
        }
    }
    let mut snapshots: Vec<SessionSnapshot> = by_session.into_values().collect();
    snapshots.sort_by(|a, b| a.session.uid.cmp(&b.session.uid));
    Ok(snapshots)
}

/// A hard-deleted session: its keys, the delete's version, and the ids of the turns it had.
#[derive(Debug, Clone, PartialEq)]
pub struct PurgedSession {
    /// The session's id, account and `created_at` (the rest is empty).
    pub keys: SessionRow,
    pub version: i64,
    pub turn_uids: Vec<String>,
}

/// [`PgStore::purged_session`] on `client` (inside a [`crate::phase::PhaseHold`], say).
pub async fn purged_session_in(
    client: &(impl GenericClient + Sync),
    session_uid: &str,
) -> StoreResult<Option<PurgedSession>> {
    let row = client
        .query_typed_opt(
            "SELECT uid, account_uid, created_at, version FROM purged_sessions WHERE uid = $1",
            typed![&session_uid],
        )
        .await
        .map_err(pg("reading purged sessions"))?;
    let Some(row) = row else { return Ok(None) };
    let turn_uids = client
        .query_typed("SELECT turn_uid FROM purged_turns WHERE session_uid = $1 ORDER BY turn_uid", typed![&session_uid])
        .await
        .map_err(pg("reading purged turns"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let version: i64 = row.get(3);
    let keys = SessionRow {
        uid: row.get(0),
        account_uid: row.get(1),
        title: String::new(),
        created_at: conversation_store::cql_millis(row.get(2)),
        deleted_at: None,
        active_root: None,
        version,
    };
    Ok(Some(PurgedSession { keys, version, turn_uids }))
}

/// Raises the version of every row of a session to at least `at_least`, on `client` (a
/// [`crate::phase::PhaseHold`]'s transaction: the rows stay locked until it ends), and returns
/// the new snapshot. Repair uses it before rewriting a session whose ScyllaDB copy holds a value
/// written with a newer timestamp than the relational version (`at_least` is just past the
/// newest one it found): the rewrite must win.
pub async fn bump_versions_in(
    client: &(impl GenericClient + Sync),
    session_uid: &str,
    at_least: i64,
) -> StoreResult<Option<SessionSnapshot>> {
    for query in [
        "UPDATE sessions SET version = greatest(next_version(version), $2) WHERE uid = $1",
        "UPDATE human_turns SET version = greatest(next_version(version), $2) WHERE session_uid = $1",
        "UPDATE agent_turns SET version = greatest(next_version(version), $2) WHERE session_uid = $1",
        "UPDATE steps SET version = greatest(next_version(version), $2)
         WHERE agent_turn_uid IN (SELECT uid FROM agent_turns WHERE session_uid = $1)",
    ] {
        client.execute_typed(query, typed![&session_uid, &at_least]).await.map_err(pg("raising row versions"))?;
    }
    let rows = client
        .query_typed(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE uid = $1"), typed![&session_uid])
        .await
        .map_err(pg("reading the session"))?;
    let sessions: Vec<SessionRow> = rows.iter().map(SessionRow::from_row).collect();
    Ok(snapshots(client, sessions).await?.into_iter().next())
}
