//! `cargo xtask cluster up [--dcs 2] | down | status | kill N | pause N | resume N | start N | nodetool N ...`:
//! a local 3-node Apache Cassandra 5.0 cluster for the fault tests, beside the single development
//! node.
//!
//! Node N (1 to 3) listens on 127.0.0.1N (CQL 9042, internode 7000), has JMX on port 721N, a
//! 768 MB heap, one preassigned token of a balanced ring, and its own folder
//! `target/cluster/nodeN/` (config, data, commitlog, hints, logs). All three are seeds, so a fresh
//! cluster forms without bootstrap streaming. With `--dcs 2` the same three nodes form two
//! datacenters instead (GossipingPropertyFileSnitch): `dc1` of nodes 1 and 2, `dc2` of node 3, in
//! `target/cluster-2dc/`. A node refuses to start in another datacenter than the one its data was
//! written in, so each layout has its own folder; they share the addresses, so one runs at a time,
//! and the commands act on the one that runs. `kill` is SIGKILL, `pause` and `resume` are SIGSTOP
//! and SIGCONT: the faults the tests inject. `snapshot` and `restore` copy a keyspace's tables
//! out and back (see `snapshot.rs`).

use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use clap::Subcommand;

use crate::cassandra::{self, Node, ProcessState, CQL_PORT};
use crate::snapshot::SnapshotNode;

pub const NODES: u8 = 3;
const STARTUP_TIMEOUT: Duration = Duration::from_secs(300);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `agree` waits for one schema version, a restart of a lagging node included.
const AGREEMENT_TIMEOUT: Duration = Duration::from_secs(180);
const HEAP_MB: u32 = 768;

/// How the three nodes are split into datacenters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One datacenter (SimpleSnitch's `datacenter1`), for most fault tests.
    OneDatacenter,
    /// `dc1` of nodes 1 and 2, `dc2` of node 3, for the datacenter tests.
    TwoDatacenters,
}

impl Layout {
    fn from_count(datacenters: u8) -> Result<Layout, String> {
        match datacenters {
            1 => Ok(Layout::OneDatacenter),
            2 => Ok(Layout::TwoDatacenters),
            other => Err(format!("--dcs {other}: the local cluster has 1 or 2 datacenters")),
        }
    }

    fn folder(self) -> std::path::PathBuf {
        let name = match self {
            Layout::OneDatacenter => "cluster",
            Layout::TwoDatacenters => "cluster-2dc",
        };
        crate::workspace_root().join("target").join(name)
    }

    /// Node `number`'s datacenter, where the layout names them.
    fn datacenter(self, number: u8) -> Option<&'static str> {
        match (self, number) {
            (Layout::OneDatacenter, _) => None,
            (Layout::TwoDatacenters, 1 | 2) => Some("dc1"),
            (Layout::TwoDatacenters, _) => Some("dc2"),
        }
    }

    fn other(self) -> Layout {
        match self {
            Layout::OneDatacenter => Layout::TwoDatacenters,
            Layout::TwoDatacenters => Layout::OneDatacenter,
        }
    }

    /// The layout with a node running; the one-datacenter layout when none runs.
    fn running() -> Layout {
        let runs = |layout: Layout| ClusterNode::all(layout).iter().any(|node| node.node.running_pid().is_some());
        if runs(Layout::TwoDatacenters) {
            Layout::TwoDatacenters
        } else {
            Layout::OneDatacenter
        }
    }
}

