//! Loading a conversation: every turn in order, each with its steps, as a tree with an active path.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};

use crate::error::StoreResult;
use crate::store::ConversationStore;
use crate::tables::Session;
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).expect("a valid time")
    }

    fn session() -> Session {
        Session {
            account_uid: "acct".into(),
            created_at: at(0),
            session_uid: "s".into(),
            title: "t".into(),
            deleted_at: None,
        }
    }

    /// A turn created `ms` after the session, under `parent`, pointing at `active_child`.
    fn turn(uid: &str, ms: i64, parent: Option<&str>, active_child: Option<&str>) -> TurnBySession {
        let turn_type = if uid.starts_with('h') { TurnType::Human } else { TurnType::Agent };
        TurnBySession {
            session_uid: "s".into(),
            created_at: at(ms),
            turn_uid: uid.into(),
            turn_type,
            parent_uid: parent.map(str::to_owned),
            active_child: active_child.map(str::to_owned),
            prompt: (turn_type == TurnType::Human).then(|| format!("prompt of {uid}")),
            liked: None,
        }
    }

    fn step(turn_uid: &str, idx: i32) -> StepByTurn {
        StepByTurn { turn_uid: turn_uid.into(), idx, tpe: 1, content: format!("{turn_uid}#{idx}"), created_at: at(1) }
    }

    fn assemble(active_root: Option<&str>, turns: Vec<TurnBySession>) -> Conversation {
        let steps = turns
            .iter()
            .map(|turn| if turn.turn_type == TurnType::Agent { vec![step(&turn.turn_uid, 0)] } else { Vec::new() })
            .collect();
        Conversation::assemble(session(), active_root, turns, steps)
    }

    #[test]
    fn a_tree_is_assembled_with_children_in_order_and_steps_on_their_turns() {
        let turns = vec![
            turn("h1", 1, None, Some("a1")),
            turn("a1", 2, Some("h1"), None),
            turn("a2", 3, Some("h1"), None),
            turn("h2", 4, Some("a1"), None),
        ];
        let conversation = assemble(Some("h1"), turns);
        assert_eq!(conversation.turn("h1").map(|turn| turn.children.clone()), Some(vec!["a1".into(), "a2".into()]));
        assert_eq!(conversation.turn("a1").map(|turn| turn.children.clone()), Some(vec!["h2".into()]));
        assert_eq!(conversation.turn("a2").map(|turn| turn.steps[0].content.clone()), Some("a2#0".into()));
        assert!(conversation.turn("h2").is_some_and(|turn| turn.steps.is_empty()));
        assert_eq!(conversation.roots().map(|turn| turn.turn.turn_uid.as_str()).collect::<Vec<_>>(), ["h1"]);
        assert!(conversation.turn("nowhere").is_none());
    }

    #[test]
    fn the_active_path_follows_the_pointers_and_else_the_newest_child() {
        let turns = vec![
            turn("h1", 1, None, Some("a1")),
            turn("a1", 2, Some("h1"), None),
            turn("a2", 3, Some("h1"), None),
            turn("h2", 4, Some("a1"), None),
            turn("h3", 5, Some("a1"), None),
        ];
        // h1 points at a1; a1 points nowhere, so its newest child, h3, follows.
        assert_eq!(assemble(Some("h1"), turns.clone()).active_path, ["h1", "a1", "h3"]);
        let conversation = assemble(Some("h1"), turns);
        let active: Vec<&str> = conversation.active_turns().map(|turn| turn.turn.turn_uid.as_str()).collect();
        assert_eq!(active, ["h1", "a1", "h3"]);
    }

    #[test]
    fn without_a_known_active_root_the_newest_root_starts_the_path() {
        let turns = vec![turn("h1", 1, None, None), turn("h9", 9, None, None)];
        assert_eq!(assemble(None, turns.clone()).active_path, ["h9"]);
        assert_eq!(assemble(Some("gone"), turns.clone()).active_path, ["h9"]);
        assert_eq!(assemble(Some("h1"), turns).active_path, ["h1"]);
    }

    #[test]
    fn a_pointer_to_a_missing_turn_ends_the_path_and_a_cycle_stops() {
        let dangling = vec![turn("h1", 1, None, Some("a-not-yet-replicated")), turn("a1", 2, Some("h1"), None)];
        assert_eq!(assemble(Some("h1"), dangling).active_path, ["h1"]);
        let cycle = vec![turn("h1", 1, None, Some("a1")), turn("a1", 2, Some("h1"), Some("h1"))];
        // The guard lets one turn repeat before it stops: bad data shows, and nothing loops.
        assert_eq!(assemble(Some("h1"), cycle).active_path, ["h1", "a1", "h1"]);
        assert_eq!(assemble(None, Vec::new()).active_path, Vec::<String>::new());
    }

    #[test]
    fn a_sessions_steps_are_regrouped_per_turn_in_the_turns_order() {
        let turns = vec![turn("h1", 1, None, None), turn("a2", 2, Some("h1"), None), turn("a1", 3, Some("h1"), None)];
        // As steps_by_session holds them: by turn id, then idx.
        let steps = vec![
            StepBySession::of("s", &step("a1", 0)),
            StepBySession::of("s", &step("a1", 1)),
            StepBySession::of("s", &step("a2", 0)),
        ];
        let grouped = steps_in_turn_order(&turns, steps);
        let contents: Vec<Vec<&str>> =
            grouped.iter().map(|steps| steps.iter().map(|step| step.content.as_str()).collect()).collect();
        assert_eq!(contents, [vec![], vec!["a2#0"], vec!["a1#0", "a1#1"]]);
        assert_eq!(StepBySession::of("s", &step("a1", 1)).into_step(), step("a1", 1));
    }
}
