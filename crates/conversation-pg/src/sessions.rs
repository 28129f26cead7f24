//! Sessions: create, rename, soft delete and restore, purge, and an account's recent sessions.

use crate::typed;
use chrono::{DateTime, Utc};
use conversation_store::{now_millis, SessionCursor, SessionPage, StoreError, StoreResult};
use tokio_postgres::types::Type;
use tokio_postgres::GenericClient;

use crate::outbox::Changed;
use crate::rows::{SessionRow, WrittenRow, SESSION_COLUMNS};
use crate::store::{owned_session, pg};
use crate::writer::Writer;

/// Inserts the session, or returns the one that already has this id if `account_uid` owns it.
pub(crate) async fn create(
    writer: &Writer<'_>,
    account_uid: &str,
    session_uid: &str,
    title: &str,
) -> StoreResult<SessionRow> {
    hold_off_purges(writer.tx, session_uid).await?;
    let purged = writer
        .tx
        .query_typed_opt("SELECT 1 FROM purged_sessions WHERE uid = $1", typed![&session_uid])
        .await
        .map_err(pg("checking purged sessions"))?;
    if purged.is_some() {
        return Err(conversation_store::purged_session_id(session_uid));
    }
    let inserted = writer
        .tx
        .query_typed_opt(
            &format!(
                "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, NULL, NULL, next_version(NULL))
                 ON CONFLICT (uid) DO NOTHING RETURNING {SESSION_COLUMNS}"
            ),
            typed![&session_uid, &account_uid, &title, &now_millis()],
        )
        .await
        .map_err(pg("creating the session"))?;
    if let Some(row) = inserted {
        let session = SessionRow::from_row(&row);
        writer.wrote(session_uid, WrittenRow::Session(session.clone())).await?;
        return Ok(session);
    }
    let existing = writer
        .tx
        .query_typed_one(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE uid = $1"), typed![&session_uid])
        .await
        .map_err(pg("reading the existing session"))?;
    let existing = SessionRow::from_row(&existing);
    if existing.account_uid == account_uid {
        Ok(existing)
    } else {
        Err(StoreError::Conflict { what: "session", id: session_uid.to_owned() })
    }
}

/// Which column of a session a change sets.
pub(crate) enum SessionChange<'a> {
    Title(&'a str),
    DeletedAt(Option<DateTime<Utc>>),
    ActiveRoot(&'a str),
}

/// Changes one column of an owned session and raises its version.
pub(crate) async fn change(writer: &Writer<'_>, session_uid: &str, change: SessionChange<'_>) -> StoreResult<()> {
    let (query, value): (&str, (&(dyn tokio_postgres::types::ToSql + Sync), Type)) = match &change {
        SessionChange::Title(title) => {
            ("UPDATE sessions SET title = $2, version = next_version(version) WHERE uid = $1", (title, Type::TEXT))
        }
        SessionChange::DeletedAt(deleted_at) => (
            "UPDATE sessions SET deleted_at = $2, version = next_version(version) WHERE uid = $1",
            (deleted_at, Type::TIMESTAMPTZ),
        ),
        SessionChange::ActiveRoot(root) => {
            ("UPDATE sessions SET active_root = $2, version = next_version(version) WHERE uid = $1", (root, Type::TEXT))
        }
    };
    let row = writer
        .tx
        .query_typed_one(&format!("{query} RETURNING {SESSION_COLUMNS}"), &[(&session_uid, Type::TEXT), value])
        .await
        .map_err(pg("updating the session"))?;
    writer.wrote(session_uid, WrittenRow::Session(SessionRow::from_row(&row))).await
}

/// Deletes the session and everything in it for good, keeping only its keys in
/// `purged_sessions` and its turns' ids in `purged_turns`, so its ScyllaDB copies can be found and
/// tombstoned with the delete's version.
pub(crate) async fn purge(writer: &Writer<'_>, session: &SessionRow) -> StoreResult<i64> {
    // Other code (an adopted database's) may change a turn or step without the session's lock:
    // the rows stay still from here, so none gets a version past the purge's.
    for query in [
        "SELECT 1 FROM human_turns WHERE session_uid = $1 FOR UPDATE",
        "SELECT 1 FROM agent_turns WHERE session_uid = $1 FOR UPDATE",
        "SELECT 1 FROM steps s JOIN agent_turns t ON t.uid = s.agent_turn_uid WHERE t.session_uid = $1 FOR UPDATE OF s",
    ] {
        writer.tx.execute_typed(query, typed![&session.uid]).await.map_err(pg("locking the session's rows"))?;
    }
    let row = writer
        .tx
        .query_typed_one(
            // Past every row's version, so the tombstones cover every copy: after a return from
            // scylla-primary a turn's or step's version (ScyllaDB's write time) can be the newest.
            "INSERT INTO purged_sessions (uid, account_uid, created_at, version)
             VALUES ($1, $2, $3, next_version(greatest($4,
                 (SELECT max(version) FROM turns WHERE session_uid = $1),
                 (SELECT max(s.version) FROM steps s JOIN agent_turns t ON t.uid = s.agent_turn_uid
                  WHERE t.session_uid = $1))))
             ON CONFLICT (uid) DO UPDATE SET version = EXCLUDED.version RETURNING version",
            typed![&session.uid, &session.account_uid, &session.created_at, &session.version],
        )
        .await
        .map_err(pg("recording the purge"))?;
    let version: i64 = row.get(0);
    writer
        .tx
        .execute_typed(
            "INSERT INTO purged_turns (session_uid, turn_uid) SELECT session_uid, uid FROM turns WHERE session_uid = $1
             ON CONFLICT DO NOTHING",
            typed![&session.uid],
        )
        .await
        .map_err(pg("recording the purged turns"))?;
    delete_rows(writer.tx, &session.uid).await?;
    writer.changed(&session.uid, Changed::Session, version).await?;
    Ok(version)
}

/// Deletes a session's steps, turns and row, children first: an adopted database's tables need
/// not cascade deletes as V1's foreign keys do.
pub(crate) async fn delete_rows(tx: &(impl GenericClient + Sync), session_uid: &str) -> StoreResult<()> {
    for query in [
        "DELETE FROM steps WHERE agent_turn_uid IN (SELECT uid FROM agent_turns WHERE session_uid = $1)",
        "DELETE FROM agent_turns WHERE session_uid = $1",
        "DELETE FROM human_turns WHERE session_uid = $1",
        "DELETE FROM sessions WHERE uid = $1",
    ] {
        tx.execute_typed(query, typed![&session_uid]).await.map_err(pg("purging the session"))?;
    }
    Ok(())
}

/// Takes the session's purge lock exclusively, until the transaction ends: a copy of the session
/// from ScyllaDB ([`crate::PgStore::put_session`], which takes it shared and skips purged
/// sessions) either committed before, and the purge deletes it, or sees the purge. Taken before
/// the session's row lock, in the order a copy takes them.
pub(crate) async fn lock_against_copies(tx: &(impl GenericClient + Sync), session_uid: &str) -> StoreResult<()> {
    tx.execute_typed("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", typed![&session_uid])
        .await
        .map_err(pg("taking the session's purge lock"))?;
    Ok(())
}

/// Takes the session's purge lock shared, until the transaction ends: a purge of the session
/// either committed before, and what follows sees it, or waits for this transaction.
pub(crate) async fn hold_off_purges(tx: &(impl GenericClient + Sync), session_uid: &str) -> StoreResult<()> {
    tx.execute_typed("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))", typed![&session_uid])
        .await
        .map_err(pg("taking the session's purge lock"))?;
    Ok(())
}

/// One page of the account's visible sessions, in ScyllaDB's order: newest first, then by id.
pub(crate) async fn recent(
    client: &(impl GenericClient + Sync),
    account_uid: &str,
    page_size: usize,
    after: Option<&SessionCursor>,
) -> StoreResult<SessionPage> {
    let limit = i64::try_from(page_size).unwrap_or(i64::MAX);
    let rows = match after {
        None => {
            client
                .query_typed(
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions WHERE account_uid = $1 AND deleted_at IS NULL
                     ORDER BY cql_ms(created_at) DESC, uid LIMIT $2"
                    ),
                    typed![&account_uid, &limit],
                )
                .await
        }
        Some(cursor) => {
            client
                .query_typed(
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions WHERE account_uid = $1 AND deleted_at IS NULL
                       AND (cql_ms(created_at) < $2 OR (cql_ms(created_at) = $2 AND uid > $3))
                     ORDER BY cql_ms(created_at) DESC, uid LIMIT $4"
                    ),
                    typed![&account_uid, &cursor.created_at(), &cursor.session_uid(), &limit],
                )
                .await
        }
    }
    .map_err(pg("reading recent sessions"))?;
    let sessions: Vec<_> = rows.iter().map(|row| SessionRow::from_row(row).to_session()).collect();
    // A full page has a cursor even when nothing follows, as in the ScyllaDB store.
    let next = (sessions.len() == page_size).then(|| sessions.last().map(SessionCursor::after)).flatten();
    Ok(SessionPage { sessions, next })
}

/// Like `owned_session`, but a soft-deleted session is NotFound too.
pub(crate) async fn visible(
    client: &(impl GenericClient + Sync),
    account_uid: &str,
    session_uid: &str,
) -> StoreResult<SessionRow> {
    let session = owned_session(client, account_uid, session_uid, false).await?;
    if session.deleted_at.is_some() {
        return Err(crate::store::not_found("session", session_uid));
    }
    Ok(session)
}
