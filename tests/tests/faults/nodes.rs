//! Nodes killed, two at once, and paused, under the steady write load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conversation_store::{new_id, ConversationStore, StoreError};
use scylla::statement::Consistency;
use scylla_table::Unavailability;

use crate::cluster::{cluster_async, FaultKeyspace, SERIAL};
use crate::load::{assert_nothing_lost, read_back, Load, ReadBack};

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
    // A write's attempt is the request that failed, plus, for the claim of a new id (a
    // lightweight transaction), the SERIAL read that settles its unknown outcome and, if that
    // read fails, one more (`Table::insert_if_not_exists`), which can meet the paused node too:
    // at most three timeouts.
    assert!(during.failed_attempts > 0, "the pause was felt by writes routed to node 2");
    assert!(
        during.slowest_failed_attempt < 3 * PAUSED_REQUEST_TIMEOUT + Duration::from_secs(1),
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
    // Hedged reads never wait out the timeout: a third of them go to the paused node first, so
    // without hedging p99 is the timeout itself. The bound is half the timeout rather than a
    // fixed figure: on this 2-core machine, three nodes and the writers share the cores, and the
    // hedged p99 has ranged from about 200 ms to 700 ms between runs with the load of the box.
    assert!(
        hedged_reads.percentile(0.99) < PAUSED_REQUEST_TIMEOUT / 2,
        "hedged p99 during the pause: {}",
        hedged_reads.summary()
    );
    keyspace.finish().await;
}
