//! Turns: appending, branching, the active path, likes and navigation, with the same rules and
//! errors as the ScyllaDB store.

use crate::typed;
use conversation_store::limits::check_id;
use conversation_store::rules::{check_located, TurnRule};
use conversation_store::{new_turn_identity, root_parent_key, StoreError, StoreResult, TurnByParent, TurnType};
use tokio_postgres::types::Type;
use tokio_postgres::GenericClient;

use crate::rows::{SessionRow, TurnRow, WrittenRow, TURN_COLUMNS};
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
    let (table, columns) = (TurnRow::table(turn_type), TurnRow::table_columns(turn_type));
    let written = match existing {
        None => {
            let (query, extra): (String, (&(dyn tokio_postgres::types::ToSql + Sync), Type)) = match turn_type {
                TurnType::Human => (
                    format!(
                        "INSERT INTO human_turns (uid, session_uid, parent_uid, active_child, prompt, created_at, version)
                         VALUES ($1, $2, $3, NULL, $4, $5, insert_version(NULL, $1, -1)) RETURNING {columns}"
                    ),
                    (&prompt, Type::TEXT),
                ),
                TurnType::Agent => (
                    format!(
                        "INSERT INTO agent_turns (uid, session_uid, parent_uid, active_child, liked, created_at, version)
                         VALUES ($1, $2, $3, NULL, $4, $5, insert_version(NULL, $1, -1)) RETURNING {columns}"
                    ),
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
            TurnRow::from_row(&row)
        }
        // A retry of the same request: write the same turn again over the first attempt, as the
        // ScyllaDB store does, keeping its created_at. What later calls set on the turn (its
        // active child, an agent turn's feedback) stays, as in the ScyllaDB store, whose retry
        // leaves those cells unset; the answer is the turn as this request wrote it, while the
        // outbox and the copy get the row as it now is.
        Some(existing)
            if existing.session_uid == session.uid
                && existing.parent_uid == parent_uid
                && existing.turn_type == turn_type =>
        {
            let row = match turn_type {
                TurnType::Human => writer
                    .tx
                    .query_typed_one(
                        &format!("UPDATE {table} SET prompt = $2, version = next_version(version) WHERE uid = $1 RETURNING {columns}"), typed![&turn_uid, &prompt])
                    .await,
                TurnType::Agent => writer
                    .tx
                    .query_typed_one(
                        &format!("UPDATE {table} SET version = next_version(version) WHERE uid = $1 RETURNING {columns}"), typed![&turn_uid])
                    .await,
            }
            .map_err(pg("rewriting the turn"))?;
            let stored = TurnRow::from_row(&row);
            writer.wrote(&session.uid, WrittenRow::Turn(stored.clone())).await?;
            let answer = TurnRow { active_child: None, liked: None, ..stored };
            set_parent_pointer(writer, session, parent, &answer.uid).await?;
            return Ok(answer);
        }
        Some(_) => return Err(StoreError::Conflict { what: "turn", id: turn_uid }),
    };
    writer.wrote(&session.uid, WrittenRow::Turn(written.clone())).await?;
    set_parent_pointer(writer, session, parent, &written.uid).await?;
    Ok(written)
}

/// Makes a written turn its parent's active child, or the session's active root.
async fn set_parent_pointer(
    writer: &Writer<'_>,
    session: &SessionRow,
    parent: Option<&TurnRow>,
    turn_uid: &str,
) -> StoreResult<()> {
    match parent {
        Some(parent) => set_active_child_of(writer, parent, turn_uid).await,
        None => sessions::change(writer, &session.uid, SessionChange::ActiveRoot(turn_uid)).await,
    }
}

/// Points `parent.active_child` at `child`.
pub(crate) async fn set_active_child_of(writer: &Writer<'_>, parent: &TurnRow, child: &str) -> StoreResult<()> {
    let (table, columns) = (TurnRow::table(parent.turn_type), TurnRow::table_columns(parent.turn_type));
    let row = writer
        .tx
        .query_typed_one(
            &format!(
                "UPDATE {table} SET active_child = $2, version = next_version(version) WHERE uid = $1 RETURNING {columns}"
            ),
            typed![&parent.uid, &child],
        )
        .await
        .map_err(pg("setting the active child"))?;
    writer.wrote(&parent.session_uid, WrittenRow::Turn(TurnRow::from_row(&row))).await
}

/// Sets an agent turn's feedback.
pub(crate) async fn set_liked(writer: &Writer<'_>, turn: &TurnRow, liked: Option<bool>) -> StoreResult<()> {
    let columns = TurnRow::table_columns(TurnType::Agent);
    let row = writer
        .tx
        .query_typed_one(
            &format!(
                "UPDATE agent_turns SET liked = $2, version = next_version(version) WHERE uid = $1 RETURNING {columns}"
            ),
            typed![&turn.uid, &liked],
        )
        .await
        .map_err(pg("setting the feedback"))?;
    writer.wrote(&turn.session_uid, WrittenRow::Turn(TurnRow::from_row(&row))).await
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
