//! Two datacenters (`cargo xtask cluster up --dcs 2`: dc1 of nodes 1 and 2, dc2 of node 3), a
//! keyspace replicated {dc1: 2, dc2: 1}, and the application in dc1 at LOCAL_QUORUM and
//! LOCAL_ONE: losing dc2 costs dc1 nothing, dc2 catches up when it returns (hints, then the
//! repair an operator runs after an outage), and losing a dc1
//! node is refused with an error that names dc1, while QUORUM still gets its two replicas for
//! single-row writes. A logged batch (a turn) coordinated in dc1 is not acknowledged then: its
//! batchlog wants two nodes, and dc1 has one left; the test prints what it met.

use std::time::{Duration, Instant};

use conversation_store::{new_id, StoreError};
use scylla::statement::Consistency;
use scylla_table::{ConsistencyLevels, Database, Unavailability};

use crate::cluster::{cluster_async, rows_on, FaultKeyspace, DC1, DC2, PENDING_HINTS, SERIAL};
use crate::load::{assert_nothing_lost, read_back, read_back_through, Ledger, Load, ReadBack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills cluster nodes: run with `cargo xtask test --faults`"]
async fn with_dc2_down_dc1_writes_and_reads_on_and_dc2_serves_every_acknowledged_write_when_back() {
    let _serial = SERIAL.lock().await;
    let keyspace = FaultKeyspace::in_two_datacenters("dc2_down").await;
    let load = Load::start(&keyspace.store(), "dc2-down");
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster_async(&["kill", "3"]).await;
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(15)).await;
    let ledger = load.stop().await;
    let down_for = killed_at.elapsed();

    // dc1 alone took every write at LOCAL_QUORUM, and serves all of them at LOCAL_ONE.
    assert!(ledger.failed.is_empty(), "with dc2 down every write is acknowledged in dc1: {:?}", ledger.failed);
    assert!(ledger.acked > 100, "the load ran: {} writes", ledger.acked);
    let in_dc1 = read_back(&keyspace, &ledger, Consistency::LocalOne).await;
    println!(
        "dc2 down for {:.0} s: acked {}, lost {}, duplicated {} (read in dc1 at LOCAL_ONE); attempts that failed \
         and were repeated: {}",
        down_for.as_secs_f64(),
        ledger.acked,
        in_dc1.lost.len(),
        in_dc1.duplicated.len(),
        ledger.failed_attempts
    );
    assert_eq!(in_dc1, ReadBack::default(), "every acknowledged write reads back in dc1 with dc2 down");

    // Back: dc1's coordinators hand node 3 the writes they know it missed (hints), which is not
    // every write: a lightweight transaction's commit is not hinted, nor a write whose hint was
    // still in memory. What an operator runs after a datacenter's outage, a repair, does the rest.
    cluster_async(&["start", "3"]).await;
    let hints = match hints_delivered(&keyspace.db, Duration::from_secs(120)).await {
        Ok(took) => format!("hints delivered {:.0} s after the restart", took.as_secs_f64()),
        Err(pending) => format!("{pending} hints still pending after 120 s"),
    };
    let dc2 = keyspace.client_in(DC2, ConsistencyLevels::local_datacenter()).await;
    let hinted = read_back_through(&dc2, &ledger).await;
    println!(
        "dc2 back, {hints}: in dc2 at LOCAL_ONE (node 3 alone) before a repair: acked {}, missing {}, duplicated {}",
        ledger.acked,
        hinted.lost.len(),
        hinted.duplicated.len()
    );
    let repair_started = Instant::now();
    cluster_async(&["nodetool", "3", "repair", "-full", &keyspace.keyspace]).await;
    let in_dc2 = read_back_through(&dc2, &ledger).await;
    println!(
        "dc2 after `nodetool repair -full` on node 3 ({:.1} s): acked {}, lost {}, duplicated {} (read in dc2 at \
         LOCAL_ONE, node 3 alone)",
        repair_started.elapsed().as_secs_f64(),
        ledger.acked,
        in_dc2.lost.len(),
        in_dc2.duplicated.len()
    );
    assert_eq!(in_dc2, ReadBack::default(), "node 3 alone serves every write acknowledged while it was down");
    assert!(hinted.duplicated.is_empty(), "nothing is stored twice: {:?}", hinted.duplicated);

    assert_nothing_lost("dc2 down and back", &keyspace, &ledger).await;
    keyspace.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills cluster nodes: run with `cargo xtask test --faults`"]
async fn with_a_dc1_node_down_local_quorum_is_refused_naming_dc1_and_quorum_single_row_writes_succeed() {
    let _serial = SERIAL.lock().await;
    let keyspace = FaultKeyspace::in_two_datacenters("dc1_node_down").await;
    let local = keyspace.store();
    let account = "dc1-node-down";
    let before = local.create_session(account, "before").await.expect("a session is written with every node up");
    cluster_async(&["kill", "2"]).await;

    // Until the driver and node 1 have noticed, a write can wait for node 2; after that it is
    // refused at once, as unavailable in dc1. (A rename is one UPDATE: a lightweight transaction
    // is sent to its partition's first replica, and can meet node 2's closed pool instead.)
    let killed = Instant::now();
    let mut seen = std::collections::HashSet::new();
    let (took, error) = loop {
        let started = Instant::now();
        match local.rename_session(account, &before.session_uid, "dc1 short of a node").await {
            Err(StoreError::Database(error @ scylla_table::Error::Unavailable { .. })) => {
                break (started.elapsed(), error)
            }
            Ok(()) => panic!("a LOCAL_QUORUM write was acknowledged with one of dc1's two replicas"),
            Err(other) => {
                if seen.insert(std::mem::discriminant(&other)) {
                    println!("{:.1} s after the kill: {other}", killed.elapsed().as_secs_f64());
                }
                assert!(killed.elapsed() < Duration::from_secs(60), "no unavailable error within 60 s; last: {other}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let after = killed.elapsed().as_secs_f64();
    println!("a dc1 node down: a LOCAL_QUORUM write refused in {took:?}, {after:.1} s after the kill: {error}");
    // Node 1 refuses it (LOCAL_QUORUM, 2 needed, 1 alive), and the driver's retry on the next
    // replica of dc1 meets node 2's closed pool: either way the error names dc1.
    let datacenter = match &error {
        scylla_table::Error::Unavailable {
            cause: Unavailability::Replicas { consistency, datacenter, .. }, ..
        } => {
            assert_eq!(*consistency, Consistency::LocalQuorum, "{error}");
            datacenter
        }
        scylla_table::Error::Unavailable { cause: Unavailability::NoConnection { datacenter, .. }, .. } => datacenter,
        other => panic!("{other:?}"),
    };
    assert_eq!(datacenter.as_deref(), Some(DC1), "{error}");
    assert!(error.to_string().contains("in datacenter dc1"), "{error}");
    assert!(took < Duration::from_secs(1), "an unavailable write fails fast, took {took:?}");

    // QUORUM counts dc2's replica too: node 1 and node 3 are two of three.
    let quorum = keyspace.client_in(DC1, ConsistencyLevels::single_datacenter()).await;
    let mut acked = Vec::new();
    for n in 0..20 {
        let session = quorum.create_session(account, &format!("quorum {n}")).await;
        let session = session.unwrap_or_else(|error| panic!("a session is created at QUORUM: {error}"));
        quorum.rename_session(account, &session.session_uid, &format!("renamed {n}")).await.expect("renamed");
        acked.push((session.session_uid, format!("renamed {n}")));
    }
    // A turn is a logged batch: its coordinator first writes the batch to the batchlog of
    // other nodes of its datacenter. Repeated with the same ids until it succeeds, or 60 s.
    let turn_uid = new_id();
    let started = Instant::now();
    let mut failures = 0;
    let turn = loop {
        match quorum.append_human_turn(account, &acked[0].0, None, "a turn at QUORUM", Some(&turn_uid)).await {
            Ok(turn) => break Ok(turn),
            Err(error) if started.elapsed() < Duration::from_secs(60) => {
                failures += 1;
                if failures == 1 {
                    println!("a turn at QUORUM, first try: {error}");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => break Err(error),
        }
    };
    println!(
        "a turn (a logged batch) at QUORUM with a dc1 node down: {} after {failures} failed tries, {:.1} s",
        if turn.is_ok() { "acknowledged" } else { "never acknowledged" },
        started.elapsed().as_secs_f64()
    );
    let mut lost = 0;
    for (session_uid, title) in &acked {
        match quorum.session(account, session_uid).await {
            Ok(session) if &session.title == title => {}
            other => {
                lost += 1;
                println!("session {session_uid}: {other:?}");
            }
        }
    }
    println!("a dc1 node down, sessions written at QUORUM: acked {}, lost {lost}", acked.len());
    assert_eq!(lost, 0);

    // Whatever became of the turn, nothing is half-written once node 2 is back.
    cluster_async(&["start", "2"]).await;
    assert_nothing_lost("a dc1 node down and back", &keyspace, &Ledger::default()).await;
    keyspace.finish().await;
}

/// Waits until no node holds undelivered hints; the time it took, or how many remain.
async fn hints_delivered(db: &Database, within: Duration) -> Result<Duration, usize> {
    let started = Instant::now();
    loop {
        let mut pending = 0;
        for node in db.session().get_cluster_state().get_nodes_info() {
            pending += rows_on(db, PENDING_HINTS, node).await;
        }
        if pending == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= within {
            return Err(pending);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
