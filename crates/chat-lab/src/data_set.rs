//! The data set: generated once from a seed, loaded into both stores (or reused when both hold
//! it, by a marker), and the targets requests pick from it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_migrate::projection::Layout;
use chat_migrate::{backfill, ensure_scylla_schema, BackfillOptions, ScyllaCopier};
use conversation_pg::{PgConfig, PgStore};
use scylla_table::{ConnectionConfig, Database};

use crate::dataset::{self, Counts, Scale};
use crate::model::{BenchConfig, BenchError, Pattern};
use crate::postgres_side;
use crate::rng::Rng;

/// How the stores hold the data set; part of the marker, so that a data set loaded by an older
/// layout is loaded again rather than reused.
const LAYOUT: &str = "conversation-pg-v1+steps-by-session";

/// Picks request targets the way the data set was built.
pub(crate) struct Targets {
    sessions: usize,
    accounts: usize,
    parents: Vec<String>,
}

impl Targets {
    pub fn session(&self, random: u64) -> String {
        dataset::session_uid(Rng::new(random).below(self.sessions))
    }

    pub fn account(&self, random: u64) -> String {
        dataset::account_uid(Rng::new(random).skewed_index(self.accounts))
    }

    pub fn parent(&self, random: u64) -> String {
        self.parents[Rng::new(random).below(self.parents.len())].clone()
    }

    /// The partition key `pattern` reads for this random number.
    pub fn key(&self, pattern: Pattern, random: u64) -> String {
        match pattern {
            Pattern::LoadConversation => self.session(random),
            Pattern::RecentSessions => self.account(random),
            Pattern::ThreadNavigation => self.parent(random),
        }
    }
}

/// The data set, loaded in both stores, and how to pick request targets in it.
pub(crate) struct Dataset {
    pub counts: Counts,
    pub targets: Arc<Targets>,
    pub db: Database,
    pub pg: PgStore,
    pub pg_schema: String,
    /// Whether this run loaded it (rather than reusing it).
    pub loaded: bool,
    /// The two halves of the load: `chat-migrate seed` into PostgreSQL, then the backfill; for a
    /// reused data set, those of the run that loaded it (zero if it did not record them).
    pub postgres_load_time: Duration,
    pub scylla_load_time: Duration,
}

/// The keyspace and PostgreSQL schema a data set lives in.
pub fn dataset_name(scale: &Scale) -> String {
    match scale.name {
        chat_dataset::SIZED => format!("bench_{}_sessions", scale.sessions),
        name => format!("bench_{name}"),
    }
}

/// Generates the data set's counts and targets, and loads it into both stores unless they hold it.
pub(crate) async fn prepare_dataset(config: &BenchConfig) -> Result<Dataset, BenchError> {
    let scale = config.scale;
    let keyspace = dataset_name(&scale);
    let pg_schema = keyspace.clone();
    println!(
        "Data set `{}`: {} sessions over {} accounts, seed {}",
        scale.name, scale.sessions, scale.accounts, config.seed
    );

    let mut counts = Counts::default();
    let mut parents = Vec::new();
    for index in 0..scale.sessions {
        let session = dataset::session(&scale, config.seed, index);
        counts.add(&session);
        parents.extend(session.turns.iter().filter(|turn| turn.active_child.is_some()).map(|turn| turn.uid.clone()));
    }
    println!("  {} turns, {} steps", counts.turns, counts.steps);
    let targets = Arc::new(Targets { sessions: scale.sessions, accounts: scale.accounts, parents });

    let mut scylla_config = config.scylla.clone();
    scylla_config.keyspace = keyspace.clone();
    let db = Database::connect(&scylla_config).await?;
    let pg = PgStore::connect(&PgConfig::new(config.postgres.clone(), &pg_schema)).await?;

    let marker =
        format!("{LAYOUT}:{}:{}:{}:{}:{}", scale.name, config.seed, counts.sessions, counts.turns, counts.steps);
    let load_started = Instant::now();
    let loaded = config.reload || !scylla_has(&db, &scylla_config, &marker).await || !postgres_has(&pg, &marker).await;
    let (postgres_load_time, scylla_load_time) = if loaded {
        println!("Loading PostgreSQL schema `{pg_schema}` (chat-migrate seed)...");
        postgres_side::load(&pg, &scale, config.seed).await?;
        pg.client()
            .await?
            .batch_execute(&format!(
                "CREATE TABLE bench_info (name text PRIMARY KEY, marker text);
                 INSERT INTO bench_info VALUES ('dataset', '{marker}')"
            ))
            .await
            .map_err(|source| BenchError::Postgres { action: "writing the data set marker".into(), source })?;
        let postgres_load_time = load_started.elapsed();
        println!("Copying it to ScyllaDB keyspace `{keyspace}` (chat-migrate backfill)...");
        db.drop_keyspace(&keyspace).await?;
        ensure_scylla_schema(&db, Some(&scylla_config.replication)).await?;
        let options =
            BackfillOptions { restart: true, progress: crate::progress_bar::sink(), ..BackfillOptions::default() };
        let copier = ScyllaCopier::new(db.clone()).with_layout(Layout { steps_by_session: true });
        backfill(&pg, &copier, &options).await?;
        db.run_ddl(&format!("CREATE TABLE IF NOT EXISTS {keyspace}.bench_info (name text PRIMARY KEY, marker text)"))
            .await?;
        db.session()
            .query_unpaged(
                format!("INSERT INTO {keyspace}.bench_info (name, marker) VALUES ('dataset', ?)"),
                (&marker,),
            )
            .await
            .map_err(|source| scylla_table::Error::Query {
                action: "writing the data set marker".into(),
                source: source.into(),
            })?;
        let scylla_load_time = load_started.elapsed().saturating_sub(postgres_load_time);
        // Kept with the data set, so a run that reuses it can still say what loading it took.
        pg.client()
            .await?
            .execute(
                "INSERT INTO bench_info VALUES ('postgres_load_seconds', $1), ('scylla_load_seconds', $2)",
                &[&postgres_load_time.as_secs_f64().to_string(), &scylla_load_time.as_secs_f64().to_string()],
            )
            .await
            .map_err(|source| BenchError::Postgres { action: "recording the load times".into(), source })?;
        (postgres_load_time, scylla_load_time)
    } else {
        println!("Both stores already hold this data set; reusing it (pass --reload to load again)");
        recorded_load_times(&pg).await.unwrap_or_default()
    };
    settle_node(&db).await;
    Ok(Dataset { counts, targets, db, pg, pg_schema, loaded, postgres_load_time, scylla_load_time })
}

