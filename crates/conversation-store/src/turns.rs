//! Turns: appending human and agent turns, branching (regenerate, edit), the active path, likes
//! and navigation.
//!
//! Every turn write goes to `turns_by_session` and `turns_by_parent` in one logged batch with one
//! timestamp, together with the parent's new `active_child`. A root turn (no parent) is stored in
//! `turns_by_parent` under the partition [`root_parent_key`] of its session, because a partition
//! key cannot be null; its `parent_uid` in `turns_by_session` stays null.

use chrono::{DateTime, Duration, Utc};
use scylla_table::InsertOutcome;

use crate::change::Changed;
use crate::clock::{new_id, now_millis};
use crate::error::{StoreError, StoreResult};
use crate::limits::{check_id, check_text, MAX_PROMPT_BYTES};
use crate::rules::{check_child_of, check_located, TurnRule};
use crate::store::{not_found, session_key, ConversationStore};
use crate::tables::{
    session_owners, turns_by_session, PgOutboxEntry, SessionOwner, SessionOwnerPrimaryKey, TurnByParent,
    TurnByParentPartitionKey, TurnBySession, TurnBySessionPrimaryKey, TurnLocation, TurnLocationPrimaryKey, TurnType,
};

/// The `turns_by_parent` partition that holds a session's root turns.
///
/// ```
/// assert_eq!(conversation_store::root_parent_key("s1"), "root:s1");
/// ```
pub fn root_parent_key(session_uid: &str) -> String {
    format!("{}{session_uid}", crate::limits::RESERVED_ID_PREFIX)
}

impl ConversationStore {
    /// Appends a human turn with `prompt` under `parent` (an agent turn), or as the first turn of
    /// the session when `parent` is `None`. `turn_uid` lets a caller retry without duplicating the
    /// turn; `None` picks a new id. The new turn becomes its parent's active child.
    pub async fn append_human_turn(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
        prompt: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        check_text("prompt", prompt, MAX_PROMPT_BYTES)?;
        let owner = self.owned_session(account_uid, session_uid).await?;
        let parent = match parent {
            Some(parent) => Some(self.expect_turn(&owner, parent, TurnRule::HumanAnswersAgent).await?),
            None => None,
        };
        self.write_turn(&owner, parent.as_ref(), TurnType::Human, Some(prompt), turn_uid).await
    }

    /// Appends an agent turn answering the human turn `parent`. Its steps follow with
    /// [`ConversationStore::append_step`].
    pub async fn append_agent_turn(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        let owner = self.owned_session(account_uid, session_uid).await?;
        let parent = self.expect_turn(&owner, parent, TurnRule::AgentAnswersHuman).await?;
        self.write_turn(&owner, Some(&parent), TurnType::Agent, None, turn_uid).await
    }

    /// A new answer to the same prompt: a sibling of `agent_turn`, which stays as a branch.
    pub async fn regenerate(
        &self,
        account_uid: &str,
        session_uid: &str,
        agent_turn: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        let owner = self.owned_session(account_uid, session_uid).await?;
        let original = self.expect_turn(&owner, agent_turn, TurnRule::Regenerate).await?;
        let parent_uid = original.parent_uid.ok_or_else(|| not_found("turn", agent_turn))?;
        self.append_agent_turn(account_uid, session_uid, &parent_uid, turn_uid).await
    }

    /// A changed prompt: a sibling of `human_turn` with `prompt`, which stays as a branch.
    pub async fn edit(
        &self,
        account_uid: &str,
        session_uid: &str,
        human_turn: &str,
        prompt: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        let owner = self.owned_session(account_uid, session_uid).await?;
        let original = self.expect_turn(&owner, human_turn, TurnRule::Edit).await?;
        self.append_human_turn(account_uid, session_uid, original.parent_uid.as_deref(), prompt, turn_uid).await
    }

