//! Faults on the local 3-node cluster of `cargo xtask cluster up` (127.0.0.11-13): nodes are
//! killed and restarted under a steady load of conversation writes, in a keyspace with
//! replication factor 3 and the store's defaults (writes at QUORUM, reads at ONE). Every test
//! counts what the writers were told succeeded (acked), what of that cannot be read back (lost,
//! must be 0), and what was stored that no writer asked for (duplicated, must be 0).
//!
//! These tests kill processes, so they run only through `cargo xtask test --faults`, which brings
//! the cluster up, runs them one at a time (`--ignored --test-threads=1`) and stops it again.
//! They signal only the nodes that command started, through `cargo xtask cluster`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_migrate::projection::Layout;
use chat_migrate::{audit_all, ensure_scylla_schema};
use conversation_store::{new_id, ConversationStore, StoreError, StoreTables, TurnType};
use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
use scylla::statement::Consistency;
use scylla_table::{ConnectionConfig, ConsistencyLevels, Database, Replication, Unavailability};

const NODES: [&str; 3] = ["127.0.0.11:9042", "127.0.0.12:9042", "127.0.0.13:9042"];
const WRITERS: usize = 4;
/// Between two writes of one writer: about WRITERS / WRITE_EVERY writes per second in all.
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// A write that fails is repeated with the same ids, as a client would (the store makes that
/// safe), for up to this long: longer than the nodes take to convict a dead peer, during which a
/// logged batch can time out writing its batchlog to that peer.
const RETRY_FOR: Duration = Duration::from_secs(40);
const RETRY_PAUSE: Duration = Duration::from_millis(500);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The tests share the cluster, and each takes down nodes the others need.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `cargo xtask cluster <args>` through the xtask binary that runs this suite (it says
/// where in `XTASK_BIN`); a nested `cargo` would wait on the lock of the `cargo test` running this.
fn cluster(args: &[&str]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let xtask = std::env::var_os("XTASK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("debug").join("xtask"));
    assert!(xtask.exists(), "{} is missing: run these tests with `cargo xtask test --faults`", xtask.display());
    let status = std::process::Command::new(&xtask)
        .arg("cluster")
        .args(args)
        .current_dir(&root)
        .status()
        .expect("the xtask binary runs");
    assert!(status.success(), "cargo xtask cluster {} failed", args.join(" "));
}

async fn cluster_async(args: &'static [&'static str]) {
    tokio::task::spawn_blocking(move || cluster(args)).await.expect("the cluster command does not panic");
}

/// A keyspace with replication factor 3 on the cluster, dropped by `finish`.
struct FaultKeyspace {
    db: Database,
    config: ConnectionConfig,
    keyspace: String,
}

impl FaultKeyspace {
    /// Brings back any node an earlier test left down, then makes the keyspace.
    async fn new(name: &str) -> FaultKeyspace {
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

    fn store(&self) -> ConversationStore {
        ConversationStore::new(self.db.clone())
    }

    /// Another connection to the keyspace with its own request timeout and hedging.
    async fn connect(&self, request_timeout: Duration, speculative_after: Option<Duration>) -> ConversationStore {
        let mut config = self.config.clone().request_timeout(request_timeout);
        config.speculative_after = speculative_after;
        ConversationStore::new(Database::connect(&config).await.expect("connects to the cluster"))
    }

    /// The store's tables reading at `read`.
    fn tables(&self, read: Consistency) -> StoreTables {
        StoreTables::new(&self.db).with_consistency(ConsistencyLevels { read, write: Consistency::Quorum })
    }

    async fn finish(self) {
        wait_for_replays(&self.db).await;
        until_settled("dropping the keyspace", || self.db.drop_keyspace(&self.keyspace)).await;
    }
}

/// Waits until no node holds a batchlog entry or undelivered hints. Their replay writes into
/// the keyspace's tables, and Cassandra 5.0 fails to drop a table written to while it drops
/// ("Unknown CF" in its MigrationStage, then schema disagreement until the node restarts).
async fn wait_for_replays(db: &Database) {
    const REPLAYS_FOR: Duration = Duration::from_secs(120);
    let started = Instant::now();
    let nodes = db.session().get_cluster_state().get_nodes_info().to_vec();
    loop {
        let mut pending = Vec::new();
        for node in &nodes {
            for (what, cql) in [
                ("batchlog entries", "SELECT id FROM system.batches"),
                ("hint targets", "SELECT host_id FROM system_views.pending_hints"),
            ] {
                let mut statement = scylla::statement::unprepared::Statement::new(cql);
                statement.set_load_balancing_policy(Some(SingleTargetLoadBalancingPolicy::new(
                    NodeIdentifier::Node(node.clone()),
                    None,
                )));
                let rows = match db.session().query_unpaged(statement, ()).await {
                    Ok(result) => result.into_rows_result().map(|rows| rows.rows_num()).unwrap_or(1),
                    Err(_) => 1,
                };
                if rows > 0 {
                    pending.push(format!("{} {what} on {}", rows, node.address));
                }
            }
        }
        if pending.is_empty() {
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

/// Runs a schema change until it succeeds, for up to SETTLE_FOR. Right after a fault the nodes
/// still replay hints and batchlogs into the keyspace's tables, and a schema change can meet
/// them ("Unknown CF"); it passes once they are through.
async fn until_settled<T, E: std::fmt::Display, Fut: std::future::Future<Output = Result<T, E>>>(
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
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(error) => panic!("{what} failed for {} s: {error}", SETTLE_FOR.as_secs()),
        }
    }
}

/// What the writers were told succeeded, and every id they tried.
#[derive(Debug, Default)]
struct Ledger {
    /// session → (turn uid, type) acknowledged, in order.
    turns: BTreeMap<String, Vec<(String, TurnType)>>,
    /// agent turn → step contents acknowledged, by idx.
    steps: BTreeMap<String, Vec<String>>,
    /// Every turn id a writer sent, acknowledged or not.
    attempted_turns: BTreeSet<String>,
    sessions: Vec<String>,
    /// session → the writer account that owns it.
    owners: BTreeMap<String, String>,
    acked: usize,
    /// Writes that failed at least once before they were acknowledged.
    retried: usize,
    /// The longest time from a write's first attempt to its acknowledgement.
    slowest: Duration,
    /// Attempts that failed (each then repeated), and the longest one took to fail.
    failed_attempts: usize,
    slowest_failed_attempt: Duration,
    /// Writes that failed every attempt: the caller was told they failed.
    failed: Vec<String>,
}

impl Ledger {
    fn merge(&mut self, other: Ledger) {
        self.turns.extend(other.turns);
        self.steps.extend(other.steps);
        self.attempted_turns.extend(other.attempted_turns);
        self.sessions.extend(other.sessions);
        self.owners.extend(other.owners);
        self.failed_attempts += other.failed_attempts;
        self.slowest_failed_attempt = self.slowest_failed_attempt.max(other.slowest_failed_attempt);
        self.acked += other.acked;
        self.retried += other.retried;
        self.slowest = self.slowest.max(other.slowest);
        self.failed.extend(other.failed);
    }
}

/// Counts one write's outcome; true when it was acknowledged.
fn record(ledger: &mut Ledger, what: String, outcome: Result<Attempts, StoreError>) -> bool {
    match outcome {
        Ok(attempts) => {
            ledger.acked += 1;
            ledger.retried += usize::from(attempts.count > 1);
            ledger.slowest = ledger.slowest.max(attempts.took);
            true
        }
        Err(error) => {
            ledger.failed.push(format!("{what}: {error}"));
            false
        }
    }
}

/// How an acknowledged write got there.
struct Attempts {
    count: usize,
    took: Duration,
}

/// Repeats `write` until it succeeds, for up to RETRY_FOR, counting each failed attempt in
/// `ledger`. Returns how many attempts it took, or the last error.
async fn with_retries<T, F, Fut>(ledger: &mut Ledger, mut write: F) -> Result<Attempts, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let started = Instant::now();
    let mut count = 0;
    loop {
        count += 1;
        let attempt_started = Instant::now();
        let outcome = write().await;
        if outcome.is_err() {
            ledger.failed_attempts += 1;
            ledger.slowest_failed_attempt = ledger.slowest_failed_attempt.max(attempt_started.elapsed());
        }
        match outcome {
            Ok(_) => return Ok(Attempts { count, took: started.elapsed() }),
            Err(error) if started.elapsed() >= RETRY_FOR => return Err(error),
            Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
        }
    }
}

/// One writer: sessions of a human turn, an agent turn and two steps, one write every
/// WRITE_EVERY, until `stop`. Every write carries its own ids, so a retry is safe.
async fn write_steadily(store: ConversationStore, account: String, stop: Arc<AtomicBool>) -> Ledger {
    let mut ledger = Ledger::default();
    let mut ticks = tokio::time::interval(WRITE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let session_uid = new_id();
        let created =
            with_retries(&mut ledger, || store.create_session_with_id(&account, &session_uid, "faults")).await;
        if !record(&mut ledger, format!("create session {session_uid}"), created) {
            continue;
        }
        ledger.sessions.push(session_uid.clone());
        ledger.owners.insert(session_uid.clone(), account.clone());
        ledger.turns.insert(session_uid.clone(), Vec::new());

        ticks.tick().await;
        let human = new_id();
        ledger.attempted_turns.insert(human.clone());
        let appended = with_retries(&mut ledger, || {
            store.append_human_turn(&account, &session_uid, None, "node down?", Some(&human))
        })
        .await;
        if !record(&mut ledger, format!("human turn {human}"), appended) {
            continue;
        }
        ledger.turns.get_mut(&session_uid).unwrap().push((human.clone(), TurnType::Human));

        ticks.tick().await;
        let agent = new_id();
        ledger.attempted_turns.insert(agent.clone());
        let appended =
            with_retries(&mut ledger, || store.append_agent_turn(&account, &session_uid, &human, Some(&agent))).await;
        if !record(&mut ledger, format!("agent turn {agent}"), appended) {
            continue;
        }
        ledger.turns.get_mut(&session_uid).unwrap().push((agent.clone(), TurnType::Agent));

        for idx in 0..2 {
            ticks.tick().await;
            let content = format!("step {idx} of {agent}");
            let appended =
                with_retries(&mut ledger, || store.append_step(&account, &session_uid, &agent, idx, 1, &content)).await;
            if !record(&mut ledger, format!("step {idx} of {agent}"), appended) {
                break;
            }
            ledger.steps.entry(agent.clone()).or_default().push(content);
        }
    }
    ledger
}

/// The writers, running until `stop` is called.
struct Load {
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<Ledger>>,
}

impl Load {
    fn start(store: &ConversationStore, test: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let writers = (0..WRITERS)
            .map(|writer| {
                let account = format!("{test}-writer-{writer}");
                tokio::spawn(write_steadily(store.clone(), account, stop.clone()))
            })
            .collect();
        Load { stop, writers }
    }

    async fn stop(self) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        let mut ledger = Ledger::default();
        for writer in self.writers {
            ledger.merge(writer.await.expect("a writer does not panic"));
        }
        ledger
    }
}

/// What a read-back found against the ledger.
#[derive(Debug, Default, PartialEq, Eq)]
struct ReadBack {
    lost: Vec<String>,
    duplicated: Vec<String>,
}

/// Loads every acknowledged session at `read` and compares it with the ledger: every
/// acknowledged turn and step must be there (else lost), and every stored turn must be one a
/// writer sent, once (else duplicated).
async fn read_back(keyspace: &FaultKeyspace, ledger: &Ledger, read: Consistency) -> ReadBack {
    let store = keyspace.store().with_consistency(ConsistencyLevels { read, write: Consistency::Quorum });
    let mut found = ReadBack::default();
    for (session_uid, turns) in &ledger.turns {
        let account = &ledger.owners[session_uid];
        let conversation = match store.load_conversation(account, session_uid).await {
            Ok(conversation) => conversation,
            Err(error) => {
                found.lost.push(format!("session {session_uid}: {error}"));
                continue;
            }
        };
        let mut seen = BTreeSet::new();
        for turn in &conversation.turns {
            let uid = &turn.turn.turn_uid;
            if !seen.insert(uid.clone()) || !ledger.attempted_turns.contains(uid) {
                found.duplicated.push(format!("turn {uid} of session {session_uid}"));
            }
        }
        for (turn_uid, turn_type) in turns {
            let Some(stored) = conversation.turn(turn_uid) else {
                found.lost.push(format!("turn {turn_uid} of session {session_uid}"));
                continue;
            };
            if stored.turn.turn_type != *turn_type {
                found.lost.push(format!("turn {turn_uid} reads back as {:?}", stored.turn.turn_type));
            }
            let acked_steps = ledger.steps.get(turn_uid).map(Vec::as_slice).unwrap_or_default();
            let stored_steps: Vec<&str> = stored.steps.iter().map(|step| step.content.as_str()).collect();
            if !stored_steps.starts_with(&acked_steps.iter().map(String::as_str).collect::<Vec<_>>()) {
                found.lost.push(format!("steps of turn {turn_uid}: acked {acked_steps:?}, stored {stored_steps:?}"));
            }
        }
    }
    found
}

/// After a fault is over: every acknowledged write reads back at ALL (every replica answers, and
/// the read repairs any that missed a write), nothing was stored twice, and every session of the
/// keyspace, including those of writes that failed, passes the audit, so no turn is
/// half-denormalized. A session whose rows went missing cannot load, so it counts as lost.
async fn assert_nothing_lost(fault: &str, keyspace: &FaultKeyspace, ledger: &Ledger) {
    let after = read_back(keyspace, ledger, Consistency::All).await;
    let audited =
        audit_all(&keyspace.tables(Consistency::All), Layout::default()).await.expect("the audit scans the keyspace");
    println!(
        "{fault}: acked {}, lost {}, duplicated {}, acked after a retry {} (slowest {:.1} s), failed {}; {}",
        ledger.acked,
        after.lost.len(),
        after.duplicated.len(),
        ledger.retried,
        ledger.slowest.as_secs_f64(),
        ledger.failed.len(),
        audited.summary()
    );
    assert!(after.lost.is_empty(), "{fault}: lost: {:?}", after.lost);
    assert!(after.duplicated.is_empty(), "{fault}: duplicated: {:?}", after.duplicated);
    assert!(audited.is_clean(), "{fault}: a turn is half-denormalized or inconsistent: {:?}", audited.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills cluster nodes: run with `cargo xtask test --faults`"]
async fn a_node_killed_mid_load_loses_no_acknowledged_write() {
    let _serial = SERIAL.lock().await;
    let keyspace = FaultKeyspace::new("kill_one").await;
    let load = Load::start(&keyspace.store(), "kill-one");
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster_async(&["kill", "3"]).await;
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;

    // While node 3 is down, every write acknowledged so far is readable at QUORUM.
    let so_far = load.stop().await;
    let while_down = read_back(&keyspace, &so_far, Consistency::Quorum).await;
    assert_eq!(while_down, ReadBack::default(), "acknowledged writes read at QUORUM with node 3 down");
    println!("node 3 down for {:.0} s; {} writes acknowledged so far", killed_at.elapsed().as_secs_f64(), so_far.acked);

    let load = Load::start(&keyspace.store(), "kill-one-after");
    cluster_async(&["start", "3"]).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut ledger = load.stop().await;
    ledger.merge(so_far);

    assert_nothing_lost("one node killed and restarted", &keyspace, &ledger).await;
    assert!(ledger.failed.is_empty(), "with 2 of 3 replicas up every write is acknowledged: {:?}", ledger.failed);
    assert!(ledger.acked > 100, "the load ran: {} writes", ledger.acked);
    keyspace.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills cluster nodes: run with `cargo xtask test --faults`"]
async fn with_two_nodes_down_writes_fail_fast_as_unavailable_and_nothing_is_half_written() {
    let _serial = SERIAL.lock().await;
    let keyspace = FaultKeyspace::new("kill_two").await;
    let store = keyspace.store();
    let load = Load::start(&store, "kill-two");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut ledger = load.stop().await;
    let account = "kill-two-probe";
    let session = store.create_session(account, "before").await.expect("a session is written with every node up");
    cluster_async(&["kill", "2"]).await;
    cluster_async(&["kill", "3"]).await;

    // Until the driver and node 1 have noticed, a write can wait for replicas that never answer;
    // after that it is refused at once as unavailable.
    let killed = Instant::now();
    let refused = loop {
        let started = Instant::now();
        let outcome = store.create_session_with_id(account, &new_id(), "two down").await;
        match outcome {
            Err(StoreError::Database(scylla_table::Error::Unavailable { cause, .. })) => {
                break (started.elapsed(), cause)
            }
            Ok(session) => panic!("a write was acknowledged with one replica of three: {session:?}"),
            Err(other) => {
                assert!(killed.elapsed() < Duration::from_secs(60), "no unavailable error within 60 s; last: {other}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let (took, cause) = refused;
    println!(
        "two nodes down: the first write refused as unavailable {:.1} s after the kills, in {took:?}: {cause}",
        killed.elapsed().as_secs_f64()
    );
    if let Unavailability::Replicas { required, alive, .. } = cause {
        assert_eq!((required, alive), (2, 1));
    }
    assert!(took < Duration::from_secs(1), "an unavailable write fails fast, took {took:?}");

    // A turn write while unavailable fails with the typed error that says what to do.
    let error = store
        .append_human_turn(account, &session.session_uid, None, "anyone?", Some(&new_id()))
        .await
        .expect_err("a turn cannot be written with one replica of three");
    assert!(matches!(error, StoreError::Database(scylla_table::Error::Unavailable { .. })), "{error:?}");
    println!("a turn append with two nodes down: {error}");

    cluster_async(&["start", "2"]).await;
    cluster_async(&["start", "3"]).await;
    let load = Load::start(&store, "kill-two-after");
    tokio::time::sleep(Duration::from_secs(3)).await;
    ledger.merge(load.stop().await);

    assert_nothing_lost("two nodes killed and restarted", &keyspace, &ledger).await;
    assert!(ledger.acked > 100, "the load ran: {} writes", ledger.acked);
    assert!(ledger.failed.is_empty(), "with every node up, every write is acknowledged: {:?}", ledger.failed);
    keyspace.finish().await;
}

/// Latencies of conversation loads at a fixed rate, measured from each load's scheduled start.
#[derive(Debug, Default)]
struct Reads {
    latencies: Vec<Duration>,
    errors: Vec<String>,
}

impl Reads {
    fn percentile(&self, quantile: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let rank = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len().max(1));
        sorted.get(rank - 1).copied().unwrap_or_default()
    }

    fn summary(&self) -> String {
        format!(
            "{} loads, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} errors",
            self.latencies.len(),
            self.percentile(0.5).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
            self.percentile(1.0).as_secs_f64() * 1e3,
            self.errors.len()
        )
    }
}

/// Loads the ledger's sessions round robin at `per_second` until `stop`, open loop: each load
/// starts on schedule whatever the earlier ones do, so a stalled node shows in the latencies.
async fn read_steadily(
    store: ConversationStore,
    sessions: Vec<(String, String)>,
    per_second: u32,
    stop: Arc<AtomicBool>,
) -> Reads {
    let reads = Arc::new(std::sync::Mutex::new(Reads::default()));
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / per_second);
    let mut in_flight = Vec::new();
    for (session_uid, account) in sessions.iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let scheduled = ticks.tick().await;
        let (store, reads, session_uid, account) = (store.clone(), reads.clone(), session_uid.clone(), account.clone());
        in_flight.push(tokio::spawn(async move {
            let outcome = store.load_conversation(&account, &session_uid).await;
            let took = scheduled.elapsed();
            let mut reads = reads.lock().unwrap();
            match outcome {
                Ok(_) => reads.latencies.push(took),
                Err(error) => reads.errors.push(format!("after {took:?}: {error}")),
            }
        }));
    }
    for load in in_flight {
        load.await.expect("a load does not panic");
    }
    Arc::try_unwrap(reads).expect("every load finished").into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "pauses a cluster node: run with `cargo xtask test --faults`"]
async fn a_paused_node_costs_hedged_reads_a_bounded_p99_and_requests_time_out_on_time() {
    const PAUSED_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
    const HEDGE_AFTER: Duration = Duration::from_millis(50);
    const PAUSE: Duration = Duration::from_secs(15);
    let _serial = SERIAL.lock().await;
    let keyspace = FaultKeyspace::new("pause").await;
    let seed = Load::start(&keyspace.store(), "pause-seed");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut ledger = seed.stop().await;
    let sessions: Vec<(String, String)> =
        ledger.owners.iter().map(|(session, account)| (session.clone(), account.clone())).collect();
    assert!(sessions.len() >= 10, "seeded {} sessions", sessions.len());

    // Reads at ONE, hedged and not, and writes at QUORUM, all with a 2 s request timeout.
    let hedged = keyspace.connect(PAUSED_REQUEST_TIMEOUT, Some(HEDGE_AFTER)).await;
    let plain = keyspace.connect(PAUSED_REQUEST_TIMEOUT, None).await;
    let stop = Arc::new(AtomicBool::new(false));
    let hedged_reads = tokio::spawn(read_steadily(hedged, sessions.clone(), 50, stop.clone()));
    let plain_reads = tokio::spawn(read_steadily(plain.clone(), sessions, 50, stop.clone()));
    let writes = Load::start(&plain, "pause-writes");
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster_async(&["pause", "2"]).await;
    tokio::time::sleep(PAUSE).await;
    cluster_async(&["resume", "2"]).await;
    stop.store(true, Ordering::Relaxed);
    let hedged_reads = hedged_reads.await.expect("the hedged reader does not panic");
    let plain_reads = plain_reads.await.expect("the plain reader does not panic");
    let during = writes.stop().await;
    println!("node 2 paused for {} s, reads at ONE at 50 loads/s each:", PAUSE.as_secs());
    println!("  hedged after {} ms: {}", HEDGE_AFTER.as_millis(), hedged_reads.summary());
    println!("  not hedged:         {}", plain_reads.summary());
    println!(
        "  writes: {} attempts failed, the slowest after {:.2} s (request timeout {} s)",
        during.failed_attempts,
        during.slowest_failed_attempt.as_secs_f64(),
        PAUSED_REQUEST_TIMEOUT.as_secs()
    );
    // A request stuck on the paused node fails at the configured timeout, not the driver's 30 s.
    assert!(during.failed_attempts > 0, "the pause was felt by writes routed to node 2");
    assert!(
        during.slowest_failed_attempt < PAUSED_REQUEST_TIMEOUT + Duration::from_secs(1),
        "a failed attempt took {:?}",
        during.slowest_failed_attempt
    );
    ledger.merge(during);

    assert_nothing_lost("one node paused", &keyspace, &ledger).await;
    assert!(ledger.failed.is_empty(), "every write is acknowledged in the end: {:?}", ledger.failed);
    // Unhedged reads routed to the paused node wait for the timeout; hedged ones go around it.
    assert!(
        !plain_reads.errors.is_empty() || plain_reads.percentile(0.99) >= PAUSED_REQUEST_TIMEOUT,
        "unhedged reads felt the pause: {}",
        plain_reads.summary()
    );
    assert!(hedged_reads.latencies.len() > 500, "the hedged reader ran: {}", hedged_reads.summary());
    assert!(hedged_reads.errors.is_empty(), "{:?}", hedged_reads.errors);
    assert!(
        hedged_reads.percentile(0.99) < Duration::from_millis(500),
        "hedged p99 during the pause: {}",
        hedged_reads.summary()
    );
    keyspace.finish().await;
}