#[derive(Subcommand)]
pub enum Action {
    /// Start all three nodes at once; wait until each serves CQL, sees the other two UP, and all
    /// agree on the schema (see `agree`). With part of the cluster running, start or resume only
    /// the nodes that are not. `--dcs 2` brings up the two-datacenter cluster instead, stopping
    /// the other if it runs (and `--dcs 1` the reverse).
    Up {
        /// Datacenters: 1, or 2 (`dc1` of nodes 1 and 2, `dc2` of node 3).
        #[arg(long, default_value_t = 1)]
        dcs: u8,
    },
    /// Wait until the serving nodes agree on one schema version. A node that stays apart for a
    /// minute is restarted, once: schema changes merge by timestamp, so nothing is undone.
    Agree,
    /// Stop every node (SIGTERM, then SIGKILL); leaves the data for the next `up`.
    Down,
    /// Each node's pid, state and ports.
    Status,
    /// SIGKILL node N (1-3): a crash.
    Kill { node: u8 },
    /// SIGSTOP node N: it holds its connections but answers nothing.
    Pause { node: u8 },
    /// SIGCONT node N after a pause.
    Resume { node: u8 },
    /// Start node N again after a kill; wait until it and its peers see each other UP.
    Start { node: u8 },
    /// Snapshot KEYSPACE's tables on every node into target/cluster/snapshots/TAG
    /// (target/cluster-2dc/snapshots/TAG on two datacenters; nodetool snapshot; the copy
    /// outlives a DROP KEYSPACE).
    Snapshot {
        tag: String,
        #[arg(long)]
        keyspace: String,
    },
    /// Load snapshot TAG back into KEYSPACE's tables, which must exist (nodetool import): every
    /// cell keeps its write timestamp, so nothing newer is overwritten.
    Restore {
        tag: String,
        #[arg(long)]
        keyspace: String,
    },
    /// Run nodetool against node N, for example `nodetool 1 disablehandoff`.
    Nodetool {
        node: u8,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
}

pub fn run(action: &Action) -> Result<(), String> {
    let layout = Layout::running();
    match *action {
        Action::Up { dcs } => up(Layout::from_count(dcs)?),
        Action::Agree => agree_on_schema(layout, Instant::now() + AGREEMENT_TIMEOUT),
        Action::Down => down(layout),
        Action::Status => status(layout),
        Action::Kill { node } => kill(named_node(layout, node)?),
        Action::Pause { node } => pause(named_node(layout, node)?),
        Action::Resume { node } => resume(named_node(layout, node)?),
        Action::Start { node } => start(named_node(layout, node)?),
        Action::Snapshot { ref tag, ref keyspace } => {
            with_serving_nodes(layout, |nodes| crate::snapshot::snapshot(nodes, tag, keyspace))
        }
        Action::Restore { ref tag, ref keyspace } => {
            with_serving_nodes(layout, |nodes| crate::snapshot::restore(nodes, tag, keyspace))
        }
        Action::Nodetool { node, ref args } => {
            let node = named_node(layout, node)?;
            node.running_pid()?;
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            print!("{}", node.node.nodetool(&args)?);
            Ok(())
        }
    }
}

/// Runs `work` on every node, once all of them serve: a snapshot or a restore of part of the
/// replicas would be a different one on each.
fn with_serving_nodes(layout: Layout, work: impl FnOnce(&[SnapshotNode]) -> Result<(), String>) -> Result<(), String> {
    let nodes = ClusterNode::all(layout);
    for node in &nodes {
        if !matches!(node.state(), NodeState::Serving(_)) {
            return Err(format!("{node} is not serving: bring the cluster up first (`cargo xtask cluster up`)"));
        }
    }
    let nodes: Vec<SnapshotNode> =
        nodes.iter().map(|node| SnapshotNode { number: node.number, node: &node.node }).collect();
    work(&nodes)
}

/// True when all three nodes of `layout` serve CQL.
pub fn is_up(layout: Layout) -> bool {
    ClusterNode::all(layout).iter().all(|node| matches!(node.state(), NodeState::Serving(_)))
}

/// Node `number` of the cluster (1-based, as the commands count).
struct ClusterNode {
    number: u8,
    layout: Layout,
    node: Node,
}

impl ClusterNode {
    fn new(layout: Layout, number: u8) -> ClusterNode {
        let node = Node {
            root: layout.folder().join(format!("node{number}")),
            address: address(number),
            jmx_port: 7210 + u16::from(number),
            heap_mb: HEAP_MB,
            cluster_name: match layout {
                Layout::OneDatacenter => "scylla-table faults",
                Layout::TwoDatacenters => "scylla-table faults, two datacenters",
            },
            datacenter: layout.datacenter(number),
            seeds: (1..=NODES).map(address).collect(),
            token: balanced_token(number),
            hinted_handoff: true,
            system_replication: u32::from(NODES),
            tls_keystore: None,
            role_setup_delay_ms: 2000,
        };
        ClusterNode { number, layout, node }
    }

