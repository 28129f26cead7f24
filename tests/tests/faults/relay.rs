//! The relay toward PostgreSQL (the `scylla-primary` phase) on the cluster, with one replica that
//! missed every write: what it copies must be what a quorum acknowledged, not what one replica
//! happens to hold.

use std::time::Duration;

use chat_migrate::PostgresRelay;
use conversation_store::ConversationApi;
use scylla::statement::Consistency;
use scylla_table::ConsistencyLevels;
use tests::live::TestSchema;

use crate::cluster::{cluster, cluster_async, cluster_if_possible, cluster_output, FaultKeyspace, SERIAL};

const SESSIONS: usize = 12;
/// The entries one session's writes record: the session (2: before and after its lightweight
/// transaction), a root turn and the session's active root (2), an agent turn and its parent
/// (2), two steps (4), a like (1), a rename (1).
const ENTRIES_PER_SESSION: usize = 12;

/// Runs a write until it is acknowledged, for up to a minute.
async fn acknowledged<T, Fut>(write: impl Fn() -> Fut) -> T
where
    Fut: std::future::Future<Output = conversation_store::StoreResult<T>>,
{
    let started = std::time::Instant::now();
    loop {
        match write().await {
            Ok(value) => return value,
            Err(error) if started.elapsed() < Duration::from_secs(60) => {
                println!("write not acknowledged yet ({error}); repeating it");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => panic!("a write failed for a minute: {error}"),
        }
    }
}

/// Hinted handoff switched off on some nodes until dropped, so a node that was down keeps
/// missing what was written meanwhile.
struct HandoffOff(&'static [&'static str]);

impl HandoffOff {
    fn on(nodes: &'static [&'static str]) -> HandoffOff {
        for node in nodes {
            cluster(&["nodetool", node, "disablehandoff"]);
        }
        HandoffOff(nodes)
    }
}

impl Drop for HandoffOff {
    fn drop(&mut self) {
        for node in self.0 {
            cluster_if_possible(&["nodetool", node, "enablehandoff"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills cluster nodes: run with `cargo xtask test --faults`"]
async fn the_relay_toward_postgres_copies_what_a_replica_missed() {
    let _serial = SERIAL.lock().await;
    let keyspace = FaultKeyspace::new("relay_quorum").await;
    let schema = TestSchema::new("relay_quorum").await;
    let handoff = HandoffOff::on(&["1", "2"]);
    cluster_async(&["kill", "3"]).await;

    // ScyllaDB is primary: every write records its change for PostgreSQL, at QUORUM. Until the
    // others convict node 3, a logged batch can time out writing its batchlog there; each write
    // is repeated with the same ids until acknowledged, as a client would.
    let primary = keyspace.store().with_outbox(true);
    let account = "relay-quorum";
    let mut sessions = Vec::new();
    for n in 0..SESSIONS {
        let id = format!("relay-quorum-{n}");
        let (question, answer) = (format!("{id}-q"), format!("{id}-a"));
        let (title, renamed) = (format!("session {n}"), format!("session {n}, renamed"));
        acknowledged(|| primary.create_session_with_id(account, &id, &title)).await;
        acknowledged(|| primary.append_human_turn(account, &id, None, "which replica has this?", Some(&question)))
            .await;
        acknowledged(|| primary.append_agent_turn(account, &id, &question, Some(&answer))).await;
        acknowledged(|| primary.append_step(account, &id, &answer, 0, 1, "two of three")).await;
        acknowledged(|| primary.append_step(account, &id, &answer, 1, 1, "node 3 missed it")).await;
        acknowledged(|| primary.set_liked(account, &id, &answer, Some(true))).await;
        acknowledged(|| primary.rename_session(account, &id, &renamed)).await;
        sessions.push(id);
    }
    cluster_async(&["start", "3"]).await;

    // Node 3 is back, having missed the writes: no hints delivered them. Its own count of the
    // writes it applied to each table since it started says so (a read at ONE cannot: its
    // coordinator may read from another replica). The batchlog replays only the few batches
    // whose first attempt timed out.
    for table in ["session_owners", "sessions_by_user", "turns_by_session", "turns_by_uid", "steps_by_turn"] {
        let stats = cluster_output(&["nodetool", "3", "tablestats", &format!("{}.{table}", keyspace.keyspace)]);
        let writes: usize = stats
            .lines()
            .find_map(|line| line.trim().strip_prefix("Local write count:"))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("tablestats names the local write count: {stats}"));
        println!("node 3 applied {writes} writes to {table} since it restarted");
        assert!(writes < SESSIONS / 2, "node 3 missed most of {table}'s writes: it applied {writes}");
    }

    // With node 1 down as well, every read has node 3 beside node 2: a read at ONE answered by
    // node 3 finds nothing, while QUORUM needs both and gets node 2's rows.
    cluster_async(&["kill", "1"]).await;
    let relay = PostgresRelay::new(keyspace.store(), schema.store.clone());
    // Until the driver notices node 1 is gone, a request can still go to it and fail.
    let started = std::time::Instant::now();
    let recorded = loop {
        match relay.depth().await {
            Ok(depth) => break depth,
            Err(error) if started.elapsed() < Duration::from_secs(60) => {
                println!("counting the queue failed ({error}); again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => panic!("the queue cannot be counted with node 1 down: {error}"),
        }
    };
    assert!(recorded >= SESSIONS * ENTRIES_PER_SESSION, "{recorded} entries (repeated writes record again)");
    let (report, left) = relay.drain(Some(Duration::from_secs(120))).await.expect("the relay drains");
    println!("relay toward PostgreSQL with node 3 behind: {recorded} entries, {report:?}, {left} left");
    assert_eq!(left, 0, "every entry is copied");
    assert_eq!((report.copied, report.abandoned), (recorded, 0));

    // PostgreSQL serves every conversation as a quorum of ScyllaDB holds it.
    let quorum =
        keyspace.store().with_consistency(ConsistencyLevels { read: Consistency::Quorum, write: Consistency::Quorum });
    for id in &sessions {
        let copied = schema.store.load_conversation(account, id).await.expect("the session reached PostgreSQL");
        let source = quorum.load_conversation(account, id).await.unwrap();
        assert_eq!(copied, source, "session {id}");
        assert_eq!(copied.turns[1].turn.liked, Some(true));
        assert_eq!(copied.turns[1].steps.len(), 2);
    }
    assert_eq!(schema.store.row_counts().await.unwrap(), (SESSIONS as i64, 2 * SESSIONS as i64, 2 * SESSIONS as i64));

    cluster_async(&["start", "1"]).await;
    drop(handoff);
    schema.drop().await;
    keyspace.finish().await;
}
