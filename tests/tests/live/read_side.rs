//! The migration's read side against both live databases: routing in each phase, sticky
//! percentages, shadow comparisons, fallback on errors with the circuit breaker, and phase
//! changes under load. (Fallback on a frozen node is in `tests/tests/outage.rs`.)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_migrate::phase::account_bucket;
use chat_migrate::{
    ensure_scylla_schema, scan, BreakerConfig, BreakerState, DualWriteStore, FallbackReason, MigratingOptions,
    MigratingStore, Phase, ReadPattern, RelayConfig, Routing, ScanOptions, ScyllaCopier, ScyllaRelay, Selection,
};
use conversation_store::{ConversationApi, ConversationStore, StoreError};
use tests::live::{TestKeyspace, TestSchema};

struct ReadSide {
    schema: TestSchema,
    keyspace: TestKeyspace,
    store: MigratingStore,
    /// The ScyllaDB store on the same keyspace, to seed differences behind the migrating store's back.
    scylla: ConversationStore,
    relay: ScyllaRelay,
}

impl ReadSide {
    async fn new(test_name: &str, routing: Routing, options: MigratingOptions) -> ReadSide {
        ReadSide::with_copy_breaker(test_name, routing, options, BreakerConfig::default()).await
    }

    async fn with_copy_breaker(
        test_name: &str,
        routing: Routing,
        options: MigratingOptions,
        copy_breaker: BreakerConfig,
    ) -> ReadSide {
        let schema = TestSchema::new(test_name).await;
        let keyspace = TestKeyspace::new(test_name).await;
        ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
        let relay =
            ScyllaRelay::new(schema.store.clone(), ScyllaCopier::new(keyspace.db.clone()), RelayConfig::default());
        let scylla = ConversationStore::new(keyspace.db.clone());
        let dual = DualWriteStore::new(relay.clone()).with_copy_breaker(copy_breaker);
        let store = MigratingStore::new(dual, scylla.clone(), routing, options).expect("the routing is valid");
        ReadSide { schema, keyspace, store, scylla, relay }
    }

    fn copier(&self) -> ScyllaCopier {
        ScyllaCopier::new(self.keyspace.db.clone())
    }

    async fn drop(self) {
        self.keyspace.drop().await;
        self.schema.drop().await;
    }
}

