//! The servers' setup as the run finds it, for the report: what serves CQL and in what version,
//! how many nodes, the data set keyspace's replication, the local node's heap, and PostgreSQL's
//! version and durability settings. Read from the servers themselves, so the report stays true
//! under `SCYLLA_URI`, another PostgreSQL, or a changed local configuration.

use std::collections::BTreeMap;
use std::path::Path;

use conversation_pg::PgStore;
use local_cassandra::LocalNode;
use scylla_table::Database;

/// PostgreSQL settings that decide what a write costs and what a read finds in memory.
const POSTGRES_SETTINGS: [&str; 4] = ["shared_buffers", "fsync", "synchronous_commit", "max_connections"];

/// What the run found the servers to be.
#[derive(Debug, Clone, Default)]
pub struct ServerSetup {
    /// "Apache Cassandra 5.0.8", or "ScyllaDB 6.2.0".
    pub cql_server: String,
    /// Nodes the connected node knows: itself and its peers.
    pub nodes: usize,
    /// The data set keyspace's replication, as `system_schema.keyspaces` holds it.
    pub replication: String,
    /// The local node's maximum heap (`-Xmx`), when the node runs on this machine.
    pub node_heap: Option<String>,
    /// `SHOW server_version`.
    pub postgres_version: String,
    /// Each of [`POSTGRES_SETTINGS`] with its value.
    pub postgres_settings: Vec<(&'static str, String)>,
}

impl ServerSetup {
    /// Asks the servers. What cannot be read is reported as "unknown" rather than failing a
    /// run that has measured everything else.
    pub async fn read(db: &Database, keyspace: &str, pg: &PgStore, node_dir: &Path) -> ServerSetup {
        let unknown = || "unknown".to_owned();
        let cql_server = match db.query_rows::<(String,)>("SELECT version FROM system.versions", ()).await {
            // Only ScyllaDB has `system.versions`.
            Ok(rows) if !rows.is_empty() => format!("ScyllaDB {}", rows[0].0),
            _ => match db.query_rows::<(String,)>("SELECT release_version FROM system.local", ()).await {
                Ok(rows) if !rows.is_empty() => format!("Apache Cassandra {}", rows[0].0),
                _ => unknown(),
            },
        };
        let peers = db.query_rows::<(std::net::IpAddr,)>("SELECT peer FROM system.peers", ()).await;
        let replication = db
            .query_rows::<(BTreeMap<String, String>,)>(
                "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
                (keyspace,),
            )
            .await
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .map_or_else(unknown, |(replication,)| describe_replication(&replication));
        let mut postgres_settings = Vec::new();
        let mut postgres_version = unknown();
        if let Ok(client) = pg.client().await {
            let show = |name: &str| {
                let client = &client;
                let query = format!("SHOW {name}");
                async move { client.query_one(query.as_str(), &[]).await.ok().map(|row| row.get::<_, String>(0)) }
            };
            postgres_version = show("server_version").await.unwrap_or_else(unknown);
            for name in POSTGRES_SETTINGS {
                postgres_settings.push((name, show(name).await.unwrap_or_else(unknown)));
            }
        }
        ServerSetup {
            cql_server,
            nodes: peers.map_or(1, |peers| peers.len() + 1),
            replication,
            node_heap: LocalNode::find(node_dir).ok().and_then(|node| max_heap(node.pid())),
            postgres_version,
            postgres_settings,
        }
    }

    /// The PostgreSQL settings as `name value, ...`.
    pub fn postgres_settings_text(&self) -> String {
        let settings: Vec<String> =
            self.postgres_settings.iter().map(|(name, value)| format!("{name} {value}")).collect();
        settings.join(", ")
    }
}

/// `{'class': '...SimpleStrategy', 'replication_factor': '1'}` as `SimpleStrategy, replication_factor 1`.
fn describe_replication(replication: &BTreeMap<String, String>) -> String {
    let class = replication.get("class").map_or("unknown class", |class| class.rsplit('.').next().unwrap_or(class));
    let options: Vec<String> = replication
        .iter()
        .filter(|(name, _)| *name != "class")
        .map(|(name, value)| format!("{name} {value}"))
        .collect();
    if options.is_empty() {
        class.to_owned()
    } else {
        format!("{class}, {}", options.join(", "))
    }
}

/// The `-Xmx` a JVM was started with, from its command line (the last one counts).
fn max_heap(pid: u32) -> Option<String> {
    let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    command_line
        .split(|byte| *byte == 0)
        .rev()
        .filter_map(|argument| std::str::from_utf8(argument).ok())
        .find_map(|argument| argument.strip_prefix("-Xmx"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_reads_as_its_class_and_options() {
        let simple = BTreeMap::from([
            ("class".to_owned(), "org.apache.cassandra.locator.SimpleStrategy".to_owned()),
            ("replication_factor".to_owned(), "1".to_owned()),
        ]);
        assert_eq!(describe_replication(&simple), "SimpleStrategy, replication_factor 1");
        let network = BTreeMap::from([
            ("class".to_owned(), "NetworkTopologyStrategy".to_owned()),
            ("dc1".to_owned(), "2".to_owned()),
            ("dc2".to_owned(), "1".to_owned()),
        ]);
        assert_eq!(describe_replication(&network), "NetworkTopologyStrategy, dc1 2, dc2 1");
    }

    #[test]
    fn this_process_has_no_heap_flag() {
        assert_eq!(max_heap(std::process::id()), None);
    }
}