    fn all(layout: Layout) -> Vec<ClusterNode> {
        (1..=NODES).map(|number| ClusterNode::new(layout, number)).collect()
    }

    fn state(&self) -> NodeState {
        match self.node.running_pid() {
            None => NodeState::Stopped,
            Some(pid) => match cassandra::process_state(pid) {
                Some(ProcessState::Paused) => NodeState::Paused(pid),
                _ if self.node.cql_answers() => NodeState::Serving(pid),
                _ => NodeState::Starting(pid),
            },
        }
    }

    fn running_pid(&self) -> Result<u32, String> {
        self.node.running_pid().ok_or_else(|| {
            format!("node {} is not running (start it with `cargo xtask cluster start {}`)", self.number, self.number)
        })
    }

    /// The gossip line a node logs when it sees this one come up.
    fn up_line(&self) -> String {
        format!("/{}:{} is now UP", self.node.address, cassandra::STORAGE_PORT)
    }
}

impl fmt::Display for ClusterNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {} ({})", self.number, self.node.address)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeState {
    Stopped,
    Starting(u32),
    Serving(u32),
    Paused(u32),
}

fn address(number: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 10 + number)
}

/// Murmur3 tokens spaced evenly over the ring, so each node owns a third of it.
fn balanced_token(number: u8) -> i64 {
    let step = u64::MAX / u64::from(NODES);
    let offset = step * u64::from(number - 1);
    i64::MIN.wrapping_add_unsigned(offset)
}

/// The node the command line names, if the cluster has it.
fn named_node(layout: Layout, number: u8) -> Result<ClusterNode, String> {
    if (1..=NODES).contains(&number) {
        Ok(ClusterNode::new(layout, number))
    } else {
        Err(format!("there is no node {number}: the cluster's nodes are 1 to {NODES}"))
    }
}

fn up(layout: Layout) -> Result<(), String> {
    let started = Instant::now();
    if ClusterNode::all(layout.other()).iter().any(|node| node.node.running_pid().is_some()) {
        println!("stopping the {:?} cluster first: the layouts share the nodes' addresses", layout.other());
        down(layout.other())?;
    }
    let nodes = ClusterNode::all(layout);
    if is_up(layout) {
        println!("the cluster is already up");
        agree_on_schema(layout, started + AGREEMENT_TIMEOUT)?;
        return status(layout);
    }
    let states: Vec<NodeState> = nodes.iter().map(ClusterNode::state).collect();
    if states.iter().any(|state| *state != NodeState::Stopped) {
        // Part of the cluster runs (after a fault): bring back only what is missing.
        for (node, state) in nodes.into_iter().zip(states) {
            match state {
                NodeState::Stopped => start(node)?,
                NodeState::Paused(_) => resume(node)?,
                NodeState::Starting(pid) => node.node.wait_for_cql(pid, started + STARTUP_TIMEOUT)?,
                NodeState::Serving(_) => {}
            }
        }
        agree_on_schema(layout, Instant::now() + AGREEMENT_TIMEOUT)?;
        println!("the cluster is up in {:.0} s", started.elapsed().as_secs_f64());
        return status(layout);
    }
    for node in &nodes {
        if node.node.cql_answers() {
            return Err(format!("{}:{CQL_PORT} is taken by a process this command did not start", node.node.address));
        }
    }
    cassandra::check_java()?;
    cassandra::fetch_jars()?;
    let mut spawned = Vec::new();
    for node in &nodes {
        node.node.write_config()?;
        spawned.push((node, node.node.spawn()?));
    }
    println!("started {NODES} nodes; waiting until each serves CQL and sees its peers UP...");
    let deadline = started + STARTUP_TIMEOUT;
    for (node, started) in &spawned {
        let peers: Vec<&ClusterNode> = nodes.iter().filter(|peer| peer.number != node.number).collect();
        wait_ready(node, started.pid, started.log_offset, &peers, deadline)?;
    }
    agree_on_schema(layout, Instant::now() + AGREEMENT_TIMEOUT)?;
    println!("the cluster is up in {:.0} s", started.elapsed().as_secs_f64());
    status(layout)
}

