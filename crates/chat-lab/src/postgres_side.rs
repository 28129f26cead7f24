//! The relational side: the data set in the relational store's schema (`conversation-pg`:
//! sessions, human_turns, agent_turns, steps, with the indexes these reads need), and the three
//! patterns as the design writes them in SQL.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use conversation_pg::PgStore;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, NoTls, Row, Statement};

use crate::cpu_time::ServerCpu;
use crate::dataset::Scale;
use crate::model::{BenchError, Pattern, System};
use crate::raw_driver::Work;

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

const RECENT_SESSIONS_QUERY: &str = "SELECT uid, title, created_at FROM sessions
    WHERE account_uid = $1 AND deleted_at IS NULL ORDER BY cql_ms(created_at) DESC, uid LIMIT 20";

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
    recent_sessions: Statement,
    children: Statement,
}

pub async fn connect(connection: &str) -> Result<Client, BenchError> {
    let (client, driver) = tokio_postgres::connect(connection, NoTls).await.map_err(|source| BenchError::Postgres {
        action: format!(
            "connecting to {} (start it with `cargo xtask db up`)",
            conversation_pg::config::redacted(connection)
        ),
        source,
    })?;
    tokio::spawn(async move {
        if let Err(error) = driver.await {
            eprintln!("PostgreSQL connection closed: {error}");
        }
    });
    Ok(client)
}

fn pg_error(action: &str) -> impl FnOnce(tokio_postgres::Error) -> BenchError + '_ {
    move |source| BenchError::Postgres { action: action.to_owned(), source }
}

impl PostgresSide {
    /// Opens `connections` connections with `search_path` set to `schema`.
    pub async fn open(connection: &str, schema: &str, connections: usize) -> Result<PostgresSide, BenchError> {
        let mut clients = Vec::with_capacity(connections);
        for _ in 0..connections.max(1) {
            let client = connect(connection).await?;
            client
                .batch_execute(&format!("SET search_path TO {schema}"))
                .await
                .map_err(pg_error("setting search_path"))?;
            let prepared = Prepared {
                seed_load: client
                    .prepare(SEED_LOAD_QUERY)
                    .await
                    .map_err(pg_error("preparing the seed's load query"))?,
                parent_join_load: client
                    .prepare(PARENT_JOIN_LOAD_QUERY)
                    .await
                    .map_err(pg_error("preparing the load query"))?,
                recent_sessions: client
                    .prepare(RECENT_SESSIONS_QUERY)
                    .await
                    .map_err(pg_error("preparing the recent sessions query"))?,
                children: client.prepare(CHILDREN_QUERY).await.map_err(pg_error("preparing the children query"))?,
            };
            clients.push((client, prepared));
        }
        Ok(PostgresSide { clients, next: AtomicUsize::new(0) })
    }

    /// The backends of this side's connections, for the server's CPU time, if the server runs
    /// on this machine.
    pub async fn server_cpu(&self) -> ServerCpu {
        let mut backends = Vec::with_capacity(self.clients.len());
        for (client, _) in &self.clients {
            match client.query_one("SELECT pg_backend_pid()", &[]).await.map(|row| row.try_get::<_, i32>(0)) {
                Ok(Ok(pid)) => backends.extend(u32::try_from(pid).ok()),
                _ => return ServerCpu::default(),
            }
        }
        ServerCpu::postgres_backends(&backends)
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

    pub async fn recent_sessions(&self, account_uid: String) -> Result<usize, tokio_postgres::Error> {
        let (client, prepared) = self.client();
        Ok(client.query(&prepared.recent_sessions, &[&account_uid]).await?.len())
    }

    pub async fn children(&self, parent_uid: String) -> Result<usize, tokio_postgres::Error> {
        let (client, prepared) = self.client();
        Ok(client.query(&prepared.children, &[&parent_uid]).await?.len())
    }

    /// The query `system` runs for `pattern`, once, counting the bytes of the rows it returns.
    pub async fn probe(&self, pattern: Pattern, system: System, key: String) -> Result<Work, tokio_postgres::Error> {
        let (client, prepared) = self.client();
        let statement = match (pattern, system) {
            (Pattern::LoadConversation, System::PostgresParentJoin) => &prepared.parent_join_load,
            (Pattern::LoadConversation, _) => &prepared.seed_load,
            (Pattern::RecentSessions, _) => &prepared.recent_sessions,
            (Pattern::ThreadNavigation, _) => &prepared.children,
        };
        let rows = client.query(statement, &[&key]).await?;
        Ok(Work { rows: rows.len(), requests: 1, bytes: rows.iter().map(row_bytes).sum() })
    }
}

/// A value's size on the wire, whatever its type: a DataRow frames each value as a 4-byte length
/// and the bytes (none for NULL).
struct WireSize(usize);

impl<'a> FromSql<'a> for WireSize {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(WireSize(4 + raw.len()))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(WireSize(4))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn row_bytes(row: &Row) -> usize {
    (0..row.len()).filter_map(|index| row.try_get::<_, WireSize>(index).ok()).map(|WireSize(size)| size).sum()
}

/// Loads the data set into `pg`'s schema through the relational store (its schema files, then
/// `chat-migrate seed`'s bulk insert), and refreshes the planner's statistics.
pub async fn load(pg: &PgStore, scale: &Scale, seed: u64) -> Result<(), BenchError> {
    pg.drop_schema().await?;
    crate::seed::seed(pg, scale, seed, true).await?;
    pg.client()
        .await?
        .batch_execute("ANALYZE sessions, human_turns, agent_turns, steps")
        .await
        .map_err(pg_error("analyzing the loaded tables"))?;
    Ok(())
}

/// Shared handle type for the workload closures.
pub type SharedPostgres = Arc<PostgresSide>;
