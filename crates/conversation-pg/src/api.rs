//! `ConversationApi` for `PgStore`: each write is one transaction that starts by locking the
//! session row; each read runs on a pooled connection.

use conversation_store::limits::{check_id, check_page_size, check_step_idx, check_text, check_title};
use conversation_store::limits::{MAX_PROMPT_BYTES, MAX_STEP_CONTENT_BYTES};
use conversation_store::rules::TurnRule;
use conversation_store::{
    new_id, now_millis, Conversation, ConversationApi, Session, SessionCursor, SessionPage, StepByTurn, StoreResult,
    TurnByParent, TurnBySession, TurnType,
};

use crate::rows::{SessionRow, TurnRow};
use crate::sessions::{self, SessionChange};
use crate::store::{not_found, owned_session, pg, PgStore};
use crate::writer::Writer;
use crate::{conversation, steps, turns};

/// Runs `$body` with `$writer` in a transaction on `$store`, committing if it returns `Ok`.
/// Dropping the transaction on `Err` rolls it back, so a refused write leaves nothing behind.
macro_rules! in_transaction {
    ($store:expr, |$writer:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let tx = crate::store::read_committed(&mut client).await?;
        let result = match Writer::begin(&tx, $store.recording).await {
            Ok($writer) => {
                let result = $body;
                result.map(|value| (value, $writer.into_written()))
            }
            Err(error) => Err(error),
        };
        match result {
            Ok((value, written)) => {
                tx.commit().await.map_err(pg("committing"))?;
                $store.collect_written(written);
                Ok(value)
            }
            Err(error) => Err(error),
        }
    }};
}

impl PgStore {
    /// Deletes a session and all its turns and steps for good (the right to be forgotten). With
    /// the outbox on, the change is recorded, and the relay removes every ScyllaDB copy with
    /// tombstones at the delete's version. Not part of [`ConversationApi`]: users soft-delete.
    pub async fn purge_session(&self, account_uid: &str, session_uid: &str) -> StoreResult<i64> {
        in_transaction!(self, |writer| {
            sessions::lock_against_copies(writer.tx, session_uid).await?;
            let session = owned_session(writer.tx, account_uid, session_uid, true).await?;
            sessions::purge(&writer, &session).await
        })
    }
}

/// Checks the parent's kind, then writes the turn.
async fn append_turn(
    writer: &Writer<'_>,
    session: &SessionRow,
    parent: Option<&str>,
    turn_type: TurnType,
    prompt: Option<&str>,
    turn_uid: Option<&str>,
) -> StoreResult<TurnBySession> {
    let parent = match parent {
        Some(parent) => Some(turns::expect(writer.tx, session, parent, TurnRule::parent_of(turn_type)).await?),
        None => None,
    };
    Ok(turns::write(writer, session, parent.as_ref(), turn_type, prompt, turn_uid).await?.to_turn())
}

impl ConversationApi for PgStore {
    async fn create_session(&self, account_uid: &str, title: &str) -> StoreResult<Session> {
        self.create_session_with_id(account_uid, &new_id(), title).await
    }

    async fn create_session_with_id(&self, account_uid: &str, session_uid: &str, title: &str) -> StoreResult<Session> {
        check_id("account_uid", account_uid)?;
        check_id("session_uid", session_uid)?;
        check_title(title)?;
        in_transaction!(self, |writer| sessions::create(&writer, account_uid, session_uid, title).await)
            .map(|session: SessionRow| session.to_session())
    }

    async fn session(&self, account_uid: &str, session_uid: &str) -> StoreResult<Session> {
        let client = self.client().await?;
        Ok(owned_session(&**client, account_uid, session_uid, false).await?.to_session())
    }

    async fn rename_session(&self, account_uid: &str, session_uid: &str, title: &str) -> StoreResult<()> {
        check_title(title)?;
        in_transaction!(self, |writer| {
            owned_session(writer.tx, account_uid, session_uid, true).await?;
            sessions::change(&writer, session_uid, SessionChange::Title(title)).await
        })
    }

    async fn delete_session(&self, account_uid: &str, session_uid: &str) -> StoreResult<()> {
        in_transaction!(self, |writer| {
            owned_session(writer.tx, account_uid, session_uid, true).await?;
            sessions::change(&writer, session_uid, SessionChange::DeletedAt(Some(now_millis()))).await
        })
    }

    async fn restore_session(&self, account_uid: &str, session_uid: &str) -> StoreResult<()> {
        in_transaction!(self, |writer| {
            owned_session(writer.tx, account_uid, session_uid, true).await?;
            sessions::change(&writer, session_uid, SessionChange::DeletedAt(None)).await
        })
    }

