//! Turns: appending, branching, the active path, likes and navigation, with the same rules and
//! errors as the ScyllaDB store.

use crate::typed;
use conversation_store::limits::check_id;
use conversation_store::rules::{check_located, TurnRule};
use conversation_store::{new_turn_identity, root_parent_key, StoreError, StoreResult, TurnByParent, TurnType};
use tokio_postgres::types::Type;
use tokio_postgres::GenericClient;

use crate::outbox::Changed;
use crate::rows::{SessionRow, TurnRow, TURN_COLUMNS};
use crate::sessions::{self, SessionChange};
use crate::store::pg;
use crate::writer::Writer;

/// A turn of this session, or NotFound; a turn of another session is an invalid parent.
pub(crate) async fn located(
    client: &(impl GenericClient + Sync),
    session: &SessionRow,
    turn_uid: &str,
) -> StoreResult<TurnRow> {
    check_id("turn_uid", turn_uid)?;
    let row = client
        .query_typed_opt(&format!("SELECT {TURN_COLUMNS} FROM turns WHERE uid = $1"), typed![&turn_uid])
        .await
        .map_err(pg("reading the turn"))?;
    let found = row.map(|row| TurnRow::from_row(&row));
    check_located(turn_uid, &session.uid, found, |turn| &turn.session_uid)
}

/// A turn of this session that meets `rule`.
pub(crate) async fn expect(
    client: &(impl GenericClient + Sync),
    session: &SessionRow,
    turn_uid: &str,
    rule: TurnRule,
) -> StoreResult<TurnRow> {
    let turn = located(client, session, turn_uid).await?;
    rule.check(turn_uid, turn.turn_type)?;
    Ok(turn)
}

/// Writes a new turn (or repeats a retried one) and makes it its parent's active child.
pub(crate) async fn write(
    writer: &Writer<'_>,
    session: &SessionRow,
    parent: Option<&TurnRow>,
    turn_type: TurnType,
    prompt: Option<&str>,
    turn_uid: Option<&str>,
) -> StoreResult<TurnRow> {
    let (turn_uid, created_at) = new_turn_identity(turn_uid, parent.map(|parent| parent.created_at))?;
    let parent_uid = parent.map(|parent| parent.uid.clone());
    let existing = writer
        .tx
        .query_typed_opt(&format!("SELECT {TURN_COLUMNS} FROM turns WHERE uid = $1"), typed![&turn_uid])
        .await
        .map_err(pg("looking up the turn id"))?
        .map(|row| TurnRow::from_row(&row));
    let table = TurnRow::table(turn_type);
    let written = match existing {
        None => {
            let (query, extra): (String, (&(dyn tokio_postgres::types::ToSql + Sync), Type)) = match turn_type {
                TurnType::Human => (
                    "INSERT INTO human_turns (uid, session_uid, parent_uid, active_child, prompt, created_at, version)
                     VALUES ($1, $2, $3, NULL, $4, $5, insert_version(NULL, $1, -1)) RETURNING version"
                        .to_owned(),
                    (&prompt, Type::TEXT),
                ),
                TurnType::Agent => (
                    "INSERT INTO agent_turns (uid, session_uid, parent_uid, active_child, liked, created_at, version)
                     VALUES ($1, $2, $3, NULL, $4, $5, insert_version(NULL, $1, -1)) RETURNING version"
                        .to_owned(),
                    (&None::<bool>, Type::BOOL),
                ),
            };
            let row = writer
                .tx
                .query_typed_one(
                    &query,
                    &[
                        (&turn_uid, Type::TEXT),
                        (&session.uid, Type::TEXT),
                        (&parent_uid, Type::TEXT),
                        extra,
                        (&created_at, Type::TIMESTAMPTZ),
                    ],
                )
                .await
                .map_err(pg("inserting the turn"))?;
            TurnRow {
                uid: turn_uid,
                session_uid: session.uid.clone(),
                turn_type,
                parent_uid,
                active_child: None,
                prompt: prompt.map(str::to_owned),
                liked: None,
                created_at,
                version: row.get(0),
            }
        }
        // A retry of the same request: write the same turn again over the first attempt, as the
        // ScyllaDB store does, keeping its created_at. What later calls set on the turn (its
        // active child, an agent turn's feedback) stays, as in the ScyllaDB store, whose retry
        // leaves those cells unset; the answer is the turn as this request wrote it.
        Some(existing)
            if existing.session_uid == session.uid
                && existing.parent_uid == parent_uid
                && existing.turn_type == turn_type =>
        {
            let row = match turn_type {
                TurnType::Human => writer
                    .tx
                    .query_typed_one(
                        &format!("UPDATE {table} SET prompt = $2, version = next_version(version) WHERE uid = $1 RETURNING version"), typed![&turn_uid, &prompt])
                    .await,
                TurnType::Agent => writer
                    .tx
                    .query_typed_one(
                        &format!("UPDATE {table} SET version = next_version(version) WHERE uid = $1 RETURNING version"), typed![&turn_uid])
                    .await,
            }
            .map_err(pg("rewriting the turn"))?;
            TurnRow {
                active_child: None,
                prompt: prompt.map(str::to_owned),
                liked: None,
                version: row.get(0),
                ..existing
            }
        }
        Some(_) => return Err(StoreError::Conflict { what: "turn", id: turn_uid }),
    };
    writer.changed(&session.uid, Changed::Turn { turn_uid: written.uid.clone() }, written.version).await?;
    match parent {
        Some(parent) => set_active_child_of(writer, parent, &written.uid).await?,
        None => sessions::change(writer, &session.uid, SessionChange::ActiveRoot(&written.uid)).await?,
    }
    Ok(written)
}

