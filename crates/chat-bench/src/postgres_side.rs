//! The relational side: the design's PostgreSQL schema (sessions, human_turns, agent_turns,
//! steps) with the indexes a DBA would add for these reads, the loader, and the three patterns.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use conversation_store::TurnType;
use tokio_postgres::{Client, NoTls, Statement};

use crate::dataset::{self, Scale};
use crate::progress::Progress;
use crate::BenchError;

/// Sessions per multi-row insert while loading.
const LOAD_CHUNK: usize = 200;

/// The relational schema, in its own PostgreSQL schema so scales do not mix.
fn schema_ddl(schema: &str) -> String {
    format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE;
         CREATE SCHEMA {schema};
         SET search_path TO {schema};
         CREATE TABLE sessions (
             uid text PRIMARY KEY,
             account_uid text NOT NULL,
             title text NOT NULL,
             created_at timestamptz NOT NULL,
             deleted_at timestamptz
         );
         CREATE TABLE human_turns (
             uid text PRIMARY KEY,
             session_uid text NOT NULL REFERENCES sessions (uid),
             parent_uid text,
             active_child text,
             prompt text NOT NULL,
             created_at timestamptz NOT NULL
         );
         CREATE TABLE agent_turns (
             uid text PRIMARY KEY,
             session_uid text NOT NULL REFERENCES sessions (uid),
             parent_uid text NOT NULL,
             active_child text,
             liked boolean,
             created_at timestamptz NOT NULL
         );
         CREATE TABLE steps (
             agent_turn_uid text NOT NULL REFERENCES agent_turns (uid),
             idx int NOT NULL,
             tpe int NOT NULL,
             content text NOT NULL,
             created_at timestamptz NOT NULL,
             PRIMARY KEY (agent_turn_uid, idx)
         );"
    )
}

/// Indexes for the three reads, created after the load (faster than maintaining them during it).
const INDEXES: &str = "
    CREATE INDEX sessions_by_account ON sessions (account_uid, created_at DESC) WHERE deleted_at IS NULL;
    CREATE INDEX human_turns_by_session ON human_turns (session_uid, created_at);
    CREATE INDEX agent_turns_by_session ON agent_turns (session_uid, created_at);
    CREATE INDEX human_turns_by_parent ON human_turns (parent_uid, created_at);
    CREATE INDEX agent_turns_by_parent ON agent_turns (parent_uid, created_at);
    ANALYZE;";

/// The design's query for loading a conversation, exactly as written there. It joins human and
/// agent turns on the session only, so it returns every human turn paired with every agent turn.
pub const SEED_LOAD_QUERY: &str = "SELECT ht.prompt, at.uid, s.idx, s.content
    FROM human_turns ht
    JOIN agent_turns at ON ht.session_uid = at.session_uid
    JOIN steps s ON at.uid = s.agent_turn_uid
    WHERE ht.session_uid = $1
    ORDER BY ht.created_at, at.created_at, s.idx";

/// The same read joined on the parent, which returns each step once: what the query means.
pub const PARENT_JOIN_LOAD_QUERY: &str = "SELECT ht.prompt, at.uid, s.idx, s.content
    FROM human_turns ht
    JOIN agent_turns at ON at.parent_uid = ht.uid
    JOIN steps s ON at.uid = s.agent_turn_uid
    WHERE ht.session_uid = $1
    ORDER BY ht.created_at, at.created_at, s.idx";

const HISTORY_QUERY: &str = "SELECT uid, title, created_at FROM sessions
    WHERE account_uid = $1 AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 20";

const CHILDREN_QUERY: &str = "SELECT uid, created_at, 'human' AS turn_type FROM human_turns WHERE parent_uid = $1
    UNION ALL SELECT uid, created_at, 'agent' FROM agent_turns WHERE parent_uid = $1
    ORDER BY created_at";

/// A pool of connections, each with the patterns' statements prepared.
pub struct PostgresSide {
    clients: Vec<(Client, Prepared)>,
    next: AtomicUsize,
}

