//! The driver's own best case: the ScyllaDB patterns as bare prepared statements on the scylla
//! driver, each row read into a struct of the driver's `DeserializeRow` derive in column order. It
//! reads the same partitions and rows as [`crate::scylla_side`], so the two differ only in what this
//! project adds on the client: the table mapping, the statement cache, the error context.
//! It also counts what each operation costs on the wire: requests and the bytes of the rows.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use scylla::response::query_result::QueryRowsResult;
use scylla::statement::prepared::PreparedStatement;
use scylla::DeserializeRow;
use scylla_table::Database;

use crate::scylla_side::STEP_CONCURRENCY;

/// What one operation read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    pub rows: usize,
    /// Requests sent to the database.
    pub requests: usize,
    /// Bytes of the rows in the responses (the values with their length prefixes).
    pub bytes: usize,
}

impl Work {
    fn of(result: &QueryRowsResult) -> Work {
        Work { rows: result.rows_num(), requests: 1, bytes: result.rows_bytes_size() }
    }

    pub(crate) fn add(self, other: Work) -> Work {
        Work { rows: self.rows + other.rows, requests: self.requests + other.requests, bytes: self.bytes + other.bytes }
    }
}

#[derive(DeserializeRow)]
#[scylla(flavor = "enforce_order", skip_name_checks)]
#[allow(dead_code)] // read to pay for the mapping, as an application would
struct TurnRow {
    session_uid: String,
    created_at: DateTime<Utc>,
    turn_uid: String,
    turn_type: String,
    parent_uid: Option<String>,
    active_child: Option<String>,
    prompt: Option<String>,
    liked: Option<bool>,
}

#[derive(DeserializeRow)]
#[scylla(flavor = "enforce_order", skip_name_checks)]
#[allow(dead_code)]
struct StepRow {
    turn_uid: String,
    idx: i32,
    tpe: i32,
    content: String,
    created_at: DateTime<Utc>,
}

#[derive(DeserializeRow)]
#[scylla(flavor = "enforce_order", skip_name_checks)]
#[allow(dead_code)]
struct SessionStepRow {
    session_uid: String,
    turn_uid: String,
    idx: i32,
    tpe: i32,
    content: String,
    created_at: DateTime<Utc>,
}

#[derive(DeserializeRow)]
#[scylla(flavor = "enforce_order", skip_name_checks)]
#[allow(dead_code)]
struct SessionRow {
    account_uid: String,
    created_at: DateTime<Utc>,
    session_uid: String,
    title: String,
    deleted_at: Option<DateTime<Utc>>,
}

#[derive(DeserializeRow)]
#[scylla(flavor = "enforce_order", skip_name_checks)]
#[allow(dead_code)]
struct ChildRow {
    parent_uid: String,
    created_at: DateTime<Utc>,
    turn_uid: String,
    session_uid: String,
    turn_type: String,
}

struct Statements {
    turns: PreparedStatement,
    steps_by_turn: PreparedStatement,
    steps_by_session: PreparedStatement,
    recent_sessions: PreparedStatement,
    children: PreparedStatement,
}

/// The patterns on bare prepared statements. Cheap to clone.
#[derive(Clone)]
pub struct RawScylla {
    db: Database,
    statements: Arc<Statements>,
}

/// The driver's error, as text: only its message reaches the report.
pub type RawResult<T> = Result<T, String>;

impl RawScylla {
    /// Prepares the patterns' statements on `db`'s keyspace, with the consistency the tables read at.
    pub async fn prepare(db: &Database) -> Result<RawScylla, scylla_table::Error> {
        let keyspace = db.keyspace();
        let prepare = |cql: String| {
            let consistency = db.consistency().read;
            async move {
                let mut statement = db.session().prepare(cql.as_str()).await.map_err(|source| {
                    scylla_table::Error::Query { action: format!("preparing `{cql}`"), source: source.into() }
                })?;
                statement.set_consistency(consistency);
                statement.set_is_idempotent(true);
                Ok::<_, scylla_table::Error>(statement)
            }
        };
        let statements = Statements {
            turns: prepare(format!(
                "SELECT session_uid, created_at, turn_uid, turn_type, parent_uid, active_child, prompt, liked \
                 FROM {keyspace}.turns_by_session WHERE session_uid = ?"
            ))
            .await?,
            steps_by_turn: prepare(format!(
                "SELECT turn_uid, idx, tpe, content, created_at FROM {keyspace}.steps_by_turn WHERE turn_uid = ?"
            ))
            .await?,
            steps_by_session: prepare(format!(
                "SELECT session_uid, turn_uid, idx, tpe, content, created_at FROM {keyspace}.steps_by_session \
                 WHERE session_uid = ?"
            ))
            .await?,
            recent_sessions: prepare(format!(
                "SELECT account_uid, created_at, session_uid, title, deleted_at FROM {keyspace}.sessions_by_user \
                 WHERE account_uid = ? LIMIT 20"
            ))
            .await?,
            children: prepare(format!(
                "SELECT parent_uid, created_at, turn_uid, session_uid, turn_type FROM {keyspace}.turns_by_parent \
                 WHERE parent_uid = ?"
            ))
            .await?,
        };
        Ok(RawScylla { db: db.clone(), statements: Arc::new(statements) })
    }

    /// One single-partition read, every row mapped into `R`.
    async fn read<R>(&self, statement: &PreparedStatement, key: &str) -> RawResult<(Vec<R>, Work)>
    where
        R: for<'frame, 'metadata> scylla::deserialize::row::DeserializeRow<'frame, 'metadata>,
    {
        let result = self.db.session().execute_unpaged(statement, (key,)).await.map_err(|error| error.to_string())?;
        let result = result.into_rows_result().map_err(|error| error.to_string())?;
        let rows = result
            .rows::<R>()
            .map_err(|error| error.to_string())?
            .collect::<Result<Vec<R>, _>>()
            .map_err(|error| error.to_string())?;
        Ok((rows, Work::of(&result)))
    }

    /// The design's 1 + N reads: the session's turns, then each agent turn's steps concurrently.
    pub async fn load_conversation(&self, session_uid: String) -> RawResult<Work> {
        let (turns, work) = self.read::<TurnRow>(&self.statements.turns, &session_uid).await?;
        let agent_turns: Vec<String> =
            turns.into_iter().filter(|turn| turn.turn_type == "agent").map(|turn| turn.turn_uid).collect();
        let this = self.clone();
        let steps: Vec<Work> =
            futures::stream::iter(
                agent_turns.into_iter().map(move |turn_uid| {
                    let this = this.clone();
                    async move {
                        this.read::<StepRow>(&this.statements.steps_by_turn, &turn_uid).await.map(|(_, work)| work)
                    }
                }),
            )
            .buffered(STEP_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(steps.into_iter().fold(work, Work::add))
    }

    /// Two concurrent reads: the session's turns and `steps_by_session`.
    pub async fn load_conversation_in_two_reads(&self, session_uid: String) -> RawResult<Work> {
        let ((_, turns), (_, steps)) = futures::try_join!(
            self.read::<TurnRow>(&self.statements.turns, &session_uid),
            self.read::<SessionStepRow>(&self.statements.steps_by_session, &session_uid)
        )?;
        Ok(turns.add(steps))
    }

    pub async fn recent_sessions(&self, account_uid: String) -> RawResult<Work> {
        Ok(self.read::<SessionRow>(&self.statements.recent_sessions, &account_uid).await?.1)
    }

    pub async fn children(&self, parent_uid: String) -> RawResult<Work> {
        Ok(self.read::<ChildRow>(&self.statements.children, &parent_uid).await?.1)
    }
}
