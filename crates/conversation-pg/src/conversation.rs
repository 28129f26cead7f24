//! Loading a conversation: two queries (turns, then every step of the session's agent turns),
//! assembled by the same code as the ScyllaDB store's.

use crate::typed;
use conversation_store::{Conversation, StepByTurn, StoreResult};
use tokio_postgres::GenericClient;

use crate::rows::{SessionRow, StepRow, TurnRow, STEP_COLUMNS, TURN_COLUMNS};
use crate::store::pg;

pub(crate) async fn load(client: &(impl GenericClient + Sync), session: SessionRow) -> StoreResult<Conversation> {
    let turns: Vec<TurnRow> = client
        .query_typed(
            &format!("SELECT {TURN_COLUMNS} FROM turns WHERE session_uid = $1 ORDER BY cql_ms(created_at), uid"),
            typed![&session.uid],
        )
        .await
        .map_err(pg("reading the turns"))?
        .iter()
        .map(TurnRow::from_row)
        .collect();
    let steps: Vec<StepRow> = client
        .query_typed(
            &format!(
                "SELECT {STEP_COLUMNS} FROM steps WHERE agent_turn_uid IN
                     (SELECT uid FROM agent_turns WHERE session_uid = $1)
                 ORDER BY agent_turn_uid, idx"
            ),
            typed![&session.uid],
        )
        .await
        .map_err(pg("reading the steps"))?
        .iter()
        .map(StepRow::from_row)
        .collect();
    let mut by_turn: std::collections::HashMap<&str, Vec<StepByTurn>> = std::collections::HashMap::new();
    for step in &steps {
        by_turn.entry(step.agent_turn_uid.as_str()).or_default().push(step.to_step());
    }
    let steps_of_turns = turns.iter().map(|turn| by_turn.remove(turn.uid.as_str()).unwrap_or_default()).collect();
    let active_root = session.active_root.clone();
    Ok(Conversation::assemble(
        session.to_session(),
        active_root.as_deref(),
        turns.iter().map(TurnRow::to_turn).collect(),
        steps_of_turns,
    ))
}
