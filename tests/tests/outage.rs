//! Dual-write through a real ScyllaDB outage: the local node is frozen with SIGSTOP for longer
//! than 20 s under a steady write load. Every write acknowledged to a caller must be in
//! PostgreSQL, and once the node is back and the relay has drained the outbox, both databases
//! must agree row for row.
//!
//! Also: reads routed to ScyllaDB fall back to PostgreSQL on timeouts while the node is frozen,
//! with the circuit breaker opening and closing again.
//!
//! This is a test binary of its own, so no other live test runs while the node is frozen, and
//! its tests take turns with the node (`NODE`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_migrate::{
    ensure_scylla_schema, scan, BreakerConfig, BreakerState, DualWriteStore, FallbackReason, MigratingOptions,
    MigratingStore, Phase, RelayConfig, Routing, ScanOptions, ScyllaCopier, ScyllaRelay, Selection,
};
use conversation_store::{ConversationApi, ConversationStore, TurnType};
use local_cassandra::LocalNode;
use scylla_table::Database;
use tests::live::{TestKeyspace, TestSchema};

/// One test at a time freezes the node.
static NODE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WRITERS: usize = 4;
const OUTAGE: Duration = Duration::from_secs(22);
/// Between two writes of one writer: a steady load of about WRITERS / WRITE_EVERY writes per second.
const WRITE_EVERY: Duration = Duration::from_millis(50);

/// What one writer was told succeeded, per session.
#[derive(Debug, Default, Clone, PartialEq)]
struct Acknowledged {
    title: String,
    /// (turn uid, type) in the order written.
    turns: Vec<(String, TurnType)>,
    /// agent turn uid → step contents by idx.
    steps: BTreeMap<String, Vec<String>>,
    liked: BTreeMap<String, bool>,
}

/// When each write started and was acknowledged, to count those made while the node was frozen.
#[derive(Default)]
struct Timeline {
    writes: Vec<(Instant, Instant)>,
}

/// One writer's steady load: sessions of a rename, a human turn, an agent turn with two steps,
/// and a like, one write every WRITE_EVERY, until `stop`.
async fn write_steadily(
    store: DualWriteStore,
    account: String,
    stop: Arc<AtomicBool>,
    timeline: Arc<Mutex<Timeline>>,
) -> BTreeMap<String, Acknowledged> {
    let mut acknowledged: BTreeMap<String, Acknowledged> = BTreeMap::new();
    let mut ticks = tokio::time::interval(WRITE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0usize;
    let mut current: Option<(String, String, String)> = None; // session, human turn, agent turn
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let started = Instant::now();
        // Every call below must succeed: PostgreSQL is up the whole time.
        match (next % 7, current.clone()) {
            (0, _) => {
                let session = store.create_session(&account, "outage").await.expect("create is acknowledged");
                acknowledged
                    .insert(session.session_uid.clone(), Acknowledged { title: session.title, ..Default::default() });
                current = Some((session.session_uid, String::new(), String::new()));
            }
            (1, Some((session, _, _))) => {
                let title = format!("renamed {next}");
                store.rename_session(&account, &session, &title).await.expect("rename is acknowledged");
                acknowledged.get_mut(&session).unwrap().title = title;
            }
            (2, Some((session, _, _))) => {
                let turn = store
                    .append_human_turn(&account, &session, None, "why did the node stop?", None)
                    .await
                    .expect("human turn is acknowledged");
                acknowledged.get_mut(&session).unwrap().turns.push((turn.turn_uid.clone(), TurnType::Human));
                current = Some((session, turn.turn_uid, String::new()));
            }
            (3, Some((session, human, _))) => {
                let turn = store
                    .append_agent_turn(&account, &session, &human, None)
                    .await
                    .expect("agent turn is acknowledged");
                acknowledged.get_mut(&session).unwrap().turns.push((turn.turn_uid.clone(), TurnType::Agent));
                current = Some((session, human, turn.turn_uid));
            }
            (step @ (4 | 5), Some((session, _, agent))) => {
                let idx = step as i32 - 4;
                let content = format!("step {idx} of {agent}");
                store.append_step(&account, &session, &agent, idx, 1, &content).await.expect("step is acknowledged");
                acknowledged.get_mut(&session).unwrap().steps.entry(agent).or_default().push(content);
            }
            (6, Some((session, _, agent))) => {
                store.set_liked(&account, &session, &agent, Some(true)).await.expect("like is acknowledged");
                acknowledged.get_mut(&session).unwrap().liked.insert(agent, true);
            }
            (_, None) => unreachable!("a session is created first"),
            _ => unreachable!(),
        }
        timeline.lock().unwrap().writes.push((started, Instant::now()));
        next += 1;
    }
    acknowledged
}