    async fn recent_sessions(
        &self,
        account_uid: &str,
        page_size: usize,
        after: Option<&SessionCursor>,
    ) -> StoreResult<SessionPage> {
        check_id("account_uid", account_uid)?;
        check_page_size(page_size)?;
        let client = self.client().await?;
        sessions::recent(&**client, account_uid, page_size, after).await
    }

    async fn append_human_turn(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
        prompt: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        check_text("prompt", prompt, MAX_PROMPT_BYTES)?;
        in_transaction!(self, |writer| {
            let session = owned_session(writer.tx, account_uid, session_uid, true).await?;
            append_turn(&writer, &session, parent, TurnType::Human, Some(prompt), turn_uid).await
        })
    }

    async fn append_agent_turn(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        in_transaction!(self, |writer| {
            let session = owned_session(writer.tx, account_uid, session_uid, true).await?;
            append_turn(&writer, &session, Some(parent), TurnType::Agent, None, turn_uid).await
        })
    }

    async fn regenerate(
        &self,
        account_uid: &str,
        session_uid: &str,
        agent_turn: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        in_transaction!(self, |writer| {
            let session = owned_session(writer.tx, account_uid, session_uid, true).await?;
            let original = turns::expect(writer.tx, &session, agent_turn, TurnRule::Regenerate).await?;
            let parent = original.parent_uid.ok_or_else(|| not_found("turn", agent_turn))?;
            append_turn(&writer, &session, Some(&parent), TurnType::Agent, None, turn_uid).await
        })
    }

    async fn edit(
        &self,
        account_uid: &str,
        session_uid: &str,
        human_turn: &str,
        prompt: &str,
        turn_uid: Option<&str>,
    ) -> StoreResult<TurnBySession> {
        in_transaction!(self, |writer| {
            let session = owned_session(writer.tx, account_uid, session_uid, true).await?;
            let original: TurnRow = turns::expect(writer.tx, &session, human_turn, TurnRule::Edit).await?;
            // The prompt is checked where the ScyllaDB store checks it: after the turn.
            check_text("prompt", prompt, MAX_PROMPT_BYTES)?;
            append_turn(&writer, &session, original.parent_uid.as_deref(), TurnType::Human, Some(prompt), turn_uid)
                .await
        })
    }

    async fn set_active_child(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
        child: &str,
    ) -> StoreResult<()> {
        in_transaction!(self, |writer| {
            let session = owned_session(writer.tx, account_uid, session_uid, true).await?;
            let child_turn = turns::located(writer.tx, &session, child).await?;
            conversation_store::rules::check_child_of(parent, child, child_turn.parent_uid.as_deref())?;
            match parent {
                Some(parent) => {
                    let parent = turns::located(writer.tx, &session, parent).await?;
                    turns::set_active_child_of(&writer, &parent, child).await
                }
                None => sessions::change(&writer, session_uid, SessionChange::ActiveRoot(child)).await,
            }
        })
    }

    async fn set_liked(
        &self,
        account_uid: &str,
        session_uid: &str,
        agent_turn: &str,
        liked: Option<bool>,
    ) -> StoreResult<()> {
        in_transaction!(self, |writer| {
            let session = owned_session(writer.tx, account_uid, session_uid, true).await?;
            let turn = turns::expect(writer.tx, &session, agent_turn, TurnRule::Like).await?;
            turns::set_liked(&writer, &turn, liked).await
        })
    }

    async fn append_step(
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
        in_transaction!(self, |writer| {
            let session = owned_session(writer.tx, account_uid, session_uid, true).await?;
            let turn = turns::located(writer.tx, &session, turn_uid).await?;
            steps::append(&writer, &turn, idx, tpe, content).await
        })
        .map(|step: crate::rows::StepRow| step.to_step())
    }

    async fn load_conversation(&self, account_uid: &str, session_uid: &str) -> StoreResult<Conversation> {
        let client = self.client().await?;
        let session = sessions::visible(&**client, account_uid, session_uid).await?;
        conversation::load(&**client, session).await
    }

    async fn children(
        &self,
        account_uid: &str,
        session_uid: &str,
        parent: Option<&str>,
    ) -> StoreResult<Vec<TurnByParent>> {
        let client = self.client().await?;
        let session = owned_session(&**client, account_uid, session_uid, false).await?;
        let parent = match parent {
            Some(parent) => Some(turns::located(&**client, &session, parent).await?.uid),
            None => None,
        };
        turns::children(&**client, &session, parent.as_deref()).await
    }
}