/// How long nodes may disagree on the schema before the ones apart are restarted.
const SCHEMA_PATIENCE: Duration = Duration::from_secs(60);

/// Waits until every serving node has the same schema version, as `nodetool describecluster`
/// on the first serving node reports them (it asks each live node); stopped and paused nodes
/// catch up when they return. Nodes started together can stay apart: a schema pull lost while
/// a peer was still starting is retried only once a minute, and meanwhile a client's schema
/// change waits in vain for agreement. After SCHEMA_PATIENCE the nodes outside the one largest
/// group are restarted, once: a restarted node exchanges its schema with its peers, and schema
/// changes merge by timestamp, so a restart loses none (unlike `resetlocalschema`, which drops
/// the node's own). A tie, or a node that does not answer, is left alone and fails at the
/// deadline with what describecluster said.
fn agree_on_schema(layout: Layout, deadline: Instant) -> Result<(), String> {
    let started = Instant::now();
    let mut restarted = false;
    let mut described = String::new();
    while Instant::now() < deadline {
        let serving: Vec<ClusterNode> =
            ClusterNode::all(layout).into_iter().filter(|node| matches!(node.state(), NodeState::Serving(_))).collect();
        let Some(observer) = serving.first() else {
            return Err("no node serves CQL".to_owned());
        };
        match observer.node.nodetool(&["describecluster"]) {
            Ok(answer) => described = answer,
            Err(error) => {
                // A node busy right after a fault may not answer JMX at once.
                eprintln!("{error}; asking again");
                std::thread::sleep(Duration::from_secs(3));
                continue;
            }
        }
        let versions = schema_versions(&described);
        let agreed = versions.iter().any(|(version, addresses)| {
            version != UNREACHABLE && serving.iter().all(|node| addresses.contains(&node.node.address.to_string()))
        });
        if agreed {
            return Ok(());
        }
        if !restarted && started.elapsed() >= SCHEMA_PATIENCE {
            restarted = true;
            for node in apart(&versions, &serving) {
                eprintln!(
                    "{node} has disagreed on the schema for {} s; restarting it:\n{described}",
                    SCHEMA_PATIENCE.as_secs()
                );
                restart(node)?;
            }
        }
        std::thread::sleep(Duration::from_secs(3));
    }
    Err(format!("the nodes do not agree on the schema:\n{described}"))
}

/// The version Cassandra lists the nodes under that did not answer.
const UNREACHABLE: &str = "UNREACHABLE";

/// The serving nodes outside the one largest group of a known version; none on a tie.
fn apart<'a>(versions: &[(String, Vec<String>)], serving: &'a [ClusterNode]) -> Vec<&'a ClusterNode> {
    let known: Vec<&(String, Vec<String>)> = versions.iter().filter(|(version, _)| version != UNREACHABLE).collect();
    let largest = known.iter().map(|(_, addresses)| addresses.len()).max().unwrap_or(0);
    let mut largest_groups = known.iter().filter(|(_, addresses)| addresses.len() == largest);
    let (Some((_, majority)), None) = (largest_groups.next(), largest_groups.next()) else { return Vec::new() };
    let others: Vec<&String> =
        known.iter().filter(|(_, addresses)| addresses != majority).flat_map(|(_, addresses)| addresses).collect();
    serving.iter().filter(|node| others.contains(&&node.node.address.to_string())).collect()
}

