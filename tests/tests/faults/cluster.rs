//! The cluster the fault tests run on, and a replicated keyspace on it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_migrate::ensure_scylla_schema;
use conversation_store::{ConversationStore, StoreTables};
use scylla::cluster::Node;
use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
use scylla::statement::unprepared::Statement;
use scylla::statement::Consistency;
use scylla_table::{ConnectionConfig, ConsistencyLevels, Database, Replication};

pub(crate) const NODES: [&str; 3] = ["127.0.0.11:9042", "127.0.0.12:9042", "127.0.0.13:9042"];
/// The datacenters of `cargo xtask cluster up --dcs 2`.
pub(crate) const DC1: &str = "dc1";
pub(crate) const DC2: &str = "dc2";
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The tests share the cluster, and each takes down nodes the others need.
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `cargo xtask cluster <args>` through the xtask binary that runs this suite (it says
/// where in `XTASK_BIN`); a nested `cargo` would wait on the lock of the `cargo test` running this.
pub(crate) fn cluster(args: &[&str]) {
    let status = xtask_cluster(args).status().expect("the xtask binary runs");
    assert!(status.success(), "cargo xtask cluster {} failed", args.join(" "));
}

/// [`cluster`] for cleanups: a failure is printed, not raised (the node may be down after a
/// failed test; the next test's `cluster up` restarts it, with its configured settings).
pub(crate) fn cluster_if_possible(args: &[&str]) {
    match xtask_cluster(args).status() {
        Ok(status) if status.success() => {}
        outcome => println!("cargo xtask cluster {} did not succeed: {outcome:?}", args.join(" ")),
    }
}

/// [`cluster`], returning what the command printed.
pub(crate) fn cluster_output(args: &[&str]) -> String {
    let output = xtask_cluster(args).output().expect("the xtask binary runs");
    assert!(
        output.status.success(),
        "cargo xtask cluster {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn xtask_cluster(args: &[&str]) -> std::process::Command {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let xtask = std::env::var_os("XTASK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("debug").join("xtask"));
    assert!(xtask.exists(), "{} is missing: run these tests with `cargo xtask test --faults`", xtask.display());
    let mut command = std::process::Command::new(&xtask);
    command.arg("cluster").args(args).current_dir(&root);
    command
}

/// [`cluster`] off the async runtime's threads.
pub(crate) async fn cluster_async(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    tokio::task::spawn_blocking(move || cluster(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .expect("the cluster command does not panic");
}

/// A keyspace on the cluster (replication factor 3, or one per datacenter), dropped by `finish`.
pub(crate) struct FaultKeyspace {
    pub(crate) db: Database,
    pub(crate) config: ConnectionConfig,
    pub(crate) keyspace: String,
}

impl FaultKeyspace {
    /// Brings back any node an earlier test left down, then makes the keyspace.
    pub(crate) async fn new(name: &str) -> FaultKeyspace {
        cluster_async(&["up"]).await;
        let keyspace = format!("f_{name}_{}", std::process::id());
        let config = ConnectionConfig::new(NODES, keyspace.clone())
            .replication(Replication::Simple { factor: 3 })
            .request_timeout(REQUEST_TIMEOUT);
        let db = Database::connect(&config).await.unwrap_or_else(|error| {
            panic!("the fault tests need the 3-node cluster (`cargo xtask cluster up`): {error}")
        });
        until_settled("creating the keyspace", || ensure_scylla_schema(&db, Some(&config.replication))).await;
        FaultKeyspace { db, config, keyspace }
    }

    /// Brings up the two-datacenter layout (`cluster up --dcs 2`: dc1 of nodes 1 and 2, dc2 of
    /// node 3), then makes a keyspace replicated {dc1: 2, dc2: 1}, reached from dc1 at
    /// LOCAL_QUORUM and LOCAL_ONE.
    pub(crate) async fn in_two_datacenters(name: &str) -> FaultKeyspace {
        cluster_async(&["up", "--dcs", "2"]).await;
        let keyspace = format!("f_{name}_{}", std::process::id());
        let config = ConnectionConfig::new(NODES, keyspace.clone())
            .replication(Replication::NetworkTopology { datacenters: vec![(DC1.to_owned(), 2), (DC2.to_owned(), 1)] })
            .local_datacenter(DC1)
            .consistency(ConsistencyLevels::local_datacenter())
            .request_timeout(REQUEST_TIMEOUT);
        let db = Database::connect(&config).await.unwrap_or_else(|error| {
            panic!("the datacenter tests need the two-datacenter cluster (`cargo xtask cluster up --dcs 2`): {error}")
        });
        until_settled("creating the keyspace", || ensure_scylla_schema(&db, Some(&config.replication))).await;
        FaultKeyspace { db, config, keyspace }
    }

    /// Another client of the keyspace, in `datacenter`, with `levels`.
    pub(crate) async fn client_in(&self, datacenter: &str, levels: ConsistencyLevels) -> ConversationStore {
        let config = self.config.clone().local_datacenter(datacenter).consistency(levels);
        ConversationStore::new(Database::connect(&config).await.expect("connects to the cluster"))
    }

    pub(crate) fn store(&self) -> ConversationStore {
        ConversationStore::new(self.db.clone())
    }

    /// Another connection to the keyspace with its own request timeout and hedging.
    pub(crate) async fn connect(
        &self,
        request_timeout: Duration,
        speculative_after: Option<Duration>,
    ) -> ConversationStore {
        let mut config = self.config.clone().request_timeout(request_timeout);
        config.speculative_after = speculative_after;
        ConversationStore::new(Database::connect(&config).await.expect("connects to the cluster"))
    }

    /// The store's tables reading at `read`.
    pub(crate) fn tables(&self, read: Consistency) -> StoreTables {
        StoreTables::new(&self.db).with_consistency(ConsistencyLevels { read, write: Consistency::Quorum })
    }

    pub(crate) async fn finish(self) {
        wait_for_replays(&self.db).await;
        until_settled("dropping the keyspace", || self.db.drop_keyspace(&self.keyspace)).await;
    }
}

/// Waits until no node holds a batchlog entry or undelivered hints. Their replay writes into
/// the keyspace's tables, and Cassandra 5.0 fails to drop a table written to while it drops
/// ("Unknown CF" in its MigrationStage, then schema disagreement until the node restarts).
/// A batchlog entry still there after [`KICK_AFTER`] gets its replay started by hand
/// (`nodetool replaybatchlog`), once per node: after a node was paused, one was seen to stay
/// past two minutes of the node's own 10 s replays, and past the one asked for.
async fn wait_for_replays(db: &Database) {
    const REPLAYS_FOR: Duration = Duration::from_secs(120);
    const KICK_AFTER: Duration = Duration::from_secs(30);
    let started = Instant::now();
    let nodes = db.session().get_cluster_state().get_nodes_info().to_vec();
    let mut kicked = std::collections::BTreeSet::new();
    loop {
        let mut pending = Vec::new();
        for node in &nodes {
            for (what, cql) in [("batchlog entries", "SELECT id FROM system.batches"), ("hint targets", PENDING_HINTS)]
            {
                let rows = rows_on(db, cql, node).await;
                if rows > 0 {
                    pending.push(format!("{} {what} on {}", rows, node.address));
                }
                let stuck = rows > 0 && what == "batchlog entries" && started.elapsed() >= KICK_AFTER;
                if stuck && kicked.insert(node.address) {
                    // Node N listens on 127.0.0.1N.
                    let number = match node.address.ip() {
                        std::net::IpAddr::V4(ip) => ip.octets()[3].saturating_sub(10).to_string(),
                        std::net::IpAddr::V6(_) => continue,
                    };
                    println!(
                        "{rows} batchlog entries on {} after {} s: replaying them",
                        node.address,
                        KICK_AFTER.as_secs()
                    );
                    tokio::task::spawn_blocking(move || cluster_if_possible(&["nodetool", &number, "replaybatchlog"]))
                        .await
                        .expect("the cluster command does not panic");
                }
            }
        }
        if pending.is_empty() {
            return;
        }
        // A batchlog entry that neither the node's own replays nor one asked for by hand moved in
        // the whole wait is not being replayed: it cannot race the drop. Hints still waiting can.
        let only_stuck_batches = pending.iter().all(|item| item.contains("batchlog entries")) && !kicked.is_empty();
        if started.elapsed() >= REPLAYS_FOR && only_stuck_batches {
            println!("batchlog entries not replayed in {} s, even when asked: {pending:?}", REPLAYS_FOR.as_secs());
            return;
        }
        assert!(
            started.elapsed() < REPLAYS_FOR,
            "replays still pending after {} s: {pending:?}",
            REPLAYS_FOR.as_secs()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The hosts a node holds undelivered hints for, one row each.
pub(crate) const PENDING_HINTS: &str = "SELECT host_id FROM system_views.pending_hints";

/// The rows `cql` returns on `node` alone; 1 when it cannot be asked, so that a node that does
/// not answer never passes for one with nothing pending.
pub(crate) async fn rows_on(db: &Database, cql: &str, node: &Arc<Node>) -> usize {
    match db.session().query_unpaged(on_node(cql, node), ()).await {
        Ok(result) => result.into_rows_result().map_or(1, |rows| rows.rows_num()),
        Err(_) => 1,
    }
}

/// A statement that runs on `node` only, whatever the load balancer would pick.
pub(crate) fn on_node(cql: &str, node: &Arc<Node>) -> Statement {
    let mut statement = Statement::new(cql);
    statement.set_load_balancing_policy(Some(SingleTargetLoadBalancingPolicy::new(
        NodeIdentifier::Node(node.clone()),
        None,
    )));
    statement
}

/// Runs a schema change until it succeeds, for up to SETTLE_FOR. Right after a fault the nodes
/// still replay hints and batchlogs into the keyspace's tables, and a schema change can meet
/// them ("Unknown CF"); it passes once they are through.
pub(crate) async fn until_settled<T, E: std::fmt::Display, Fut: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut change: impl FnMut() -> Fut,
) {
    const SETTLE_FOR: Duration = Duration::from_secs(120);
    let started = Instant::now();
    loop {
        match change().await {
            Ok(_) => return,
            Err(error) if started.elapsed() < SETTLE_FOR => {
                println!("{what}: {error}; trying again");
                if error.to_string().contains("schema agreement") {
                    // `cluster agree` waits for the nodes to agree, and restarts a node that stays
                    // apart; it starts or resumes nothing a test stopped.
                    tokio::task::spawn_blocking(|| cluster_if_possible(&["agree"])).await.expect("runs");
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(error) => panic!("{what} failed for {} s: {error}", SETTLE_FOR.as_secs()),
        }
    }
}