struct Prepared {
    seed_load: Statement,
    parent_join_load: Statement,
    history: Statement,
    children: Statement,
}

pub async fn connect(connection: &str) -> Result<Client, BenchError> {
    let (client, driver) = tokio_postgres::connect(connection, NoTls).await.map_err(|source| BenchError::Postgres {
        action: format!("connecting with `{connection}` (start it with `cargo xtask db up`)"),
        source,
    })?;
    tokio::spawn(async move {
        if let Err(error) = driver.await {
            eprintln!("PostgreSQL connection closed: {error}");
        }
    });
    Ok(client)
}

fn pg(action: &str) -> impl FnOnce(tokio_postgres::Error) -> BenchError + '_ {
    move |source| BenchError::Postgres { action: action.to_owned(), source }
}

impl PostgresSide {
    /// Opens `connections` connections with `search_path` set to `schema`.
    pub async fn open(connection: &str, schema: &str, connections: usize) -> Result<PostgresSide, BenchError> {
        let mut clients = Vec::with_capacity(connections);
        for _ in 0..connections.max(1) {
            let client = connect(connection).await?;
            client.batch_execute(&format!("SET search_path TO {schema}")).await.map_err(pg("setting search_path"))?;
            let prepared = Prepared {
                seed_load: client.prepare(SEED_LOAD_QUERY).await.map_err(pg("preparing the seed's load query"))?,
                parent_join_load: client
                    .prepare(PARENT_JOIN_LOAD_QUERY)
                    .await
                    .map_err(pg("preparing the load query"))?,
                history: client.prepare(HISTORY_QUERY).await.map_err(pg("preparing the history query"))?,
                children: client.prepare(CHILDREN_QUERY).await.map_err(pg("preparing the children query"))?,
            };
            clients.push((client, prepared));
        }
        Ok(PostgresSide { clients, next: AtomicUsize::new(0) })
    }

    fn client(&self) -> &(Client, Prepared) {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        &self.clients[index]
    }

    pub async fn seed_load_conversation(&self, session_uid: String) -> Result<usize, tokio_postgres::Error> {
        let (client, prepared) = self.client();
        Ok(client.query(&prepared.seed_load, &[&session_uid]).await?.len())
    }

    pub async fn parent_join_load_conversation(&self, session_uid: String) -> Result<usize, tokio_postgres::Error> {
        let (client, prepared) = self.client();
        Ok(client.query(&prepared.parent_join_load, &[&session_uid]).await?.len())
    }

    pub async fn user_history(&self, account_uid: String) -> Result<usize, tokio_postgres::Error> {
        let (client, prepared) = self.client();
        Ok(client.query(&prepared.history, &[&account_uid]).await?.len())
    }

    pub async fn children(&self, parent_uid: String) -> Result<usize, tokio_postgres::Error> {
        let (client, prepared) = self.client();
        Ok(client.query(&prepared.children, &[&parent_uid]).await?.len())
    }
}

/// One chunk of sessions as column arrays, for `INSERT ... SELECT * FROM UNNEST(...)`.
#[derive(Default)]
struct Chunk {
    session_uid: Vec<String>,
    session_account: Vec<String>,
    session_title: Vec<String>,
    session_created: Vec<DateTime<Utc>>,
    human_uid: Vec<String>,
    human_session: Vec<String>,
    human_parent: Vec<Option<String>>,
    human_active_child: Vec<Option<String>>,
    human_prompt: Vec<String>,
    human_created: Vec<DateTime<Utc>>,
    agent_uid: Vec<String>,
    agent_session: Vec<String>,
    agent_parent: Vec<String>,
    agent_active_child: Vec<Option<String>>,
    agent_liked: Vec<Option<bool>>,
    agent_created: Vec<DateTime<Utc>>,
    step_turn: Vec<String>,
    step_idx: Vec<i32>,
    step_tpe: Vec<i32>,
    step_content: Vec<String>,
    step_created: Vec<DateTime<Utc>>,
}