/// Points `parent.active_child` at `child`.
pub(crate) async fn set_active_child_of(writer: &Writer<'_>, parent: &TurnRow, child: &str) -> StoreResult<()> {
    let table = TurnRow::table(parent.turn_type);
    let row = writer
        .tx
        .query_typed_one(
            &format!(
                "UPDATE {table} SET active_child = $2, version = next_version(version) WHERE uid = $1 RETURNING version"
            ),
            typed![&parent.uid, &child],
        )
        .await
        .map_err(pg("setting the active child"))?;
    writer.changed(&parent.session_uid, Changed::Turn { turn_uid: parent.uid.clone() }, row.get(0)).await
}

/// Sets an agent turn's feedback.
pub(crate) async fn set_liked(writer: &Writer<'_>, turn: &TurnRow, liked: Option<bool>) -> StoreResult<()> {
    let row = writer
        .tx
        .query_typed_one(
            "UPDATE agent_turns SET liked = $2, version = next_version(version) WHERE uid = $1 RETURNING version",
            typed![&turn.uid, &liked],
        )
        .await
        .map_err(pg("setting the feedback"))?;
    writer.changed(&turn.session_uid, Changed::Turn { turn_uid: turn.uid.clone() }, row.get(0)).await
}

/// The children of a turn (or the session's roots), oldest first, as `turns_by_parent` rows.
pub(crate) async fn children(
    client: &(impl GenericClient + Sync),
    session: &SessionRow,
    parent: Option<&str>,
) -> StoreResult<Vec<TurnByParent>> {
    let rows = match parent {
        Some(parent) => {
            client
                .query_typed(
                    &format!("SELECT {TURN_COLUMNS} FROM turns WHERE parent_uid = $1 ORDER BY cql_ms(created_at), uid"),
                    typed![&parent],
                )
                .await
        }
        None => {
            client
                .query_typed(
                    &format!(
                        "SELECT {TURN_COLUMNS} FROM turns WHERE session_uid = $1 AND parent_uid IS NULL
                     ORDER BY cql_ms(created_at), uid"
                    ),
                    typed![&session.uid],
                )
                .await
        }
    }
    .map_err(pg("reading the children"))?;
    let parent_key = parent.map_or_else(|| root_parent_key(&session.uid), str::to_owned);
    Ok(rows
        .iter()
        .map(|row| {
            let turn = TurnRow::from_row(row);
            TurnByParent {
                parent_uid: parent_key.clone(),
                created_at: turn.created_at,
                turn_uid: turn.uid,
                session_uid: turn.session_uid,
                turn_type: turn.turn_type,
            }
        })
        .collect())
}
