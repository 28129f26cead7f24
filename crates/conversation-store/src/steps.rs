//! Steps: an agent turn's output, appended one by one as it streams in.

use scylla_table::InsertOutcome;

use crate::change::Changed;
use crate::clock::now_millis;
use crate::error::StoreResult;
use crate::limits::{check_step_idx, check_text, MAX_STEP_CONTENT_BYTES};
use crate::rules::{check_has_steps, check_previous_step, check_repeated_step};
use crate::store::ConversationStore;
use crate::tables::{StepBySession, StepByTurn, StepByTurnPrimaryKey};

impl ConversationStore {
    /// Appends step `idx` (0, 1, 2, ...) of an agent turn.
    ///
    /// Safe when steps stream in one by one, from one writer or racing retries: step `idx` is
    /// refused until step `idx - 1` exists, and a lightweight transaction writes each index once.
    /// Repeating a step with the same `tpe` and `content` succeeds without writing it again;
    /// different contents for a written index are a conflict.
    pub async fn append_step(
        &self,
        account_uid: &str,
        session_uid: &str,
        turn_uid: &str,
        idx: i32,
        tpe: i32,
        content: &str,
    ) -> StoreResult<StepByTurn> {
        check_text("content", content, MAX_STEP_CONTENT_BYTES)?;
        check_step_idx(idx)?;
        let owner = self.owned_session(account_uid, session_uid).await?;
        let turn = self.located_turn(&owner, turn_uid).await?;
        check_has_steps(turn_uid, turn.turn_type)?;
        if idx > 0 {
            let previous = StepByTurnPrimaryKey { turn_uid: turn_uid.to_owned(), idx: idx - 1 };
            check_previous_step(turn_uid, idx, self.tables.steps.get(&previous).await?.is_some())?;
        }
        let step = StepByTurn {
            turn_uid: turn_uid.to_owned(),
            idx,
            tpe,
            content: content.to_owned(),
            created_at: now_millis(),
        };
        let changed = Changed::Step { turn_uid: turn_uid.to_owned(), idx };
        self.record(session_uid, changed.clone()).await?;
        let step = match self.tables.steps.insert_if_not_exists(&step).await? {
            InsertOutcome::Applied => step,
            InsertOutcome::NotApplied(existing) => {
                check_repeated_step(turn_uid, idx, (existing.tpe, &existing.content), (tpe, content))?;
                existing
            }
        };
        // After the lightweight transaction decided the step: a retry of a step whose copy failed
        // writes the copy again.
        if self.steps_by_session {
            self.tables.steps_by_session.insert_new(&StepBySession::of(session_uid, &step)).await?;
        }
        self.record(session_uid, changed).await?;
        Ok(step)
    }
}
