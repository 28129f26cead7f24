//! Bulk loading whole sessions with multi-row inserts: for seeding a data set, not for the
//! application's writes (no checks, no outbox).

use crate::typed;
use chrono::{DateTime, Utc};
use conversation_store::{StoreResult, TurnType};

use crate::snapshot::SessionSnapshot;
use crate::store::{pg, PgStore};

impl PgStore {
    /// Inserts the sessions with all their rows, as given (versions included), in one
    /// transaction of `INSERT ... SELECT FROM UNNEST(...)` per table.
    pub async fn bulk_insert(&self, sessions: &[SessionSnapshot]) -> StoreResult<()> {
        let mut columns = Columns::default();
        for snapshot in sessions {
            columns.add(snapshot);
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg("starting a transaction"))?;
        crate::marker::mark_as_store(&*tx).await?;
        tx.execute_typed(
            "INSERT INTO sessions (uid, account_uid, title, created_at, deleted_at, active_root, version)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                                  $6::text[], $7::int8[])",
            typed![
                &columns.session_uid,
                &columns.session_account,
                &columns.session_title,
                &columns.session_created,
                &columns.session_deleted,
                &columns.session_active_root,
                &columns.session_version,
            ],
        )
        .await
        .map_err(pg("loading sessions"))?;
        tx.execute_typed(
            "INSERT INTO human_turns (uid, session_uid, parent_uid, active_child, prompt, created_at, version)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                                  $7::int8[])",
            typed![
                &columns.human_uid,
                &columns.human_session,
                &columns.human_parent,
                &columns.human_active_child,
                &columns.human_prompt,
                &columns.human_created,
                &columns.human_version,
            ],
        )
        .await
        .map_err(pg("loading human turns"))?;
        tx.execute_typed(
            "INSERT INTO agent_turns (uid, session_uid, parent_uid, active_child, liked, created_at, version)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::timestamptz[],
                                  $7::int8[])",
            typed![
                &columns.agent_uid,
                &columns.agent_session,
                &columns.agent_parent,
                &columns.agent_active_child,
                &columns.agent_liked,
                &columns.agent_created,
                &columns.agent_version,
            ],
        )
        .await
        .map_err(pg("loading agent turns"))?;
        tx.execute_typed(
            "INSERT INTO steps (agent_turn_uid, idx, tpe, content, created_at, version)
             SELECT * FROM UNNEST($1::text[], $2::int[], $3::int[], $4::text[], $5::timestamptz[], $6::int8[])",
            typed![
                &columns.step_turn,
                &columns.step_idx,
                &columns.step_tpe,
                &columns.step_content,
                &columns.step_created,
                &columns.step_version,
            ],
        )
        .await
        .map_err(pg("loading steps"))?;
        tx.commit().await.map_err(pg("committing the load"))
    }
}

/// Sessions as column arrays, one per table column.
#[derive(Default)]
struct Columns {
    session_uid: Vec<String>,
    session_account: Vec<String>,
    session_title: Vec<String>,
    session_created: Vec<DateTime<Utc>>,
    session_deleted: Vec<Option<DateTime<Utc>>>,
    session_active_root: Vec<Option<String>>,
    session_version: Vec<i64>,
    human_uid: Vec<String>,
    human_session: Vec<String>,
    human_parent: Vec<Option<String>>,
    human_active_child: Vec<Option<String>>,
    human_prompt: Vec<String>,
    human_created: Vec<DateTime<Utc>>,
    human_version: Vec<i64>,
    agent_uid: Vec<String>,
    agent_session: Vec<String>,
    agent_parent: Vec<Option<String>>,
    agent_active_child: Vec<Option<String>>,
    agent_liked: Vec<Option<bool>>,
    agent_created: Vec<DateTime<Utc>>,
    agent_version: Vec<i64>,
    step_turn: Vec<String>,
    step_idx: Vec<i32>,
    step_tpe: Vec<i32>,
    step_content: Vec<String>,
    step_created: Vec<DateTime<Utc>>,
    step_version: Vec<i64>,
}

impl Columns {
    fn add(&mut self, snapshot: &SessionSnapshot) {
        let session = &snapshot.session;
        self.session_uid.push(session.uid.clone());
        self.session_account.push(session.account_uid.clone());
        self.session_title.push(session.title.clone());
        self.session_created.push(session.created_at);
        self.session_deleted.push(session.deleted_at);
        self.session_active_root.push(session.active_root.clone());
        self.session_version.push(session.version);
        for turn in &snapshot.turns {
            match turn.turn_type {
                TurnType::Human => {
                    self.human_uid.push(turn.uid.clone());
                    self.human_session.push(turn.session_uid.clone());
                    self.human_parent.push(turn.parent_uid.clone());
                    self.human_active_child.push(turn.active_child.clone());
                    self.human_prompt.push(turn.prompt.clone().unwrap_or_default());
                    self.human_created.push(turn.created_at);
                    self.human_version.push(turn.version);
                }
                TurnType::Agent => {
                    self.agent_uid.push(turn.uid.clone());
                    self.agent_session.push(turn.session_uid.clone());
                    self.agent_parent.push(turn.parent_uid.clone());
                    self.agent_active_child.push(turn.active_child.clone());
                    self.agent_liked.push(turn.liked);
                    self.agent_created.push(turn.created_at);
                    self.agent_version.push(turn.version);
                }
            }
        }
        for step in &snapshot.steps {
            self.step_turn.push(step.agent_turn_uid.clone());
            self.step_idx.push(step.idx);
            self.step_tpe.push(step.tpe);
            self.step_content.push(step.content.clone());
            self.step_created.push(step.created_at);
            self.step_version.push(step.version);
        }
    }
}