    /// Makes `child` the active child of `parent` (of the session's root level when `None`).
    pub async fn set_active_child(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
        child: &str,
    ) -> StoreResult<()> {
        let owner = self.owned_session(account_uid, session_uid).await?;
        let child_location = self.located_turn(&owner, child).await?;
        check_child_of(parent, child, child_location.parent_uid.as_deref())?;
        let active = Some(child.to_owned());
        match parent {
            Some(parent) => {
                let parent_location = self.located_turn(&owner, parent).await?;
                let key = turn_key(&parent_location);
                let located = self.recorded_write(&self.tables.locations, &location_key(parent)).await?;
                let changed = (session_uid, Changed::Turn { turn_uid: parent.to_owned() });
                let column = turns_by_session::active_child;
                self.update_recorded(&self.tables.turns, &key, column, &active, changed, located).await
            }
            None => {
                let key = SessionOwnerPrimaryKey { session_uid: owner.session_uid.clone() };
                let session_written = self.recorded_write(&self.tables.sessions, &session_key(&owner)).await?;
                let changed = (session_uid, Changed::Session);
                let column = session_owners::active_root;
                self.update_recorded(&self.tables.owners, &key, column, &active, changed, session_written).await
            }
        }
    }

    /// Likes (`Some(true)`), dislikes (`Some(false)`) or clears the feedback (`None`) of an agent turn.
    pub async fn set_liked(
        &self,
        account_uid: &str,
        session_uid: &str,
        agent_turn: &str,
        liked: Option<bool>,
    ) -> StoreResult<()> {
        let owner = self.owned_session(account_uid, session_uid).await?;
        let location = self.expect_turn(&owner, agent_turn, TurnRule::Like).await?;
        let changed = (session_uid, Changed::Turn { turn_uid: agent_turn.to_owned() });
        let located = self.recorded_write(&self.tables.locations, &location_key(agent_turn)).await?;
        let key = turn_key(&location);
        self.update_recorded(&self.tables.turns, &key, turns_by_session::liked, &liked, changed, located).await
    }

    /// The children of `parent` (the session's root turns when `None`), oldest first.
    pub async fn children(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
    ) -> StoreResult<Vec<TurnByParent>> {
        let owner = self.owned_session(account_uid, session_uid).await?;
        let parent_uid = match parent {
            Some(parent) => self.located_turn(&owner, parent).await?.turn_uid,
            None => root_parent_key(&owner.session_uid),
        };
        Ok(self.tables.parents.partition_vec(&TurnByParentPartitionKey { parent_uid }).await?)
    }

    /// Where a turn of this session is, or NotFound (also when it is in another session).
    pub(crate) async fn located_turn(&self, owner: &SessionOwner, turn_uid: &str) -> StoreResult<TurnLocation> {
        check_id("turn_uid", turn_uid)?;
        let found = self.tables.locations.get(&TurnLocationPrimaryKey { turn_uid: turn_uid.to_owned() }).await?;
        check_located(turn_uid, &owner.session_uid, found, |location| &location.session_uid)
    }

    /// A turn of this session that meets `rule`.
    async fn expect_turn(&self, owner: &SessionOwner, turn_uid: &str, rule: TurnRule) -> StoreResult<TurnLocation> {
        let location = self.located_turn(owner, turn_uid).await?;
        rule.check(turn_uid, location.turn_type)?;
        Ok(location)
    }