/// Stops a node and starts it again, waiting until it and its peers see each other UP.
fn restart(node: &ClusterNode) -> Result<(), String> {
    let peers = watching_peers(node, |_| true);
    node.node.stop(SHUTDOWN_TIMEOUT)?;
    spawn_and_wait(node, &peers, Instant::now() + STARTUP_TIMEOUT).map(|_| ())
}

/// Starts `node`'s process and waits until it serves CQL and `peers`, the nodes that ran before,
/// see it up again. Returns its pid.
fn spawn_and_wait(node: &ClusterNode, peers: &[(ClusterNode, u64)], deadline: Instant) -> Result<u32, String> {
    let spawned = node.node.spawn()?;
    let peer_nodes: Vec<&ClusterNode> = peers.iter().map(|(peer, _)| peer).collect();
    wait_ready(node, spawned.pid, spawned.log_offset, &peer_nodes, deadline)?;
    wait_until_seen_up(node, peers, deadline)?;
    Ok(spawned.pid)
}

/// Each schema version in `nodetool describecluster`'s answer with the addresses that have it;
/// unreachable nodes are listed under the version `UNREACHABLE`.
fn schema_versions(described: &str) -> Vec<(String, Vec<String>)> {
    described
        .lines()
        .skip_while(|line| line.trim() != "Schema versions:")
        .skip(1)
        .take_while(|line| line.trim().is_empty() || line.contains(": ["))
        .filter_map(|line| {
            let (version, addresses) = line.split_once(": [")?;
            let addresses = addresses.trim_end_matches(']').split(", ").map(|address| address.trim().to_owned());
            Some((version.trim().to_owned(), addresses.collect()))
        })
        .collect()
}

fn down(layout: Layout) -> Result<(), String> {
    for node in ClusterNode::all(layout) {
        match node.node.stop(SHUTDOWN_TIMEOUT)? {
            Some(pid) => println!("{node} stopped (pid {pid})"),
            None => println!("{node} is not running"),
        }
    }
    Ok(())
}

fn status(layout: Layout) -> Result<(), String> {
    println!("{:<6} {:<12} {:<5} {:<9} {:<24} {:<6} {:<6}", "node", "address", "dc", "pid", "state", "cql", "jmx");
    for node in ClusterNode::all(layout) {
        let (pid, state) = match node.state() {
            NodeState::Stopped => ("-".to_owned(), "stopped"),
            NodeState::Starting(pid) => (pid.to_string(), "running, CQL not yet up"),
            NodeState::Serving(pid) => (pid.to_string(), "serving"),
            NodeState::Paused(pid) => (pid.to_string(), "paused (SIGSTOP)"),
        };
        println!(
            "{:<6} {:<12} {:<5} {:<9} {:<24} {:<6} {:<6}",
            node.number,
            node.node.address,
            layout.datacenter(node.number).unwrap_or("-"),
            pid,
            state,
            CQL_PORT,
            node.node.jmx_port
        );
    }
    println!("logs: {}/nodeN/logs/system.log", layout.folder().display());
    Ok(())
}

fn kill(node: ClusterNode) -> Result<(), String> {
    let pid = node.running_pid()?;
    cassandra::signal_unless_gone(pid, cassandra::Signal::SIGKILL)?;
    cassandra::wait_until_gone(pid);
    node.node.forget_pid();
    println!("{node} killed (pid {pid})");
    Ok(())
}

fn pause(node: ClusterNode) -> Result<(), String> {
    let pid = node.running_pid()?;
    local_cassandra::signal(pid, cassandra::Signal::SIGSTOP)?;
    println!("{node} paused (pid {pid}); `cargo xtask cluster resume {}` continues it", node.number);
    Ok(())
}