/// An account whose bucket is below `percent`, or at or above it.
fn account_in(percent: u64, inside: bool) -> String {
    (0..)
        .map(|index| format!("sticky-account-{index}"))
        .find(|account| (account_bucket(account) < percent) == inside)
        .expect("some account falls on each side")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_phase_routes_writes_and_reads_where_it_says() {
    let side = ReadSide::new("routing", Routing::new(Phase::Postgres), MigratingOptions::default()).await;
    let store = &side.store;
    let account = "routing-account";

    // postgres: writes reach PostgreSQL only, with no outbox entry.
    let before = store.create_session(account, "before").await.unwrap();
    assert!(matches!(side.scylla.session(account, &before.session_uid).await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.dual_write().lag().await.unwrap().depth, 0);
    let skipped = store.set_routing(Routing::new(Phase::Shadow)).unwrap_err();
    assert!(skipped.to_string().contains("one step at a time"), "{skipped}");

    // dual-write: writes reach both; reads come from PostgreSQL.
    store.set_routing(Routing::new(Phase::DualWrite)).unwrap();
    let both = store.create_session(account, "in both").await.unwrap();
    assert_eq!(side.scylla.session(account, &both.session_uid).await.unwrap().title, "in both");
    // A title only ScyllaDB has shows which database answered.
    side.scylla.rename_session(account, &both.session_uid, "scylla only").await.unwrap();
    assert_eq!(store.session(account, &both.session_uid).await.unwrap().title, "in both");

    // shadow: still PostgreSQL's answer; the comparison finds the difference.
    store.set_routing(Routing::new(Phase::Shadow)).unwrap();
    assert_eq!(store.session(account, &both.session_uid).await.unwrap().title, "in both");
    store.shadow_idle().await;
    let session_reads = store.status().reads.pattern(ReadPattern::Session);
    assert_eq!((session_reads.compared, session_reads.divergent), (1, 1));

    // scylla-reads at 100%: ScyllaDB answers, and PostgreSQL covers what ScyllaDB lacks.
    store.set_routing(Routing::new(Phase::ScyllaReads)).unwrap();
    assert_eq!(store.session(account, &both.session_uid).await.unwrap().title, "scylla only");
    assert_eq!(store.session(account, &before.session_uid).await.unwrap().title, "before", "falls back on NotFound");
    let missing = store.session(account, "no-such-session").await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })), "nothing in either database is NotFound");
    let session_reads = store.status().reads.pattern(ReadPattern::Session);
    assert_eq!(session_reads.served_by_scylla, 2, "the renamed session and the NotFound both databases agree on");
    assert_eq!(session_reads.fallbacks(FallbackReason::NotFound), 1);
    let mut queued = store.take_repair_queue();
    queued.sort();
    let mut expected = vec![before.session_uid.clone(), both.session_uid.clone()];
    expected.sort();
    assert_eq!(queued, expected, "the divergent session and the one ScyllaDB lacked wait for repair");

    // Sticky percentages: an account inside 50% always reads ScyllaDB, one outside never does.
    store.set_routing(Routing::new(Phase::ScyllaReads).with_scylla_read_percent(50)).unwrap();
    for (account, inside) in [(account_in(50, true), true), (account_in(50, false), false)] {
        let session = store.create_session(&account, "postgres title").await.unwrap();
        side.scylla.rename_session(&account, &session.session_uid, "scylla title").await.unwrap();
        for _ in 0..5 {
            let title = store.session(&account, &session.session_uid).await.unwrap().title;
            assert_eq!(title, if inside { "scylla title" } else { "postgres title" }, "{account} (inside: {inside})");
        }
        queued.push(session.session_uid);
    }

    // Repair what the test diverged, then both databases agree.
    let repair = ScanOptions::new(Selection::Sessions(queued));
    scan(&side.schema.store, &side.copier(), &repair, true).await.expect("repair runs");
    let verify = scan(&side.schema.store, &side.copier(), &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(verify.divergences(), 0, "{:?}", verify.examples);

    // Every step rolls back.
    for phase in [Phase::Shadow, Phase::DualWrite, Phase::Postgres] {
        store.set_routing(Routing::new(phase)).unwrap();
    }
    side.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_reads_count_matched_stale_and_divergent_without_making_the_caller_wait() {
    let options = MigratingOptions { recheck_delay: Duration::from_secs(1), ..MigratingOptions::default() };
    let side = ReadSide::new("shadow", Routing::new(Phase::Shadow), options).await;
    let (store, account) = (&side.store, "shadow-account");
    let matched = store.create_session(account, "same in both").await.unwrap();
    let divergent = store.create_session(account, "diverges").await.unwrap();
    let stale = store.create_session(account, "goes stale").await.unwrap();

    // Divergent: ScyllaDB's copy changed behind PostgreSQL's back.
    side.scylla.rename_session(account, &divergent.session_uid, "changed in ScyllaDB").await.unwrap();
    // Stale: PostgreSQL changed and ScyllaDB catches up a moment later, as the relay would.
    let relational = side.schema.store.clone().with_outbox(true);
    relational.rename_session(account, &stale.session_uid, "renamed").await.unwrap();
    let (relay, stale_uid) = (side.relay.clone(), stale.session_uid.clone());
    let catch_up = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        relay.sync_session(&stale_uid).await.expect("the relay copies the rename")
    });

    for session in [&matched, &divergent, &stale] {
        let started = Instant::now();
        let conversation = store.load_conversation(account, &session.session_uid).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(1), "the caller does not wait for the shadow read's recheck");
        assert_ne!(conversation.session.title, "changed in ScyllaDB", "shadow serves PostgreSQL's answer");
    }
    assert_eq!(catch_up.await.unwrap(), 1);
    store.shadow_idle().await;
    let loads = store.status().reads.pattern(ReadPattern::LoadConversation);
    assert_eq!((loads.compared, loads.matched, loads.stale, loads.divergent), (3, 1, 1, 1), "{loads:?}");
    assert_eq!(store.take_repair_queue(), vec![divergent.session_uid.clone()]);

    // A share of 0 shadows nothing.
    store.set_routing(Routing::new(Phase::Shadow).with_shadow_share(0.0)).unwrap();
    store.load_conversation(account, &matched.session_uid).await.unwrap();
    store.shadow_idle().await;
    assert_eq!(store.status().reads.pattern(ReadPattern::LoadConversation).compared, 3);
    side.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_scylla_reads_fall_back_and_the_breaker_opens_then_closes() {
    let breaker = BreakerConfig {
        consecutive_failures: 3,
        min_calls: 100,
        open_for: Duration::from_secs(1),
        probes: 2,
        ..BreakerConfig::default()
    };
    let options = MigratingOptions { breaker, read_deadline: Duration::from_secs(5), ..MigratingOptions::default() };
    let side = ReadSide::new("breaker", Routing::new(Phase::ScyllaReads), options).await;
    let (store, account) = (&side.store, "breaker-account");
    let session = store.create_session(account, "always answered").await.unwrap();
    let read = || async { store.session(account, &session.session_uid).await.expect("the user sees no error").title };
    assert_eq!(read().await, "always answered");

    // A real failure: the table the read needs is gone.
    let keyspace = side.keyspace.config.keyspace.clone();
    side.keyspace.db.run_ddl(&format!("DROP TABLE {keyspace}.sessions_by_user")).await.unwrap();
    for _ in 0..3 {
        assert_eq!(read().await, "always answered");
    }
    let status = store.status();
    assert_eq!(status.breaker, BreakerState::Open, "3 failures in a row open it");
    assert_eq!(status.reads.pattern(ReadPattern::Session).fallbacks(FallbackReason::Error), 3);
    for _ in 0..4 {
        assert_eq!(read().await, "always answered");
    }
    assert_eq!(store.status().reads.pattern(ReadPattern::Session).fallbacks(FallbackReason::BreakerOpen), 4);

    // ScyllaDB recovers: the table is back and repaired. The prober, repeating the read that
    // failed, finds out in the background (two probes after each open spell of 1 s); users'
    // reads keep going to PostgreSQL until then.
    ensure_scylla_schema(&side.keyspace.db, Some(side.keyspace.replication())).await.unwrap();
    let repair = ScanOptions::new(Selection::Sessions(vec![session.session_uid.clone()]));
    scan(&side.schema.store, &side.copier(), &repair, true).await.unwrap();
    let closed_by = Instant::now() + Duration::from_secs(10);
    while store.status().breaker != BreakerState::Closed {
        assert!(Instant::now() < closed_by, "the prober closes the breaker once ScyllaDB serves: {:?}", store.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        assert_eq!(read().await, "always answered");
    }
    let status = store.status();
    assert_eq!(status.breaker, BreakerState::Closed);
    assert_eq!(status.breaker_closed, 1);
    assert!(status.breaker_opened >= 1, "a probe made before the repair opens it again: {status:?}");
    let session_reads = status.reads.pattern(ReadPattern::Session);
    assert_eq!(session_reads.served_by_scylla, 4, "the first read and the three after: no user's read was a probe");
    assert_eq!(session_reads.all_fallbacks(), 7);
    side.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_request_or_the_next_write_copies_what_an_earlier_attempt_left_waiting() {
    let side = ReadSide::new("catch_up", Routing::new(Phase::DualWrite), MigratingOptions::default()).await;
    let (dual, account) = (side.store.dual_write().clone(), "catch-up-account");
    let session = dual.create_session(account, "caught up").await.unwrap();
    let uid = session.session_uid.clone();
    let agent = dual.append_agent_turn(account, &uid, &root_turn(&dual, account, &uid).await, None).await.unwrap();
    assert_eq!(dual.lag().await.unwrap().depth, 0, "copied inline");

    // A first attempt commits with its reply lost, so nothing copied it: its entry waits.
    let behind_our_back = side.schema.store.clone().with_outbox(true);
    behind_our_back.append_step(account, &uid, &agent.turn_uid, 0, 1, "step zero").await.unwrap();
    assert_eq!(dual.lag().await.unwrap().depth, 1);
    // The caller repeats the request: it records nothing, and copies what the session has waiting.
    dual.append_step(account, &uid, &agent.turn_uid, 0, 1, "step zero").await.expect("the repeat is answered");
    caught_up(&dual, "the repeat copies the first attempt's entry").await;
    let steps_copied = |copied: &conversation_store::Conversation| {
        copied.turns.iter().find(|turn| turn.turn.turn_uid == agent.turn_uid).map(|turn| turn.steps.len())
    };
    let copied = side.scylla.load_conversation(account, &uid).await.unwrap();
    assert_eq!(steps_copied(&copied), Some(1), "the step is in ScyllaDB: {copied:?}");

    // A copy that fails leaves the session behind: its next write copies everything waiting.
    let keyspace = side.keyspace.config.keyspace.clone();
    side.keyspace.db.run_ddl(&format!("DROP TABLE {keyspace}.steps_by_turn")).await.unwrap();
    dual.append_step(account, &uid, &agent.turn_uid, 1, 1, "step one").await.expect("PostgreSQL takes the write");
    assert_eq!(dual.lag().await.unwrap().depth, 1, "the failed copy's entry waits");
    ensure_scylla_schema(&side.keyspace.db, Some(side.keyspace.replication())).await.unwrap();
    dual.rename_session(account, &uid, "renamed").await.unwrap();
    caught_up(&dual, "the rename starts a catch-up of the waiting step").await;
    let copied = side.scylla.load_conversation(account, &uid).await.unwrap();
    assert_eq!(copied.session.title, "renamed");
    assert_eq!(steps_copied(&copied), Some(1), "step one (step zero went with the table)");
    side.drop().await;
}

/// Waits for the outbox to empty: a catch-up runs in the background.
async fn caught_up(store: &DualWriteStore, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.lag().await.unwrap().depth > 0 {
        assert!(Instant::now() < deadline, "{what}: {:?}", store.lag().await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The session's only root turn, appended if it has none.
async fn root_turn(store: &DualWriteStore, account: &str, session_uid: &str) -> String {
    store.append_human_turn(account, session_uid, None, "hello", None).await.unwrap().turn_uid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_inline_copies_open_the_copy_breaker_and_keep_reads_on_postgres_until_it_closes() {
    let copy_breaker = BreakerConfig {
        consecutive_failures: 3,
        min_calls: 100,
        open_for: Duration::from_secs(10),
        probes: 1,
        ..BreakerConfig::default()
    };
    let side = ReadSide::with_copy_breaker(
        "copy_breaker",
        Routing::new(Phase::ScyllaReads).with_scylla_read_percent(100),
        MigratingOptions::default(),
        copy_breaker,
    )
    .await;
    let (store, account) = (&side.store, "copy-breaker-account");
    let session = store.create_session(account, "copied").await.unwrap();
    let uid = session.session_uid.clone();
    store.append_human_turn(account, &uid, None, "first", None).await.unwrap();
    assert_eq!(store.load_conversation(account, &uid).await.unwrap().turns.len(), 1);
    assert_eq!(store.dual_write().copy_breaker(), BreakerState::Closed);

    // A real failure of every turn's copy: a table it writes is gone. Each write still succeeds;
    // three failed copies in a row open the breaker, and later writes skip the copy.
    let keyspace = side.keyspace.config.keyspace.clone();
    side.keyspace.db.run_ddl(&format!("DROP TABLE {keyspace}.turns_by_parent")).await.unwrap();
    for prompt in ["second", "third", "fourth", "fifth", "sixth"] {
        store.append_human_turn(account, &uid, None, prompt, None).await.expect("PostgreSQL takes the write");
    }
    assert_eq!(store.dual_write().copy_breaker(), BreakerState::Open);
    let counts = store.dual_write().copy_breaker_counts();
    assert_eq!((counts.opened, counts.skipped), (1, 2), "{counts:?}");
    let depth = store.dual_write().lag().await.unwrap().depth;
    assert!(depth >= 5, "each turn's entry waits for the relay: {depth}");

    // The user's own writes are not all in ScyllaDB: their reads go to PostgreSQL, though the
    // read breaker is closed.
    let seen = store.load_conversation(account, &uid).await.unwrap();
    assert_eq!(seen.turns.len(), 6, "PostgreSQL answered");
    let status = store.status();
    assert_eq!(status.breaker, BreakerState::Closed);
    assert_eq!(status.reads.pattern(ReadPattern::LoadConversation).fallbacks(FallbackReason::CopyBreakerOpen), 1);

    // ScyllaDB takes writes again: the prober's QUORUM read closes the breaker (once the open
    // spell is over; it cannot see a missing table, and copies that fail again would open it
    // again); the relay copies the rest, and reads come from ScyllaDB with every turn.
    ensure_scylla_schema(&side.keyspace.db, Some(side.keyspace.replication())).await.unwrap();
    let closed_by = Instant::now() + Duration::from_secs(25);
    while store.dual_write().copy_breaker() != BreakerState::Closed {
        assert!(
            Instant::now() < closed_by,
            "the prober closes the copy breaker: {:?}",
            store.dual_write().copy_breaker_counts()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, lag) = side.relay.drain(Some(Duration::from_secs(30))).await.unwrap();
    assert_eq!(lag.depth, 0);
    let repair = ScanOptions::new(Selection::Sessions(vec![uid.clone()]));
    scan(&side.schema.store, &side.copier(), &repair, true).await.unwrap();
    let served_before = store.status().reads.pattern(ReadPattern::LoadConversation).served_by_scylla;
    assert_eq!(store.load_conversation(account, &uid).await.unwrap().turns.len(), 6);
    assert_eq!(store.status().reads.pattern(ReadPattern::LoadConversation).served_by_scylla, served_before + 1);
    assert_eq!(store.dual_write().copy_breaker_counts().closed, 1);
    side.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phases_change_under_load_without_a_failed_request() {
    let side = ReadSide::new("phase_changes", Routing::new(Phase::Postgres), MigratingOptions::default()).await;
    let store = side.store.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let (requests, sessions_made) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (store, stop, requests, sessions_made) =
                (store.clone(), stop.clone(), requests.clone(), sessions_made.clone());
            tokio::spawn(async move {
                let account = format!("load-account-{worker}");
                let mut mine: Vec<String> = Vec::new();
                let mut step = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let result: Result<(), StoreError> = async {
                        match (step % 5, mine.last()) {
                            (0, _) | (_, None) => {
                                let session = store.create_session(&account, "under load").await?;
                                sessions_made.fetch_add(1, Ordering::Relaxed);
                                mine.push(session.session_uid);
                            }
                            (1, Some(session)) => {
                                let turn = store.append_human_turn(&account, session, None, "hi", None).await?;
                                store.append_agent_turn(&account, session, &turn.turn_uid, None).await?;
                            }
                            (2, Some(session)) => {
                                store.load_conversation(&account, session).await?;
                            }
                            (3, Some(session)) => {
                                store.children(&account, session, None).await?;
                            }
                            (_, Some(_)) => {
                                store.recent_sessions(&account, 10, None).await?;
                            }
                        }
                        Ok(())
                    }
                    .await;
                    result.unwrap_or_else(|error| panic!("a request failed during a phase change: {error}"));
                    requests.fetch_add(1, Ordering::Relaxed);
                    step += 1;
                }
            })
        })
        .collect();
    let steps = [
        Routing::new(Phase::DualWrite),
        Routing::new(Phase::Shadow),
        Routing::new(Phase::ScyllaReads).with_scylla_read_percent(10),
        Routing::new(Phase::ScyllaReads).with_scylla_read_percent(50),
        Routing::new(Phase::ScyllaReads),
        Routing::new(Phase::Shadow).with_shadow_share(0.5),
        Routing::new(Phase::DualWrite),
        Routing::new(Phase::Postgres),
    ];
    for routing in steps {
        tokio::time::sleep(Duration::from_millis(400)).await;
        store.set_routing(routing).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("no request failed");
    }
    store.shadow_idle().await;
    let (sessions, _, _) = side.schema.store.row_counts().await.unwrap();
    assert_eq!(sessions as u64, sessions_made.load(Ordering::Relaxed), "every acknowledged session is in PostgreSQL");
    assert!(requests.load(Ordering::Relaxed) > 100, "the load ran throughout");
    assert!(store.status().reads.total().served_by_scylla > 0, "ScyllaDB served reads in scylla-reads");
    side.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_reads_of_a_session_streaming_steps_every_50_ms_find_nothing_divergent() {
    let side = ReadSide::new("shadow_stream", Routing::new(Phase::Shadow), MigratingOptions::default()).await;
    let (store, account) = (&side.store, "streaming-account");
    let session = store.create_session(account, "streaming").await.unwrap();
    let id = session.session_uid.clone();
    let question = store.append_human_turn(account, &id, None, "stream the answer", None).await.unwrap();
    let answer = store.append_agent_turn(account, &id, &question.turn_uid, None).await.unwrap();
    // The agent streams a step every 50 ms while the user's page loads the conversation.
    let writer = {
        let (store, id, turn) = (store.clone(), id.clone(), answer.turn_uid.clone());
        tokio::spawn(async move {
            for idx in 0..100 {
                store.append_step(account, &id, &turn, idx, 1, &format!("token {idx}")).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    while !writer.is_finished() {
        store.load_conversation(account, &id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer.await.unwrap();
    store.shadow_idle().await;
    let loads = store.status().reads.pattern(ReadPattern::LoadConversation);
    println!("shadow reads of a streaming session: {loads:?}");
    assert!(loads.compared > 50, "the session was compared while it streamed: {loads:?}");
    assert!(loads.compared > loads.matched, "some reads caught the databases a step apart: {loads:?}");
    assert_eq!(loads.divergent, 0, "a session being written is not divergent: {loads:?}");
    assert!(store.take_repair_queue().is_empty());
    assert_eq!((loads.shadow_errors, loads.shadow_timeouts), (0, 0));
    side.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_reads_that_scylla_times_out_or_fails_are_counted() {
    // No time at all for ScyllaDB: every shadow read times out.
    let options = MigratingOptions { read_deadline: Duration::ZERO, ..MigratingOptions::default() };
    let side = ReadSide::new("shadow_failures", Routing::new(Phase::Shadow), options).await;
    let (store, account) = (&side.store, "failing-account");
    let session = store.create_session(account, "served by PostgreSQL").await.unwrap();
    for _ in 0..5 {
        store.load_conversation(account, &session.session_uid).await.unwrap();
    }
    store.shadow_idle().await;
    let loads = store.status().reads.pattern(ReadPattern::LoadConversation);
    assert_eq!((loads.compared, loads.shadow_timeouts, loads.shadow_errors), (0, 5, 0), "{loads:?}");

    // A ScyllaDB that answers with errors: its table is gone.
    let side_ok = ReadSide::new("shadow_errors", Routing::new(Phase::Shadow), MigratingOptions::default()).await;
    let (store, keyspace) = (&side_ok.store, &side_ok.keyspace);
    let session = store.create_session(account, "served by PostgreSQL").await.unwrap();
    keyspace.db.run_ddl(&format!("DROP TABLE {}.turns_by_session", keyspace.config.keyspace)).await.unwrap();
    for _ in 0..3 {
        store.load_conversation(account, &session.session_uid).await.expect("PostgreSQL answers");
    }
    store.shadow_idle().await;
    let loads = store.status().reads.pattern(ReadPattern::LoadConversation);
    assert_eq!((loads.compared, loads.shadow_errors), (0, 3), "{loads:?}");
    side.drop().await;
    side_ok.drop().await;
}
