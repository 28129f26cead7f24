//! Steps: an agent turn's output, appended by idx, as the ScyllaDB store does.

use crate::typed;
use conversation_store::rules::{check_has_steps, check_previous_step, check_repeated_step};
use conversation_store::{now_millis, StoreResult};

use crate::rows::{StepRow, TurnRow, WrittenRow, STEP_COLUMNS};
use crate::store::pg;
use crate::writer::Writer;

/// Appends step `idx` of `turn`: refused until step `idx - 1` exists; a repeat with the same
/// contents returns the step already written; other contents for a written idx are a conflict.
pub(crate) async fn append(
    writer: &Writer<'_>,
    turn: &TurnRow,
    idx: i32,
    tpe: i32,
    content: &str,
) -> StoreResult<StepRow> {
    check_has_steps(&turn.uid, turn.turn_type)?;
    if idx > 0 {
        let previous = writer
            .tx
            .query_typed_opt(
                "SELECT 1 FROM steps WHERE agent_turn_uid = $1 AND idx = $2",
                typed![&turn.uid, &(idx - 1)],
            )
            .await
            .map_err(pg("reading the previous step"))?;
        check_previous_step(&turn.uid, idx, previous.is_some())?;
    }
    let inserted = writer
        .tx
        .query_typed_opt(
            &format!(
                "INSERT INTO steps ({STEP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, insert_version(NULL, $1, $2))
                 ON CONFLICT (agent_turn_uid, idx) DO NOTHING RETURNING {STEP_COLUMNS}"
            ),
            typed![&turn.uid, &idx, &tpe, &content, &now_millis()],
        )
        .await
        .map_err(pg("inserting the step"))?;
    if let Some(row) = inserted {
        let step = StepRow::from_row(&row);
        writer.wrote(&turn.session_uid, WrittenRow::Step(step.clone())).await?;
        return Ok(step);
    }
    let existing = writer
        .tx
        .query_typed_one(
            &format!("SELECT {STEP_COLUMNS} FROM steps WHERE agent_turn_uid = $1 AND idx = $2"),
            typed![&turn.uid, &idx],
        )
        .await
        .map_err(pg("reading the existing step"))?;
    let existing = StepRow::from_row(&existing);
    check_repeated_step(&turn.uid, idx, (existing.tpe, &existing.content), (tpe, content))?;
    Ok(existing)
}