fn resume(node: ClusterNode) -> Result<(), String> {
    let pid = node.running_pid()?;
    // Peers that convicted the node while it was paused must see it come back before a caller
    // counts on it (a read at ALL, say): read their logs from here on.
    let convicted_by = watching_peers(&node, |peer| sees_down(peer, &node));
    local_cassandra::signal(pid, cassandra::Signal::SIGCONT)?;
    wait_until_seen_up(&node, &convicted_by, Instant::now() + STARTUP_TIMEOUT)?;
    println!("{node} resumed (pid {pid})");
    Ok(())
}

/// The serving peers of `node` that `watch` picks, each with the length of its log now: what
/// they log from here on is news about `node`.
fn watching_peers(node: &ClusterNode, watch: impl Fn(&ClusterNode) -> bool) -> Vec<(ClusterNode, u64)> {
    ClusterNode::all(node.layout)
        .into_iter()
        .filter(|peer| peer.number != node.number && matches!(peer.state(), NodeState::Serving(_)) && watch(peer))
        .map(|peer| {
            let offset = peer.node.log_len();
            (peer, offset)
        })
        .collect()
}

/// Waits until each peer logs, after its offset, that `node` is UP.
fn wait_until_seen_up(node: &ClusterNode, peers: &[(ClusterNode, u64)], deadline: Instant) -> Result<(), String> {
    for (peer, offset) in peers {
        wait_for_log_line(peer, *offset, &node.up_line(), deadline)
            .map_err(|()| format!("{peer} did not see {node} come back UP in time"))?;
    }
    Ok(())
}

/// Whether `peer`'s log last marked `node` DOWN rather than UP.
fn sees_down(peer: &ClusterNode, node: &ClusterNode) -> bool {
    let log = peer.node.log_since(0);
    let down = format!("/{}:{} is now DOWN", node.node.address, cassandra::STORAGE_PORT);
    match (log.rfind(&down), log.rfind(&node.up_line())) {
        (Some(down), Some(up)) => down > up,
        (Some(_), None) => true,
        _ => false,
    }
}