/// What a test that freezes the node works with.
struct Frozen {
    node: LocalNode,
    schema: TestSchema,
    keyspace: TestKeyspace,
    /// A connection with a short request timeout, so requests stuck on the frozen node fail
    /// quickly and work resumes soon after the node returns.
    db: Database,
}

impl Frozen {
    /// `None` (with a loud note) when there is no node of ours to freeze.
    async fn set_up(test_name: &str) -> Option<Frozen> {
        let node = match tests::local_node() {
            Ok(node) => node,
            Err(why) => {
                eprintln!("SKIPPED: this test freezes the local node of `cargo xtask db up`, and there is none: {why}");
                return None;
            }
        };
        let schema = TestSchema::new(test_name).await;
        let keyspace = TestKeyspace::new(test_name).await;
        ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
        let config = keyspace.config.clone().request_timeout(Duration::from_secs(2));
        let db = Database::connect(&config).await.expect("connects");
        Some(Frozen { node, schema, keyspace, db })
    }
}

async fn count_rows(db: &Database, table: &str) -> i64 {
    let cql = format!("SELECT count(*) FROM {}.{table}", db.keyspace());
    let result = db.session().query_unpaged(cql, ()).await.expect("the count runs").into_rows_result().unwrap();
    result.first_row::<(i64,)>().unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_write_through_a_frozen_node_loses_nothing_and_converges_after_the_relay_drains() {
    let _node_is_ours = NODE.lock().await;
    let Some(Frozen { node, schema, keyspace, db }) = Frozen::set_up("outage").await else { return };
    let relay_config = RelayConfig {
        first_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        ..RelayConfig::default()
    };
    let relay = ScyllaRelay::new(schema.store.clone(), ScyllaCopier::new(db.clone()), relay_config);
    let store = DualWriteStore::new(relay.clone());
    let background_relay = relay.clone().spawn();

    let stop = Arc::new(AtomicBool::new(false));
    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, stop, timeline) = (store.clone(), stop.clone(), timeline.clone());
            tokio::spawn(write_steadily(store, format!("outage-account-{writer}"), stop, timeline))
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(3)).await;
    let paused_at = Instant::now();
    let paused = node.pause().expect("the node can be paused");
    // The node really is gone: a plain read does not answer.
    let probe = db.session().query_unpaged("SELECT release_version FROM system.local", ()).await;
    assert!(probe.is_err(), "a frozen node answered a read");
    tokio::time::sleep(OUTAGE.saturating_sub(paused_at.elapsed())).await;
    let lag_while_frozen = store.lag().await.expect("PostgreSQL answers while ScyllaDB is frozen");
    let resumed_at = Instant::now();
    paused.resume();
    let outage = resumed_at - paused_at;

    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged: BTreeMap<String, (String, Acknowledged)> = BTreeMap::new();
    for (writer, handle) in writers.into_iter().enumerate() {
        for (session, state) in handle.await.expect("no writer panicked: every write was acknowledged") {
            acknowledged.insert(session, (format!("outage-account-{writer}"), state));
        }
    }
    let writes = timeline.lock().unwrap().writes.clone();
    let during_outage = writes.iter().filter(|(started, done)| *started >= paused_at && *done <= resumed_at).count();
    assert!(outage >= Duration::from_secs(20), "the node was frozen for {outage:?}");
    assert!(during_outage >= 40, "the load kept writing while the node was frozen: {during_outage} writes");
    assert!(
        lag_while_frozen.depth >= during_outage as i64,
        "each write acknowledged while the node was frozen waits in the outbox: depth {} < {during_outage}",
        lag_while_frozen.depth
    );

    // Every acknowledged write is in PostgreSQL, exactly.
    let sessions = acknowledged.len() as i64;
    let turns: i64 = acknowledged.values().map(|(_, state)| state.turns.len() as i64).sum();
    let steps: i64 =
        acknowledged.values().flat_map(|(_, state)| state.steps.values()).map(|steps| steps.len() as i64).sum();
    let renames_and_likes = writes.len() as i64 - sessions - turns - steps;
    assert_eq!(
        schema.store.row_counts().await.unwrap(),
        (sessions, turns, steps),
        "PostgreSQL holds every acknowledged row"
    );
    for (session_uid, (account, expected)) in &acknowledged {
        let conversation = schema.store.load_conversation(account, session_uid).await.expect("the session loads");
        assert_eq!(conversation.session.title, expected.title, "the last acknowledged rename of {session_uid}");
        let turns: Vec<(String, TurnType)> =
            conversation.turns.iter().map(|turn| (turn.turn.turn_uid.clone(), turn.turn.turn_type)).collect();
        assert_eq!(turns, expected.turns, "the acknowledged turns of {session_uid}");
        for turn in &conversation.turns {
            let contents: Vec<String> = turn.steps.iter().map(|step| step.content.clone()).collect();
            assert_eq!(&contents, expected.steps.get(&turn.turn.turn_uid).unwrap_or(&Vec::new()));
            if turn.turn.turn_type == TurnType::Agent {
                assert_eq!(turn.turn.liked, expected.liked.get(&turn.turn.turn_uid).copied());
            }
        }
    }

    // The relay drains what the outage left behind.
    let drain_deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let lag = store.lag().await.unwrap();
        if lag.depth == 0 {
            break;
        }
        assert!(Instant::now() < drain_deadline, "the relay drains the outbox after the node returns: {lag:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let relayed = background_relay.stop().await;
    assert!(relayed.copied > 0, "the background relay copied what the inline copies could not");

    // verify --all: both databases agree, row for row.
    let report = scan(&schema.store, &ScyllaCopier::new(db.clone()), &ScanOptions::new(Selection::All), false)
        .await
        .expect("verify runs");
    assert_eq!(report.sessions, acknowledged.len(), "verify checked every session");
    assert_eq!(report.divergences(), 0, "after the relay drained, verify finds nothing: {:?}", report.examples);
    assert_eq!(count_rows(&db, "sessions_by_user").await, sessions);
    assert_eq!(count_rows(&db, "turns_by_session").await, turns);
    assert_eq!(count_rows(&db, "turns_by_parent").await, turns);
    assert_eq!(count_rows(&db, "steps_by_turn").await, steps);
    eprintln!(
        "frozen {:.1} s; {} writes acknowledged ({during_outage} while frozen, outbox depth {} then): {sessions} \
         sessions, {turns} turns, {steps} steps, {renames_and_likes} renames and likes; relay copied {} entries",
        outage.as_secs_f64(),
        writes.len(),
        lag_while_frozen.depth,
        relayed.copied
    );

    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_fall_back_on_timeouts_while_the_node_is_frozen_and_the_breaker_recovers() {
    let _node_is_ours = NODE.lock().await;
    let Some(Frozen { node, schema, keyspace, db }) = Frozen::set_up("read_outage").await else { return };
    let relay = ScyllaRelay::new(schema.store.clone(), ScyllaCopier::new(db.clone()), RelayConfig::default());
    let breaker = BreakerConfig {
        consecutive_failures: 3,
        open_for: Duration::from_secs(1),
        probes: 2,
        ..BreakerConfig::default()
    };
    let options =
        MigratingOptions { read_deadline: Duration::from_millis(300), breaker, ..MigratingOptions::default() };
    let store = MigratingStore::new(
        DualWriteStore::new(relay),
        ConversationStore::new(db.clone()),
        Routing::new(Phase::ScyllaReads),
        options,
    )
    .unwrap();
    let account = "read-outage-account";
    let mut sessions = Vec::new();
    for index in 0..10 {
        let session = store.create_session(account, &format!("session {index}")).await.unwrap();
        let turn = store.append_human_turn(account, &session.session_uid, None, "still there?", None).await.unwrap();
        sessions.push((session.session_uid, format!("session {index}"), turn.turn_uid));
    }
    let sessions = Arc::new(sessions);

    // Readers load conversations steadily; every answer must be right, and none may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|reader| {
            let (store, stop, sessions) = (store.clone(), stop.clone(), sessions.clone());
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (session, title, turn) = &sessions[(reads as usize + reader) % sessions.len()];
                    let conversation = store.load_conversation(account, session).await.expect("the user sees no error");
                    assert_eq!(&conversation.session.title, title);
                    assert_eq!(&conversation.turns[0].turn.turn_uid, turn);
                    reads += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                reads
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    let paused = node.pause().expect("the node can be paused");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let during = store.status();
    paused.resume();
    let resumed_at = Instant::now();
    while store.status().breaker != BreakerState::Closed {
        assert!(resumed_at.elapsed() < Duration::from_secs(30), "the breaker closes after the node returns");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let closed_after = resumed_at.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.expect("no read failed or returned a wrong answer");
    }

    let loads = store.status().reads.pattern(chat_migrate::ReadPattern::LoadConversation);
    let during_loads = during.reads.pattern(chat_migrate::ReadPattern::LoadConversation);
    assert!(during_loads.fallbacks(FallbackReason::Timeout) >= 3, "timeouts opened the breaker: {during_loads:?}");
    assert!(
        during_loads.fallbacks(FallbackReason::BreakerOpen) > 0,
        "while open, reads skip ScyllaDB: {during_loads:?}"
    );
    assert!(during.breaker_opened >= 1);
    let status = store.status();
    assert!(status.breaker_closed >= 1, "it closed again");
    assert!(loads.served_by_scylla > during_loads.served_by_scylla, "ScyllaDB serves reads again after the outage");
    eprintln!(
        "{reads} reads, 0 errors; while frozen: {} timeouts, {} skipped by the open breaker; breaker opened {} times, \
         closed {} s after the node returned",
        during_loads.fallbacks(FallbackReason::Timeout),
        during_loads.fallbacks(FallbackReason::BreakerOpen),
        status.breaker_opened,
        closed_after.as_secs_f64()
    );

    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_rehearsal_goes_through_every_phase_and_reports_what_held() {
    use chat_lab::rehearsal::{rehearse, LoadRates, RehearsalConfig, WriteKind};
    use chat_migrate::Phase;
    let _node_is_ours = NODE.lock().await;
    let node = match tests::local_node() {
        Ok(node) => node,
        Err(why) => {
            eprintln!("SKIPPED: this test freezes the local node of `cargo xtask db up`, and there is none: {why}");
            return;
        }
    };
    let name = format!("t_rehearsal_{}", std::process::id());
    let out = std::env::temp_dir().join(&name);
    let scylla = scylla_table::ConnectionConfig::from_env(&name).expect("SCYLLA_* variables are valid");
    let leftovers = tests::live::Leftovers::default()
        .keyspace(&scylla)
        .schema(&conversation_pg::PgConfig::new(tests::live::postgres_connection(), &name));
    let config = RehearsalConfig {
        name: name.clone(),
        scale: chat_dataset::Scale::TINY,
        seed: 42,
        rates: LoadRates { writes: 16.0, loads: 20.0, recent_sessions: 10.0, children: 10.0 },
        step: Duration::from_secs(2),
        outage: Duration::from_secs(4),
        max_live_p99: None,
        postgres_url: tests::live::postgres_connection(),
        scylla: scylla.clone(),
        node: Some(node),
        out_dir: out.clone(),
    };
    let outcome = rehearse(config).await.expect("the rehearsal runs");

    let steps: Vec<&str> = outcome.steps.iter().map(|step| step.name.as_str()).collect();
    assert_eq!(
        steps,
        [
            "postgres",
            "dual-write",
            "dual-write + backfill, unthrottled",
            "dual-write + backfill, throttled",
            "dual-write, verify",
            "shadow 100%",
            "scylla-reads 10%",
            "scylla-reads 50%",
            "scylla-reads 100%",
            "node frozen in scylla-reads",
            "recovery",
            "verify, then scylla-primary",
            "node frozen in scylla-primary",
            "recovery",
            "back to scylla-reads",
            "back to shadow",
            "back to dual-write",
        ]
    );
    assert_eq!(outcome.rollbacks, 3);
    let failed_reads: Vec<_> = outcome
        .samples
        .iter()
        .filter(|sample| sample.op.is_read() && sample.error.is_some())
        .filter(|sample| {
            let primary_outage =
                outcome.steps.iter().find(|step| step.name == "node frozen in scylla-primary").unwrap();
            // With ScyllaDB primary there is nothing to fall back on while its only node is frozen.
            !(sample.at >= primary_outage.start && sample.at < primary_outage.end + Duration::from_secs(15))
        })
        .collect();
    assert!(
        failed_reads.is_empty(),
        "no read failed while PostgreSQL led, not even with the node frozen: {:?}",
        failed_reads.first()
    );
    let total = outcome.verdicts.total();
    for kind in WriteKind::ALL {
        let acknowledged: usize =
            outcome.verdicts.rows.iter().filter(|((of, _), _)| *of == kind).map(|(_, row)| row.acknowledged).sum();
        assert!(acknowledged > 0, "the load made {} writes: {:?}", kind.name(), outcome.verdicts.rows);
    }
    for phase in [Phase::Postgres, Phase::DualWrite, Phase::Shadow, Phase::ScyllaReads, Phase::ScyllaPrimary] {
        assert!(
            outcome.verdicts.rows.keys().any(|(_, of)| *of == phase),
            "writes were acknowledged in {phase}: {:?}",
            outcome.verdicts.rows
        );
    }
    assert_eq!(
        (total.lost, total.reverted, total.resurrected),
        (0, 0, 0),
        "every acknowledged write is in both databases: {:#?}",
        outcome.verdicts.examples
    );
    assert!(outcome.refused_writes.is_empty(), "no write was refused: {:?}", outcome.refused_writes);
    assert_eq!(total.found_in_postgres, total.acknowledged);
    assert_eq!(total.found_in_scylla, total.acknowledged);
    assert_eq!(outcome.final_verify.settled, 0, "both databases agree at the end");
    assert_eq!(outcome.outages.len(), 2);
    assert!(outcome.outages.iter().all(|outage| outage.length >= Duration::from_secs(4)));
    let last = &outcome.ticks.last().expect("the read side was sampled").status;
    assert!(last.breaker_opened >= 1 && last.breaker_closed >= 1, "the breaker opened and closed: {last:?}");
    let report = std::fs::read_to_string(&outcome.report_path).expect("report.md is written");
    assert!(report.contains("## What held") && report.contains(" 0 lost, 0 reverted, 0 resurrected"), "{report}");
    assert!(report.contains("| Write | Phase | Acknowledged |"), "{report}");
    assert!(outcome.backfill.throttle.is_some() && outcome.unthrottled_backfill.throttle.is_none());
    // The same data set twice (plus what the load wrote in between).
    assert!(outcome.unthrottled_backfill.scylla_rows > 0 && outcome.backfill.scylla_rows > 0);
    assert!(report.contains("Unthrottled:") && report.contains("Throttled (`--max-live-p99"), "{report}");
    assert!(std::fs::read(&outcome.plot_path).expect("the timeline is written").starts_with(b"\x89PNG"));

    leftovers.done();
    let db = Database::connect(&scylla).await.unwrap();
    db.drop_keyspace(&name).await.expect("the rehearsal keyspace drops");
    let pg =
        conversation_pg::PgStore::connect(&conversation_pg::PgConfig::new(tests::live::postgres_connection(), &name))
            .await
            .unwrap();
    pg.drop_schema().await.expect("the rehearsal schema drops");
    std::fs::remove_dir_all(&out).ok();
}

/// One psql run of the application's own SQL on `schema`: a transaction of its own.
fn psql(schema: &str, sql: &str) -> Result<(), String> {
    let output = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &tests::live::postgres_connection(), "-c", sql])
        .env("PGOPTIONS", format!("-c search_path={schema}"))
        .output()
        .map_err(|error| format!("cannot run psql: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Round `n` of the application's load: a new conversation, and changes to earlier ones of
/// every kind the triggers record: updates, a re-keyed turn, a step, a turn and a session deleted.
fn app_round(n: usize) -> String {
    let mut sql = tests::app_sql::app_conversation(&format!("p{n}"));
    if n >= 1 {
        let p = format!("p{}", n - 1);
        sql.push_str(&format!(
            "UPDATE steps SET content = 'changed in round {n}' WHERE agent_turn_uid = '{p}-a' AND idx = 0;
             UPDATE human_turns SET created_at = created_at + interval '3 ms' WHERE uid = '{p}-h';"
        ));
    }
    if n >= 2 && n % 3 == 2 {
        sql.push_str(&format!("DELETE FROM steps WHERE agent_turn_uid = 'p{}-a' AND idx = 1;", n - 2));
    }
    if n >= 3 && n % 5 == 3 {
        sql.push_str(&format!("DELETE FROM agent_turns WHERE uid = 'p{}-a';", n - 3));
    }
    if n >= 4 && n % 7 == 4 {
        sql.push_str(&format!("DELETE FROM sessions WHERE uid = 'p{}-s';", n - 4));
    }
    if n >= 5 && n % 4 == 1 {
        sql.push_str(&format!("UPDATE sessions SET deleted_at = now() WHERE uid = 'p{}-s';", n - 5));
    }
    sql
}

/// An adopted database written by its application's own SQL, through psql, never through the
/// store, while the relay runs and the node is frozen for more than 20 s: every change reaches
/// ScyllaDB, verify finds nothing, and the relay copies each recorded change once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_databases_own_sql_reaches_scylla_through_a_frozen_node_once() {
    let _node_is_ours = NODE.lock().await;
    let node = match tests::local_node() {
        Ok(node) => node,
        Err(why) => {
            eprintln!("SKIPPED: this test freezes the local node of `cargo xtask db up`, and there is none: {why}");
            return;
        }
    };
    let schema = TestSchema::empty("adopt_outage").await;
    let keyspace = TestKeyspace::new("adopt_outage").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.unwrap();
    let db = Database::connect(&keyspace.config.clone().request_timeout(Duration::from_secs(2))).await.unwrap();
    let name = schema.store.config().schema.clone();
    psql(&name, tests::app_sql::APP_SCHEMA).unwrap();
    psql(&name, &tests::app_sql::app_conversation("history")).unwrap();
    schema.store.adopt(|_| {}).await.expect("adopted");
    let options = chat_migrate::SetOptions { fleet_wait: Duration::from_secs(1), drain_wait: Duration::from_secs(5) };
    chat_migrate::shared_phase::set(
        &schema.store,
        &keyspace.config.keyspace,
        Routing::new(Phase::DualWrite),
        None,
        options,
    )
    .await
    .expect("dual-write begins");
    let copier = ScyllaCopier::new(db.clone());
    chat_migrate::backfill(&schema.store, &copier, &chat_migrate::BackfillOptions::default()).await.unwrap();
    let relay_config = RelayConfig {
        first_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        ..RelayConfig::default()
    };
    let background_relay = ScyllaRelay::new(schema.store.clone(), copier.clone(), relay_config).spawn();

    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, name) = (stop.clone(), name.clone());
        tokio::task::spawn_blocking(move || {
            let mut rounds = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                psql(&name, &app_round(rounds.len())).expect("the application's SQL runs");
                rounds.push((started, Instant::now()));
                std::thread::sleep(Duration::from_millis(100));
            }
            rounds
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let paused_at = Instant::now();
    let paused = node.pause().expect("the node can be paused");
    tokio::time::sleep(OUTAGE).await;
    let depth_while_frozen = schema.store.outbox_lag().await.expect("PostgreSQL answers").depth;
    paused.resume();
    let outage = paused_at.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let rounds = load.await.expect("every round of the application's SQL committed");
    let during_outage =
        rounds.iter().filter(|(started, _)| *started >= paused_at && *started < paused_at + outage).count();
    assert!(outage >= Duration::from_secs(20), "frozen for {outage:?}");
    assert!(during_outage >= 20, "the application kept writing while the node was frozen: {during_outage} rounds");
    assert!(depth_while_frozen > 0, "its changes waited in the outbox");

    let drain_deadline = Instant::now() + Duration::from_secs(90);
    while schema.store.outbox_lag().await.unwrap().depth > 0 {
        assert!(Instant::now() < drain_deadline, "the relay drains the outbox after the node returns");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let relayed = background_relay.stop().await;
    let client = schema.store.client().await.unwrap();
    let recorded: i64 = client.query_one("SELECT last_value FROM scylla_outbox_id_seq", &[]).await.unwrap().get(0);
    assert_eq!(relayed.copied as i64, recorded, "each recorded change was copied once");

    let report = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.expect("verify runs");
    assert_eq!(report.divergences(), 0, "verify --all finds nothing: {}", report.summary());
    let (sessions, turns, steps) = schema.store.row_counts().await.unwrap();
    assert_eq!(count_rows(&db, "sessions_by_user").await, sessions);
    assert_eq!(count_rows(&db, "session_owners").await, sessions);
    assert_eq!(count_rows(&db, "turns_by_session").await, turns);
    assert_eq!(count_rows(&db, "turns_by_parent").await, turns);
    assert_eq!(count_rows(&db, "turns_by_uid").await, turns);
    assert_eq!(count_rows(&db, "steps_by_turn").await, steps);
    let purged: i64 = client.query_one("SELECT count(*) FROM purged_sessions", &[]).await.unwrap().get(0);
    eprintln!(
        "frozen {:.1} s; {} rounds of the application's SQL ({during_outage} while frozen, outbox depth {depth_while_frozen} \
         then); {recorded} changes recorded, {} copied, {} failed attempts; now {sessions} sessions ({purged} purged), \
         {turns} turns, {steps} steps in both; lost 0",
        outage.as_secs_f64(),
        rounds.len(),
        relayed.copied,
        relayed.failed
    );
    drop(client);
    keyspace.drop().await;
    schema.drop().await;
}