impl Chunk {
    fn add(&mut self, session: dataset::Session) {
        self.session_uid.push(session.uid.clone());
        self.session_account.push(session.account_uid.clone());
        self.session_title.push(session.title.clone());
        self.session_created.push(session.created_at);
        for turn in session.turns {
            match turn.turn_type {
                TurnType::Human => {
                    self.human_uid.push(turn.uid);
                    self.human_session.push(session.uid.clone());
                    self.human_parent.push(turn.parent);
                    self.human_active_child.push(turn.active_child);
                    self.human_prompt.push(turn.prompt.unwrap_or_default());
                    self.human_created.push(turn.created_at);
                }
                TurnType::Agent => {
                    for step in turn.steps {
                        self.step_turn.push(turn.uid.clone());
                        self.step_idx.push(step.idx);
                        self.step_tpe.push(step.tpe);
                        self.step_content.push(step.content);
                        self.step_created.push(step.created_at);
                    }
                    self.agent_uid.push(turn.uid);
                    self.agent_session.push(session.uid.clone());
                    self.agent_parent.push(turn.parent.unwrap_or_default());
                    self.agent_active_child.push(turn.active_child);
                    self.agent_liked.push(turn.liked);
                    self.agent_created.push(turn.created_at);
                }
            }
        }
    }

    async fn insert(&self, client: &Client) -> Result<(), BenchError> {
        client
            .execute(
                "INSERT INTO sessions (uid, account_uid, title, created_at)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[])",
                &[&self.session_uid, &self.session_account, &self.session_title, &self.session_created],
            )
            .await
            .map_err(pg("loading sessions"))?;
        client
            .execute(
                "INSERT INTO human_turns (uid, session_uid, parent_uid, active_child, prompt, created_at)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])",
                &[
                    &self.human_uid,
                    &self.human_session,
                    &self.human_parent,
                    &self.human_active_child,
                    &self.human_prompt,
                    &self.human_created,
                ],
            )
            .await
            .map_err(pg("loading human turns"))?;
        client
            .execute(
                "INSERT INTO agent_turns (uid, session_uid, parent_uid, active_child, liked, created_at)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::timestamptz[])",
                &[
                    &self.agent_uid,
                    &self.agent_session,
                    &self.agent_parent,
                    &self.agent_active_child,
                    &self.agent_liked,
                    &self.agent_created,
                ],
            )
            .await
            .map_err(pg("loading agent turns"))?;
        client
            .execute(
                "INSERT INTO steps (agent_turn_uid, idx, tpe, content, created_at)
                 SELECT * FROM UNNEST($1::text[], $2::int[], $3::int[], $4::text[], $5::timestamptz[])",
                &[&self.step_turn, &self.step_idx, &self.step_tpe, &self.step_content, &self.step_created],
            )
            .await
            .map_err(pg("loading steps"))?;
        Ok(())
    }
}

/// Creates the schema in `schema` and loads the data set into it with multi-row inserts.
pub async fn load(client: &Client, schema: &str, scale: &Scale, seed: u64) -> Result<(), BenchError> {
    client.batch_execute(&schema_ddl(schema)).await.map_err(pg("creating the relational schema"))?;
    let mut progress = Progress::new("PostgreSQL sessions", scale.sessions);
    let mut start = 0;
    while start < scale.sessions {
        let end = (start + LOAD_CHUNK).min(scale.sessions);
        let mut chunk = Chunk::default();
        for index in start..end {
            chunk.add(dataset::session(scale, seed, index));
        }
        chunk.insert(client).await?;
        progress.advance(end - start);
        start = end;
    }
    client.batch_execute(INDEXES).await.map_err(pg("creating indexes"))?;
    Ok(())
}

/// Shared handle type for the workload closures.
pub type SharedPostgres = Arc<PostgresSide>;