fn start(node: ClusterNode) -> Result<(), String> {
    let started = Instant::now();
    match node.state() {
        NodeState::Stopped => {}
        NodeState::Paused(pid) => {
            return Err(format!("{node} is paused (pid {pid}); `cargo xtask cluster resume {}`", node.number))
        }
        NodeState::Starting(pid) | NodeState::Serving(pid) => {
            println!("{node} is already running (pid {pid})");
            return Ok(());
        }
    }
    // The peers that run now must see this node come back.
    let peers = watching_peers(&node, |_| true);
    node.node.write_config()?;
    let pid = spawn_and_wait(&node, &peers, started + STARTUP_TIMEOUT)?;
    agree_on_schema(node.layout, Instant::now() + AGREEMENT_TIMEOUT)?;
    println!("{node} is up again (pid {pid}) in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Waits until `node` serves CQL and its log (since `offset`) shows every peer UP.
fn wait_ready(
    node: &ClusterNode,
    pid: u32,
    offset: u64,
    peers: &[&ClusterNode],
    deadline: Instant,
) -> Result<(), String> {
    node.node.wait_for_cql(pid, deadline)?;
    for peer in peers {
        wait_for_log_line(node, offset, &peer.up_line(), deadline).map_err(|()| {
            format!(
                "{node} serves CQL but did not see {peer} UP in time. Last lines of {}:\n{}",
                node.node.system_log().display(),
                cassandra::tail(&node.node.system_log(), 30)
            )
        })?;
    }
    Ok(())
}

fn wait_for_log_line(node: &ClusterNode, offset: u64, line: &str, deadline: Instant) -> Result<(), ()> {
    loop {
        if node.node.log_since(offset).contains(line) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_the_ring_into_equal_thirds() {
        let tokens: Vec<i64> = (1..=NODES).map(balanced_token).collect();
        assert_eq!(tokens[0], i64::MIN);
        let gaps: Vec<i128> = tokens.windows(2).map(|pair| i128::from(pair[1]) - i128::from(pair[0])).collect();
        let wrap = i128::from(i64::MAX) - i128::from(tokens[2]) + i128::from(tokens[0]) - i128::from(i64::MIN) + 1;
        assert!(gaps.iter().all(|gap| (gap - wrap).abs() <= 2), "gaps {gaps:?}, wrap {wrap}");
    }

    #[test]
    fn nodes_have_their_own_addresses_and_jmx_ports() {
        let nodes = ClusterNode::all(Layout::OneDatacenter);
        assert_eq!(nodes[0].node.address, Ipv4Addr::new(127, 0, 0, 11));
        assert_eq!(nodes[2].node.address, Ipv4Addr::new(127, 0, 0, 13));
        assert_eq!(nodes.iter().map(|node| node.node.jmx_port).collect::<Vec<_>>(), [7211, 7212, 7213]);
        assert_eq!(nodes[1].up_line(), "/127.0.0.12:7000 is now UP");
    }

    #[test]
    fn two_datacenters_have_their_own_folder_and_put_node_3_alone_in_dc2() {
        let nodes = ClusterNode::all(Layout::TwoDatacenters);
        let datacenters: Vec<Option<&str>> = nodes.iter().map(|node| node.node.datacenter).collect();
        assert_eq!(datacenters, [Some("dc1"), Some("dc1"), Some("dc2")]);
        assert!(nodes[0].node.root.ends_with("target/cluster-2dc/node1"));
        assert!(ClusterNode::all(Layout::OneDatacenter).iter().all(|node| node.node.datacenter.is_none()));
        assert!(Layout::from_count(3).is_err());
    }

    #[test]
    fn only_the_nodes_outside_one_largest_group_are_apart() {
        let nodes = ClusterNode::all(Layout::OneDatacenter);
        let version =
            |name: &str, addresses: &[&str]| (name.to_owned(), addresses.iter().map(|a| (*a).to_owned()).collect());
        let numbers = |apart: Vec<&ClusterNode>| apart.iter().map(|node| node.number).collect::<Vec<_>>();
        let split = [version("a", &["127.0.0.11", "127.0.0.13"]), version("b", &["127.0.0.12"])];
        assert_eq!(numbers(apart(&split, &nodes)), [2]);
        let tie = [version("a", &["127.0.0.11"]), version("b", &["127.0.0.12"])];
        assert!(apart(&tie, &nodes[..2]).is_empty());
        let silent = [version("a", &["127.0.0.11"]), version(UNREACHABLE, &["127.0.0.12", "127.0.0.13"])];
        assert!(apart(&silent, &nodes).is_empty());
    }

    #[test]
    fn schema_versions_are_read_from_describecluster() {
        let agreed = "Cluster Information:\n\tName: faults\n\tSchema versions:\n\t\t81e7f695: [127.0.0.11, 127.0.0.12, 127.0.0.13]\n\nStats for all nodes:\n\tLive: 3\n";
        let versions = schema_versions(agreed);
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].0, "81e7f695");
        assert_eq!(versions[0].1, ["127.0.0.11", "127.0.0.12", "127.0.0.13"]);
        let unreachable = "\tSchema versions:\n\t\t81e7f695: [127.0.0.11, 127.0.0.12]\n\n\t\tUNREACHABLE: [127.0.0.13]\n\nStats for all nodes:\n";
        let versions = schema_versions(unreachable);
        assert_eq!(
            versions.iter().map(|(version, _)| version.as_str()).collect::<Vec<_>>(),
            ["81e7f695", "UNREACHABLE"]
        );
        assert_eq!(versions[1].1, ["127.0.0.13"]);
    }
}
