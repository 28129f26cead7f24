//! What each store holds on disk: PostgreSQL's four tables with their indexes, and the node's
//! tables after a flush (local node only). The design expects the ScyllaDB copy to take about
//! 20% more than the relational one.

use conversation_pg::typed;
use std::collections::BTreeMap;

use conversation_pg::PgStore;
use scylla_table::Database;

use local_cassandra::LocalNode;

/// The design's expected storage increase of the ScyllaDB schema over the relational one.
pub const DESIGN_STORAGE_INCREASE: f64 = 0.20;

/// The design's four query tables.
pub const DESIGN_TABLES: [&str; 4] = ["sessions_by_user", "turns_by_session", "steps_by_turn", "turns_by_parent"];

/// The lookup tables the store keeps beside the design's four.
pub const LOOKUP_TABLES: [&str; 2] = ["session_owners", "turns_by_uid"];

/// A size in mebibytes, for reports.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Bytes on disk: PostgreSQL's four tables with their indexes and TOAST, and the node's tables.
#[derive(Debug, Clone, Default)]
pub struct Storage {
    pub postgres_bytes: u64,
    /// Per ScyllaDB table, after a flush; empty when the node is not local.
    pub scylla_bytes: BTreeMap<String, u64>,
    pub note: Option<String>,
}

impl Storage {
    /// Bytes of the named node tables that were measured.
    pub fn scylla_bytes_of(&self, tables: &[&str]) -> u64 {
        tables.iter().filter_map(|table| self.scylla_bytes.get(*table)).sum()
    }
}

/// PostgreSQL's four tables against the node's tables after a flush.
pub async fn measure_storage(pg: &PgStore, db: &Database, node: Option<&LocalNode>) -> Storage {
    let mut storage = Storage::default();
    match pg.client().await {
        Ok(client) => {
            let query = "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8 FROM pg_class c
                         JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = $1 AND c.relname IN ('sessions', 'human_turns', 'agent_turns', 'steps')";
            match client.query_typed_one(query, typed![&pg.config().schema]).await {
                Ok(row) => storage.postgres_bytes = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
                Err(error) => storage.note = Some(format!("PostgreSQL size not measured: {error}")),
            }
        }
        Err(error) => storage.note = Some(format!("PostgreSQL size not measured: {error}")),
    }
    let Some(node) = node else {
        storage.note = Some("the node is not local, so its size on disk is not measured".to_owned());
        return storage;
    };
    match node.flush(db.keyspace()).and_then(|()| node.table_disk_bytes(db.keyspace())) {
        Ok(sizes) => storage.scylla_bytes = sizes,
        Err(error) => storage.note = Some(format!("the node's size not measured: {error}")),
    }
    storage
}