/// Quiet time without a compaction that counts as settled.
const SETTLED_AFTER: Duration = Duration::from_secs(10);
/// The longest wait for the node to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(20 * 60);

/// Waits until the node has run no compaction for [`SETTLED_AFTER`]: a fresh load leaves it
/// merging sstables for minutes, and reads measured meanwhile would measure the merging. A node
/// without `system_views.sstable_tasks` (ScyllaDB) is not waited for.
async fn settle_node(db: &Database) {
    let started = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    let mut announced = false;
    while started.elapsed() < SETTLE_LIMIT {
        let tasks: Vec<(String, String)> =
            match db.query_rows("SELECT keyspace_name, kind FROM system_views.sstable_tasks", ()).await {
                Ok(tasks) => tasks,
                Err(_) => return,
            };
        if tasks.is_empty() {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= SETTLED_AFTER {
                if announced {
                    println!("  settled after {:.0} s", started.elapsed().as_secs_f64());
                }
                return;
            }
        } else {
            quiet_since = None;
            if !announced {
                println!("Waiting for the node's compactions to finish before measuring ({} running)...", tasks.len());
                announced = true;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!("  the node still compacts after {:.0} s; measuring anyway", SETTLE_LIMIT.as_secs_f64());
}

async fn scylla_has(db: &Database, config: &ConnectionConfig, marker: &str) -> bool {
    let query = format!("SELECT marker FROM {}.bench_info WHERE name = 'dataset'", config.keyspace);
    // A missing table or keyspace means "not loaded", like a different marker.
    matches!(db.query_rows::<(String,)>(&query, ()).await.as_deref(), Ok([(found,)]) if found == marker)
}

/// The load times a data set was recorded with when it was loaded.
async fn recorded_load_times(pg: &PgStore) -> Option<(Duration, Duration)> {
    let client = pg.client().await.ok()?;
    let seconds = |name: &'static str| {
        let client = &client;
        async move {
            let row = client.query_opt("SELECT marker FROM bench_info WHERE name = $1", &[&name]).await.ok()??;
            row.get::<_, String>(0).parse::<f64>().ok().map(Duration::from_secs_f64)
        }
    };
    Some((seconds("postgres_load_seconds").await?, seconds("scylla_load_seconds").await?))
}

async fn postgres_has(pg: &PgStore, marker: &str) -> bool {
    let Ok(client) = pg.client().await else { return false };
    // A missing table or schema means "not loaded", like a different marker.
    match client.query_opt("SELECT marker FROM bench_info WHERE name = 'dataset'", &[]).await {
        Ok(Some(row)) => row.get::<_, String>(0) == marker,
        _ => false,
    }
}
