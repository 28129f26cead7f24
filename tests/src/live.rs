//! Live-database test support: each test gets a keyspace of its own and drops it afterwards,
//! also when it fails.

use std::sync::atomic::{AtomicU32, Ordering};

use conversation_pg::PgConfig;
use scylla_table::{ConnectionConfig, Database, Replication};

/// Keyspaces and PostgreSQL schemas a test made. When the guard goes out of scope before the
/// test has dropped them itself (see [`Leftovers::done`]), because an assertion failed or
/// something panicked, it drops them, so a failing run leaves nothing behind either.
#[must_use = "the guard drops what it holds when it goes out of scope"]
#[derive(Default)]
pub struct Leftovers {
    keyspaces: Vec<ConnectionConfig>,
    schemas: Vec<PgConfig>,
}

impl Leftovers {
    /// Adds the keyspace `config` names.
    pub fn keyspace(mut self, config: &ConnectionConfig) -> Leftovers {
        self.keyspaces.push(config.clone());
        self
    }

    /// Adds the PostgreSQL schema `config` names.
    pub fn schema(mut self, config: &PgConfig) -> Leftovers {
        self.schemas.push(config.clone());
        self
    }

    /// The test dropped everything itself: nothing is left to do.
    pub fn done(mut self) {
        self.keyspaces.clear();
        self.schemas.clear();
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if self.keyspaces.is_empty() && self.schemas.is_empty() {
            return;
        }
        let (keyspaces, schemas) = (std::mem::take(&mut self.keyspaces), std::mem::take(&mut self.schemas));
        // On a thread and a runtime of its own, with new connections: this runs while the test
        // unwinds, possibly inside its runtime, whose sessions may be what failed.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            let runtime = runtime.map_err(|error| format!("no runtime for the cleanup: {error}"))?;
            runtime.block_on(async move {
                let mut dropped = Vec::new();
                for config in keyspaces {
                    let db = Database::connect(&config).await.map_err(|error| error.to_string())?;
                    db.drop_keyspace(&config.keyspace).await.map_err(|error| error.to_string())?;
                    dropped.push(format!("keyspace {}", config.keyspace));
                }
                for config in schemas {
                    let store = conversation_pg::PgStore::connect(&config).await.map_err(|error| error.to_string())?;
                    store.drop_schema().await.map_err(|error| error.to_string())?;
                    dropped.push(format!("schema {}", config.schema));
                }
                Ok::<_, String>(dropped)
            })
        });
        match cleanup.join() {
            Ok(Ok(dropped)) => eprintln!("the test did not finish; dropped what it made: {}", dropped.join(", ")),
            Ok(Err(error)) => eprintln!("the test did not finish, and dropping what it made failed: {error}"),
            Err(_) => eprintln!("the test did not finish, and dropping what it made panicked"),
        }
    }
}

/// A connected database whose keyspace exists only for one test.
pub struct TestKeyspace {
    pub db: Database,
    pub config: ConnectionConfig,
    leftovers: Leftovers,
}

impl TestKeyspace {
    /// Connects to `SCYLLA_URI` (default: the local node of `cargo xtask db up`) and creates a
    /// fresh keyspace named after the test.
    pub async fn new(test_name: &str) -> TestKeyspace {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let unique = format!("{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let prefix: String = test_name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(30).collect();
        let keyspace = format!("t_{prefix}_{unique}").to_ascii_lowercase();
        let mut config = ConnectionConfig::from_env(&keyspace).expect("SCYLLA_* variables are valid");
        config.keyspace = keyspace;
        let db = Database::connect(&config).await.unwrap_or_else(|error| {
            panic!("live tests need a CQL node: {error}\n(run them with `cargo xtask test`, which starts one)")
        });
        let leftovers = Leftovers::default().keyspace(&config);
        db.apply_schema(&config.replication, &[]).await.expect("the test keyspace can be created");
        TestKeyspace { db, config, leftovers }
    }

    pub fn replication(&self) -> &Replication {
        &self.config.replication
    }

    /// Drops the keyspace. Call it at the end of the test; a test that does not get there has it
    /// dropped as it unwinds.
    pub async fn drop(self) {
        self.db.drop_keyspace(&self.config.keyspace).await.expect("the test keyspace can be dropped");
        self.leftovers.done();
    }
}

/// The binary of `examples/<name>.rs`, which `cargo test --workspace` builds beside the tests.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test knows where it runs");
    let example = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>").join("examples").join(name);
    assert!(example.exists(), "{} is missing: `cargo test --workspace` builds it", example.display());
    example
}

/// The PostgreSQL server of `cargo xtask db up`, for the benchmark's test. `POSTGRES_URL`
/// overrides it, as a `host=... port=...` connection string.
pub fn postgres_connection() -> String {
    std::env::var("POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| format!("host=127.0.0.1 port={} user=postgres dbname=chat", postgres_port()))
}

/// The port of the local server of `cargo xtask db up`.
pub fn postgres_port() -> u16 {
    54329
}

/// A PostgreSQL schema that exists only for one test, with the relational store applied to it.
pub struct TestSchema {
    pub store: conversation_pg::PgStore,
    leftovers: Leftovers,
}

impl TestSchema {
    /// Connects to `POSTGRES_URL` (default: the server of `cargo xtask db up`) and applies the
    /// relational schema to a fresh schema named after the test.
    pub async fn new(test_name: &str) -> TestSchema {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let prefix: String = test_name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(30).collect();
        let schema = format!("t_{prefix}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
            .to_ascii_lowercase();
        let config = PgConfig::new(postgres_connection(), schema).with_pool_size(8);
        let store = conversation_pg::PgStore::connect(&config).await.unwrap_or_else(|error| {
            panic!("live tests need PostgreSQL: {error}\n(run them with `cargo xtask test`, which starts one)")
        });
        let leftovers = Leftovers::default().schema(&config);
        store.drop_schema().await.expect("a stale test schema can be dropped");
        store.apply_schema().await.expect("the relational schema applies");
        TestSchema { store, leftovers }
    }

    /// Like [`TestSchema::new`], but the schema is empty: for tables that other code makes.
    pub async fn empty(test_name: &str) -> TestSchema {
        let schema = TestSchema::new(test_name).await;
        schema.store.drop_schema().await.expect("the schema can be emptied");
        let name = &schema.store.config().schema;
        let client = schema.store.client().await.expect("connects");
        client.batch_execute(&format!("CREATE SCHEMA {name}")).await.expect("the schema can be made");
        schema
    }

    /// Drops the schema. Call it at the end of the test; a test that does not get there has it
    /// dropped as it unwinds.
    pub async fn drop(self) {
        self.store.drop_schema().await.expect("the test schema can be dropped");
        self.leftovers.done();
    }
}
