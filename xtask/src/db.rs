//! `cargo xtask db up | down | status`: a local Apache Cassandra 5.0 node from Maven Central.
//!
//! The node lives in `target/cassandra/` (jars in `lib/`, config in `conf/`, data in `data/`,
//! logs in `logs/`) and listens on 127.0.0.1 only. When `SCYLLA_URI` is set, that cluster is used
//! and nothing is provisioned.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::cassandra::{self, Node, CQL_PORT};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
const ADDRESS: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// The development node: alone in its cluster, offering TLS beside plain CQL.
fn node() -> Node {
    let root = crate::workspace_root().join("target").join("cassandra");
    let tls_keystore = Some(crate::node_tls::NodeTls::new(&root).keystore());
    Node {
        root,
        address: ADDRESS,
        jmx_port: 7199,
        heap_mb: 1024,
        cluster_name: "scylla-table dev",
        datacenter: None,
        seeds: vec![ADDRESS],
        token: 0,
        hinted_handoff: false,
        system_replication: 1,
        tls_keystore,
        role_setup_delay_ms: 0,
    }
}

/// What `up` did, so a caller can undo exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// This call started the node.
    Now,
    /// A node was already running, or `SCYLLA_URI` names a cluster.
    Already,
}

pub fn up() -> Result<Started, String> {
    if let Some(uri) = scylla_uri() {
        println!("SCYLLA_URI={uri}: using that cluster, nothing to start");
        return Ok(Started::Already);
    }
    let node = node();
    if let Some(pid) = node.running_pid() {
        if node.cql_answers() {
            println!("Cassandra is already running (pid {pid}) on {ADDRESS}:{CQL_PORT}");
            return Ok(Started::Already);
        }
    }
    if node.cql_answers() {
        return Err(format!(
            "{ADDRESS}:{CQL_PORT} is taken by a process this command did not start. Stop it, or point \
             everything at it with SCYLLA_URI={ADDRESS}:{CQL_PORT}"
        ));
    }
    cassandra::check_java()?;
    cassandra::fetch_jars()?;
    crate::node_tls::NodeTls::new(&node.root).ensure()?;
    node.write_config()?;
    let pid = node.spawn()?.pid;
    node.wait_for_cql(pid, Instant::now() + STARTUP_TIMEOUT)?;
    println!(
        "Cassandra is up on {ADDRESS}:{CQL_PORT} (pid {pid})\n  logs: {}\n  stop: cargo xtask db down",
        node.system_log().display()
    );
    Ok(Started::Now)
}

pub fn down() -> Result<(), String> {
    match node().stop(SHUTDOWN_TIMEOUT)? {
        Some(pid) => println!("Cassandra stopped (pid {pid})"),
        None => println!("Cassandra is not running"),
    }
    Ok(())
}

pub fn status() -> Result<(), String> {
    if let Some(uri) = scylla_uri() {
        println!("SCYLLA_URI={uri}: the local node is not used");
    }
    let node = node();
    match node.running_pid() {
        Some(pid) => {
            let cql = if node.cql_answers() { "answers" } else { "does not answer yet" };
            println!("Cassandra is running (pid {pid}); CQL on {ADDRESS}:{CQL_PORT} {cql}");
            println!("  logs: {}", node.system_log().display());
        }
        None => println!("Cassandra is not running (start it with `cargo xtask db up`)"),
    }
    Ok(())
}

pub fn scylla_uri() -> Option<String> {
    std::env::var("SCYLLA_URI").ok().filter(|uri| !uri.trim().is_empty())
}
