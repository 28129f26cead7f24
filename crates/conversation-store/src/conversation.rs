//! Loading a conversation: every turn in order, each with its steps, as a tree with an active path.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};

use crate::error::StoreResult;
use crate::store::{ConversationStore, Session};
use crate::tables::{
    StepBySession, StepBySessionPartitionKey, StepByTurn, StepByTurnPartitionKey, TurnBySession,
    TurnBySessionPartitionKey, TurnType,
};

/// How many turns' steps are fetched at once while loading a conversation.
pub const STEP_FETCH_CONCURRENCY: usize = 32;

/// One turn with its steps and the ids of its children, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationTurn {
    pub turn: TurnBySession,
    /// The steps of an agent turn by idx; empty for a human turn.
    pub steps: Vec<StepByTurn>,
    pub children: Vec<String>,
}

/// A whole conversation as loaded by [`ConversationStore::load_conversation`].
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub session: Session,
    /// Every turn of the session in chronological order, with its steps.
    pub turns: Vec<ConversationTurn>,
    /// The ids of the turns the user sees: from the active root, following `active_child`.
    pub active_path: Vec<String>,
}

impl Conversation {
    /// Builds the tree from a session's turns in clustering order (`created_at`, then
    /// `turn_uid`) and, for each turn, its steps by idx. Every store loads through this, so the
    /// same rows give the same conversation whatever database they came from.
    pub fn assemble(
        session: Session,
        active_root: Option<&str>,
        turns: Vec<TurnBySession>,
        steps_of_turns: Vec<Vec<StepByTurn>>,
    ) -> Conversation {
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for turn in &turns {
            if let Some(parent) = &turn.parent_uid {
                children.entry(parent.clone()).or_default().push(turn.turn_uid.clone());
            }
        }
        let conversation_turns: Vec<ConversationTurn> = turns
            .into_iter()
            .zip(steps_of_turns)
            .map(|(turn, steps)| {
                let children = children.remove(turn.turn_uid.as_str()).unwrap_or_default();
                ConversationTurn { turn, steps, children }
            })
            .collect();
        let active_path = active_path(&conversation_turns, active_root);
        Conversation { session, turns: conversation_turns, active_path }
    }

    pub fn turn(&self, turn_uid: &str) -> Option<&ConversationTurn> {
        self.turns.iter().find(|turn| turn.turn.turn_uid == turn_uid)
    }

    /// The turns without a parent, oldest first: the first prompt and its edits.
    pub fn roots(&self) -> impl Iterator<Item = &ConversationTurn> {
        self.turns.iter().filter(|turn| turn.turn.parent_uid.is_none())
    }

    /// The turns of the active path, in order.
    pub fn active_turns(&self) -> impl Iterator<Item = &ConversationTurn> {
        self.active_path.iter().filter_map(|turn_uid| self.turn(turn_uid))
    }
}

impl ConversationStore {
    /// Every turn of a session in chronological order, each agent turn with its steps (fetched
    /// concurrently), assembled into a tree with the active path. A soft-deleted session, or one
    /// that `account_uid` does not own, is NotFound.
    pub async fn load_conversation(&self, account_uid: &str, session_uid: &str) -> StoreResult<Conversation> {
        let (owner, session) = self.visible_session(account_uid, session_uid).await?;
        let partition = TurnBySessionPartitionKey { session_uid: session_uid.to_owned() };
        if self.steps_by_session {
            // Two concurrent single-partition reads: the turns, and every step of the session.
            let steps_partition = StepBySessionPartitionKey { session_uid: session_uid.to_owned() };
            let (turns, steps) = futures::try_join!(
                self.tables.turns.partition_vec(&partition),
                self.tables.steps_by_session.partition_vec(&steps_partition)
            )?;
            let steps_of_turns = steps_in_turn_order(&turns, steps);
            return Ok(Conversation::assemble(session, owner.active_root.as_deref(), turns, steps_of_turns));
        }
        let turns = self.tables.turns.partition_vec(&partition).await?;

        // Owned keys and table handles keep the future `Send`, so it can run on any executor thread.
        let keys: Vec<Option<StepByTurnPartitionKey>> = turns
            .iter()
            .map(|turn| {
                (turn.turn_type == TurnType::Agent).then(|| StepByTurnPartitionKey { turn_uid: turn.turn_uid.clone() })
            })
            .collect();
        let table = self.tables.steps.clone();
        let steps_of_turns: Vec<Vec<StepByTurn>> = futures::stream::iter(keys.into_iter().map(move |key| {
            let table = table.clone();
            async move {
                match key {
                    Some(key) => table.partition_vec(&key).await,
                    None => Ok(Vec::new()),
                }
            }
        }))
        .buffered(STEP_FETCH_CONCURRENCY)
        .try_collect()
        .await?;

        Ok(Conversation::assemble(session, owner.active_root.as_deref(), turns, steps_of_turns))
    }
}

/// A session's steps (ordered by turn id, then idx) regrouped as one list per turn, in the
/// turns' order, each by idx, as the per-turn reads return them. Human turns get none.
fn steps_in_turn_order(turns: &[TurnBySession], steps: Vec<StepBySession>) -> Vec<Vec<StepByTurn>> {
    let mut by_turn: HashMap<String, Vec<StepByTurn>> = HashMap::new();
    for step in steps {
        by_turn.entry(step.turn_uid.clone()).or_default().push(step.into_step());
    }
    turns
        .iter()
        .map(|turn| match turn.turn_type {
            TurnType::Agent => by_turn.remove(&turn.turn_uid).unwrap_or_default(),
            TurnType::Human => Vec::new(),
        })
        .collect()
}

/// Follows `active_child` from the active root. A pointer to a turn that is not in the session
/// (not yet replicated, say) ends the path there; a turn whose pointer is unset continues with
/// its newest child, so a just-written branch is still shown.
fn active_path(turns: &[ConversationTurn], active_root: Option<&str>) -> Vec<String> {
    let by_id: HashMap<&str, &ConversationTurn> =
        turns.iter().map(|turn| (turn.turn.turn_uid.as_str(), turn)).collect();
    let roots: Vec<&ConversationTurn> = turns.iter().filter(|turn| turn.turn.parent_uid.is_none()).collect();
    let root = active_root.and_then(|root| by_id.get(root).copied()).or_else(|| roots.last().copied());
    let mut path = Vec::new();
    let mut current = root;
    while let Some(turn) = current {
        if path.len() > turns.len() {
            break; // A cycle cannot be written through this store; stop rather than loop on bad data.
        }
        path.push(turn.turn.turn_uid.clone());
        let next = turn.turn.active_child.as_deref().or_else(|| turn.children.last().map(String::as_str));
        current = next.and_then(|next| by_id.get(next).copied());
    }
    path
}