    /// Claims the turn id, then writes the turn, its `turns_by_parent` copy and the parent's
    /// active child in one logged batch.
    async fn write_turn(
        &self,
        owner: &SessionOwner,
        parent: Option<&TurnLocation>,
        turn_type: TurnType,
        prompt: Option<&str>,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        let (turn_uid, created_at) = new_turn_identity(turn_uid, parent.map(|parent| parent.created_at))?;
        let claim = TurnLocation {
            turn_uid: turn_uid.clone(),
            session_uid: owner.session_uid.clone(),
            created_at,
            turn_type,
            parent_uid: parent.map(|parent| parent.turn_uid.clone()),
        };
        // Claiming the id first makes a retry reuse the first attempt's created_at, so it
        // overwrites the same rows instead of adding a second copy of the turn.
        let created_at: DateTime<Utc> = match self.tables.locations.insert_if_not_exists(&claim).await? {
            InsertOutcome::Applied => created_at,
            InsertOutcome::NotApplied(existing)
                if existing.session_uid == claim.session_uid
                    && existing.parent_uid == claim.parent_uid
                    && existing.turn_type == claim.turn_type =>
            {
                existing.created_at
            }
            InsertOutcome::NotApplied(_) => return Err(StoreError::Conflict { what: "turn", id: turn_uid }),
        };

        let turn = TurnBySession {
            session_uid: owner.session_uid.clone(),
            created_at,
            turn_uid: turn_uid.clone(),
            turn_type,
            parent_uid: claim.parent_uid.clone(),
            active_child: None,
            prompt: prompt.map(str::to_owned),
            liked: None,
        };
        let by_parent = TurnByParent {
            parent_uid: claim.parent_uid.clone().unwrap_or_else(|| root_parent_key(&owner.session_uid)),
            created_at,
            turn_uid: turn_uid.clone(),
            session_uid: owner.session_uid.clone(),
            turn_type,
        };
        let active = Some(turn_uid.clone());
        let parent_key = parent.map(turn_key);
        let owner_key = SessionOwnerPrimaryKey { session_uid: owner.session_uid.clone() };

        // The turn, and the parent turn (or the session's root) whose active child it becomes.
        let changed_parent = match parent {
            Some(parent) => Changed::Turn { turn_uid: parent.turn_uid.clone() },
            None => Changed::Session,
        };
        // A recorded change is stamped past the parent's newest writes, whose active child it
        // sets (its two ScyllaDB rows: the turn's, or for a root the session's two).
        let stamp = if self.writes_outbox {
            let written = match (parent, &parent_key) {
                (Some(parent), Some(parent_key)) => [
                    self.newest_write(&self.tables.turns, parent_key).await?,
                    self.newest_write(&self.tables.locations, &location_key(&parent.turn_uid)).await?,
                ],
                _ => [
                    self.newest_write(&self.tables.owners, &owner_key).await?,
                    self.newest_write(&self.tables.sessions, &session_key(owner)).await?,
                ],
            };
            Some(ConversationStore::stamp_after(&written))
        } else {
            None
        };
        let changes = [Changed::Turn { turn_uid: turn_uid.clone() }, changed_parent];
        let entries = self.outbox_entries(&owner.session_uid, &changes, stamp);
        let slots = PgOutboxEntry::slot_rows(&entries);
        // New rows: `None` columns stay unset, so the turn leaves no tombstones behind.
        let mut batch = self.db.logged_batch();
        if let Some(stamp) = stamp {
            batch = batch.with_timestamp(stamp);
        }
        batch.insert_new(&turn).await?;
        batch.insert_new(&by_parent).await?;
        PgOutboxEntry::add_to(&entries, &slots, &mut batch).await?;
        match &parent_key {
            Some(parent_key) => {
                batch.set(parent_key, turns_by_session::active_child, &active).await?;
            }
            None => {
                batch.set(&owner_key, session_owners::active_root, &active).await?;
            }
        }
        batch.execute().await?;
        self.tables.record_again_if_late(&entries).await?;
        Ok(turn)
    }
}

/// A new turn's id (the caller's, checked, or a new one) and creation time. A child sorts after
/// its parent even when both are written within one millisecond. Every store names and times
/// turns through this, so they order turns the same way.
pub fn new_turn_identity(
    turn_uid: Option<&str>,
    parent_created_at: Option<DateTime<Utc>>,
) -> StoreResult<(String, DateTime<Utc>)> {
    let turn_uid = match turn_uid {
        Some(turn_uid) => {
            check_id("turn_uid", turn_uid)?;
            turn_uid.to_owned()
        }
        None => new_id(),
    };
    let created_at = match parent_created_at {
        Some(parent) => now_millis().max(parent + Duration::milliseconds(1)),
        None => now_millis(),
    };
    Ok((turn_uid, created_at))
}

/// The `turns_by_uid` key of a turn.
fn location_key(turn_uid: &str) -> TurnLocationPrimaryKey {
    TurnLocationPrimaryKey { turn_uid: turn_uid.to_owned() }
}

/// The `turns_by_session` key of a located turn.
pub(crate) fn turn_key(location: &TurnLocation) -> TurnBySessionPrimaryKey {
    TurnBySessionPrimaryKey {
        session_uid: location.session_uid.clone(),
        created_at: location.created_at,
        turn_uid: location.turn_uid.clone(),
    }
}
