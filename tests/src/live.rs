//! Live-database test support: each test gets a keyspace of its own and drops it afterwards.

use std::sync::atomic::{AtomicU32, Ordering};

use scylla_table::{ConnectionConfig, Database, Replication};

/// A connected database whose keyspace exists only for one test.
pub struct TestKeyspace {
    pub db: Database,
    pub config: ConnectionConfig,
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
        db.apply_schema(&config.replication, &[]).await.expect("the test keyspace can be created");
        TestKeyspace { db, config }
    }

    pub fn replication(&self) -> &Replication {
        &self.config.replication
    }

    /// Drops the keyspace. Call it at the end of the test.
    pub async fn drop(self) {
        self.db.drop_keyspace(&self.config.keyspace).await.expect("the test keyspace can be dropped");
    }
}

/// The PostgreSQL server of `cargo xtask db up`, for the benchmark's test. `POSTGRES_URL`
/// overrides it, as a `host=... port=...` connection string.
pub fn postgres_connection() -> String {
    std::env::var("POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| "host=127.0.0.1 port=54329 user=postgres dbname=chat".to_owned())
}

/// A PostgreSQL schema that exists only for one test, with the relational store applied to it.
pub struct TestSchema {
    pub store: conversation_pg::PgStore,
}

impl TestSchema {
    /// Connects to `POSTGRES_URL` (default: the server of `cargo xtask db up`) and applies the
    /// relational schema to a fresh schema named after the test.
    pub async fn new(test_name: &str) -> TestSchema {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let prefix: String = test_name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(30).collect();
        let schema = format!("t_{prefix}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
            .to_ascii_lowercase();
        let config = conversation_pg::PgConfig::new(postgres_connection(), schema).with_pool_size(8);
        let store = conversation_pg::PgStore::connect(&config).await.unwrap_or_else(|error| {
            panic!("live tests need PostgreSQL: {error}\n(run them with `cargo xtask test`, which starts one)")
        });
        store.drop_schema().await.expect("a stale test schema can be dropped");
        store.apply_schema().await.expect("the relational schema applies");
        TestSchema { store }
    }

    /// Drops the schema. Call it at the end of the test.
    pub async fn drop(self) {
        self.store.drop_schema().await.expect("the test schema can be dropped");
    }
}
