//! The migration's write side against both live databases: backfill (resumed after a kill, and
//! racing dual-writes), verify and repair of seeded corruption, and bad input.

use std::time::Duration;

use chat_dataset::Scale;
use chat_lab::seed::{relational_rows, seed};
use chat_migrate::verify::DivergenceKind;
use chat_migrate::{
    backfill, ensure_scylla_schema, scan, BackfillOptions, DualWriteStore, MigrateError, RelayConfig, ScanOptions,
    ScyllaCopier, ScyllaRelay, Selection,
};
use conversation_pg::{PgConfig, PgStore};
use conversation_store::{ConversationApi, ConversationStore, StoreError, TurnType};
use tests::live::{TestKeyspace, TestSchema};

/// A seeded relational store and an empty keyspace with the store's tables.
async fn seeded(test_name: &str, sessions: usize) -> (TestSchema, TestKeyspace, ScyllaCopier) {
    let schema = TestSchema::new(test_name).await;
    seed(&schema.store, &Scale::sized(sessions), 42, false).await.expect("the data set seeds");
    let keyspace = TestKeyspace::new(test_name).await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    let copier = ScyllaCopier::new(keyspace.db.clone());
    (schema, keyspace, copier)
}

async fn checkpointed_sessions(store: &PgStore) -> i64 {
    let client = store.client().await.unwrap();
    client.query_one("SELECT coalesce(sum(sessions), 0)::int8 FROM backfill_ranges", &[]).await.unwrap().get(0)
}

/// What the data set of `sessions` sessions makes in ScyllaDB: 2 rows per session, 3 per turn, 1 per step.
fn expected_scylla_rows(sessions: usize) -> u64 {
    let scale = Scale::sized(sessions);
    (0..sessions)
        .map(|index| {
            let rows = relational_rows(&chat_dataset::session(&scale, 42, index));
            (2 + 3 * rows.turns.len() + rows.steps.len()) as u64
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backfill_resumes_from_its_checkpoints_and_verifies_clean() {
    const SESSIONS: usize = 200;
    let (schema, keyspace, copier) = seeded("backfill_resume", SESSIONS).await;
    let options = BackfillOptions {
        ranges: 8,
        range_concurrency: 2,
        batch_sessions: 5,
        rate: std::num::NonZeroU32::new(6_000),
        ..BackfillOptions::default()
    };
    let (store, first_copier, first_options) = (schema.store.clone(), copier.clone(), options.clone());
    let first = tokio::spawn(async move { backfill(&store, &first_copier, &first_options).await });
    // Kill it about half-way, in the middle of whatever batches are in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while checkpointed_sessions(&schema.store).await < (SESSIONS / 2) as i64 {
        assert!(std::time::Instant::now() < deadline, "the backfill makes progress");
        assert!(!first.is_finished(), "the rate limit keeps the first run going past half-way");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    // A checkpoint already sent when the task was dropped still commits on the server, so the
    // count is read once it holds still.
    let mut checkpointed = checkpointed_sessions(&schema.store).await;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let again = checkpointed_sessions(&schema.store).await;
        if again == checkpointed {
            break;
        }
        checkpointed = again;
    }
    assert!((100..=140).contains(&checkpointed), "killed about half-way: {checkpointed} sessions checkpointed");

    let second = backfill(&schema.store, &copier, &options).await.expect("the second run completes");
    assert!(second.resumed, "the second run continues from the checkpoints");
    assert_eq!(
        checkpointed as u64 + second.sessions,
        SESSIONS as u64,
        "every session is copied once, apart from the batches in flight at the kill"
    );
    let client = schema.store.client().await.unwrap();
    let (done, rows): (i64, i64) = {
        let row = client
            .query_one("SELECT count(*) FILTER (WHERE done), coalesce(sum(rows), 0)::int8 FROM backfill_ranges", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(done, 8, "every range is done");
    assert_eq!(rows as u64, expected_scylla_rows(SESSIONS), "the checkpoints count every ScyllaDB row exactly once");

    let report = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(report.sessions, SESSIONS);
    assert_eq!(report.divergences(), 0, "{}", report.summary());
    // A third run finds nothing left to do.
    let third = backfill(&schema.store, &copier, &options).await.unwrap();
    assert_eq!((third.sessions, third.ranges_already_done), (0, 8));
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_holding_live_reads_under_a_target_slows_down_while_it_is_missed() {
    const SESSIONS: usize = 80;
    const CAP: u32 = 1_000;
    let (schema, keyspace, copier) = seeded("backfill_throttle", SESSIONS).await;
    // No read takes under a microsecond: every decision finds the target missed. Small batches
    // go through the throttle one by one.
    let missed = BackfillOptions {
        ranges: 4,
        batch_sessions: 2,
        rate: std::num::NonZeroU32::new(CAP),
        max_live_p99: Some(Duration::from_micros(1)),
        ..BackfillOptions::default()
    };
    let slowed = backfill(&schema.store, &copier, &missed).await.expect("the throttled backfill completes");
    let throttle = slowed.throttle.expect("a target asks for the throttle");
    assert!(throttle.probes > 0, "{throttle:?}");
    assert!(throttle.decisions >= 1 && throttle.slowdowns == throttle.decisions, "{throttle:?}");
    let lowest = throttle.lowest_limit.expect("it limited the rate");
    assert!((100.0..f64::from(CAP)).contains(&lowest), "under the cap, not under the floor: {throttle:?}");
    let rows = expected_scylla_rows(SESSIONS);
    assert_eq!(slowed.scylla_rows, rows, "slowed down, it still copies everything");
    // The cap alone lets a second's worth through at once, then CAP rows a second.
    let capped_alone = (rows as f64 - f64::from(CAP)) / f64::from(CAP);
    assert!(
        slowed.elapsed.as_secs_f64() > 1.25 * capped_alone,
        "the throttle held it under the cap: {:?} for {rows} rows, {capped_alone:.1} s at the cap; {throttle:?}",
        slowed.elapsed
    );
    let report = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(report.divergences(), 0, "{}", report.summary());

    // A target the probes meet: the throttle never limits the backfill.
    let held =
        BackfillOptions { restart: true, max_live_p99: Some(Duration::from_secs(30)), batch_sessions: 64, ..missed };
    let unhindered = backfill(&schema.store, &copier, &held).await.unwrap().throttle.unwrap();
    assert_eq!((unhindered.slowdowns, unhindered.lowest_limit), (0, None), "{unhindered:?}");
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_racing_dual_writes_ends_with_the_newest_values_everywhere() {
    const SESSIONS: usize = 120;
    let (schema, keyspace, copier) = seeded("backfill_race", SESSIONS).await;
    let relay = ScyllaRelay::new(schema.store.clone(), copier.clone(), RelayConfig::default());
    let dual = DualWriteStore::new(relay);
    let options = BackfillOptions {
        ranges: 4,
        range_concurrency: 2,
        batch_sessions: 4,
        // About 13 s for the data set's 10K rows: longer than the writes below take even when
        // the other live tests share the machine, so the writes really race the backfill.
        rate: std::num::NonZeroU32::new(800),
        ..BackfillOptions::default()
    };
    let (store, task_copier, task_options) = (schema.store.clone(), copier.clone(), options.clone());
    let running = tokio::spawn(async move { backfill(&store, &task_copier, &task_options).await });

    // While it runs, change sessions all over the key space: renames, soft deletes, likes and
    // switched branches, each a dual-write whose copy races the backfill's older copy.
    let snapshots = schema.store.snapshot_range(&Default::default(), SESSIONS as i64).await.unwrap();
    let mut renamed = Vec::new();
    let mut deleted = Vec::new();
    let mut switched = Vec::new();
    for (n, snapshot) in snapshots.iter().enumerate().filter(|(n, _)| n % 3 == 0) {
        let (account, session) = (&snapshot.session.account_uid, &snapshot.session.uid);
        dual.rename_session(account, session, &format!("Renamed {n}")).await.unwrap();
        renamed.push((account.clone(), session.clone(), format!("Renamed {n}")));
        if n % 2 == 0 {
            dual.delete_session(account, session).await.unwrap();
            deleted.push((account.clone(), session.clone()));
        } else if let Some(human) = snapshot.turns.iter().find(|turn| turn.turn_type == TurnType::Human) {
            // Point the first prompt back at its first answer, then like it.
            let first_answer = snapshot.turns.iter().find(|turn| turn.parent_uid.as_ref() == Some(&human.uid)).unwrap();
            dual.set_active_child(account, session, Some(&human.uid), &first_answer.uid).await.unwrap();
            dual.set_liked(account, session, &first_answer.uid, Some(true)).await.unwrap();
            switched.push((account.clone(), session.clone(), human.uid.clone(), first_answer.uid.clone()));
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert!(!running.is_finished(), "the writes raced the backfill");
    running.await.unwrap().expect("the backfill completes");
    assert_eq!(dual.lag().await.unwrap().depth, 0);

    let report = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(report.divergences(), 0, "{}", report.summary());
    // And what the application would read from ScyllaDB is the newest value.
    let reader = ConversationStore::new(keyspace.db.clone());
    for (account, session, title) in &renamed {
        assert_eq!(&reader.session(account, session).await.unwrap().title, title);
    }
    for (account, session) in &deleted {
        assert!(matches!(reader.load_conversation(account, session).await, Err(StoreError::NotFound { .. })));
    }
    assert!(!switched.is_empty());
    for (account, session, human, answer) in &switched {
        let conversation = reader.load_conversation(account, session).await.unwrap();
        let human_turn = conversation.turn(human).unwrap();
        assert_eq!(human_turn.turn.active_child.as_ref(), Some(answer));
        assert_eq!(conversation.turn(answer).unwrap().turn.liked, Some(true));
    }
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_fixes_each_kind_of_seeded_corruption() {
    let (schema, keyspace, copier) = seeded("repair", 30).await;
    backfill(&schema.store, &copier, &BackfillOptions::default()).await.unwrap();
    let snapshots = schema.store.snapshot_range(&Default::default(), 30).await.unwrap();
    let with_turns: Vec<_> = snapshots.iter().filter(|snapshot| snapshot.turns.len() >= 4).collect();
    assert!(with_turns.len() >= 4, "the data set has sessions with several turns");
    let session = keyspace.db.session();
    let ks = &keyspace.config.keyspace;
    let cql = |text: String| async move {
        session.query_unpaged(text, ()).await.expect("the corruption is written");
    };
    // A missing row: a step deleted (its tombstone is newer than the step's version).
    let missing = with_turns[0];
    let step = &missing.steps[0];
    cql(format!("DELETE FROM {ks}.steps_by_turn WHERE turn_uid = '{}' AND idx = {}", step.agent_turn_uid, step.idx))
        .await;
    // A stale column, written later than the relational version.
    let stale = with_turns[1];
    cql(format!(
        "UPDATE {ks}.sessions_by_user SET title = 'stale title' WHERE account_uid = '{}' AND created_at = {} \
         AND session_uid = '{}'",
        stale.session.account_uid,
        stale.session.created_at.timestamp_millis(),
        stale.session.uid
    ))
    .await;
    // An extra row.
    let extra = with_turns[2];
    let agent = extra.turns.iter().find(|turn| turn.turn_type == TurnType::Agent).unwrap();
    cql(format!(
        "INSERT INTO {ks}.steps_by_turn (turn_uid, idx, tpe, content, created_at) VALUES ('{}', 999, 1, 'stray', 0)",
        agent.uid
    ))
    .await;
    // turns_by_parent disagreeing with turns_by_session: a turn filed under the wrong parent.
    let moved = with_turns[3];
    let turn = &moved.turns[1];
    let parent = turn.parent_uid.clone().unwrap();
    let wrong_parent = &moved.turns[2].uid;
    let millis = turn.created_at.timestamp_millis();
    cql(format!(
        "DELETE FROM {ks}.turns_by_parent WHERE parent_uid = '{parent}' AND created_at = {millis} AND turn_uid = '{}'",
        turn.uid
    ))
    .await;
    cql(format!(
        "INSERT INTO {ks}.turns_by_parent (parent_uid, created_at, turn_uid, session_uid, turn_type) \
         VALUES ('{wrong_parent}', {millis}, '{}', '{}', '{}')",
        turn.uid, moved.session.uid, turn.turn_type
    ))
    .await;

    let all = ScanOptions::new(Selection::All);
    let found = scan(&schema.store, &copier, &all, false).await.unwrap();
    assert_eq!(found.count(DivergenceKind::Missing), 2, "{}", found.summary());
    assert_eq!(found.count(DivergenceKind::Differs), 1, "{}", found.summary());
    assert_eq!(found.count(DivergenceKind::Extra), 2, "{}", found.summary());
    assert_eq!(found.count(DivergenceKind::Orphan), 1, "{}", found.summary());
    let mut divergent = found.divergent_sessions.clone();
    divergent.sort();
    let mut corrupted: Vec<String> =
        [missing, stale, extra, moved].iter().map(|snapshot| snapshot.session.uid.clone()).collect();
    corrupted.sort();
    assert_eq!(divergent, corrupted);
    assert!(found.examples.iter().any(|example| example.detail.contains("stale title")));

    let repaired = scan(&schema.store, &copier, &all, true).await.unwrap();
    assert_eq!(repaired.divergences(), found.divergences(), "repair acts on what verify finds");
    assert_eq!(repaired.repaired.rows_removed, 2, "the two extra rows are tombstoned");
    let after = scan(&schema.store, &copier, &all, false).await.unwrap();
    assert_eq!(after.divergences(), 0, "{}", after.summary());
    let again = scan(&schema.store, &copier, &all, true).await.unwrap();
    assert_eq!((again.divergences(), again.repaired.rows_rewritten), (0, 0), "a second repair has nothing to do");

    // A purged session's copies are all tombstoned by the relay, at the delete's version.
    let purged = with_turns[0];
    let pg = schema.store.clone().with_outbox(true);
    pg.purge_session(&purged.session.account_uid, &purged.session.uid).await.unwrap();
    let relay = ScyllaRelay::new(schema.store.clone(), copier.clone(), RelayConfig::default());
    let (drained, lag) = relay.drain(Some(Duration::from_secs(30))).await.unwrap();
    assert_eq!((drained.copied, lag.depth), (1, 0));
    let after_purge = scan(&schema.store, &copier, &all, false).await.unwrap();
    assert_eq!(after_purge.divergences(), 0, "{}", after_purge.summary());
    assert_eq!(after_purge.sessions, 30, "the purged session is still checked, and nothing of it is left");
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_writes_nothing() {
    // PostgreSQL that does not answer.
    let unreachable = PgConfig::new("host=127.0.0.1 port=1 user=postgres dbname=chat", "public");
    let error = PgStore::connect(&unreachable).await.unwrap_err();
    assert!(matches!(error, StoreError::Relational { .. }));
    assert!(error.to_string().contains("cargo xtask db up"), "{error}");

    // A relational schema that was never applied.
    let schema = TestSchema::new("bad_input").await;
    let empty = PgStore::connect(&PgConfig::new(tests::live::postgres_connection(), "t_never_applied")).await.unwrap();
    let error = empty.check_schema().await.unwrap_err();
    assert!(error.to_string().contains("chat-migrate schema apply"), "{error}");

    // A keyspace without the tables: named, with the command that creates them, and nothing created.
    let keyspace = TestKeyspace::new("bad_input").await;
    let error = ensure_scylla_schema(&keyspace.db, None).await.unwrap_err();
    assert!(matches!(error, MigrateError::InvalidInput(_)));
    assert!(error.to_string().contains("schema apply") && error.to_string().contains(&keyspace.config.keyspace));
    let tables: Vec<(String,)> = keyspace
        .db
        .query_rows("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", (&keyspace.config.keyspace,))
        .await
        .unwrap();
    assert!(tables.is_empty(), "verify creates nothing: {tables:?}");

    // Bad backfill settings: refused before any plan is written.
    let copier = ScyllaCopier::new(keyspace.db.clone());
    let error = backfill(&schema.store, &copier, &BackfillOptions { ranges: 0, ..BackfillOptions::default() })
        .await
        .unwrap_err();
    assert!(matches!(error, MigrateError::InvalidInput(_)), "{error}");
    assert_eq!(checkpointed_sessions(&schema.store).await, 0);
    let client = schema.store.client().await.unwrap();
    let plans: i64 = client.query_one("SELECT count(*) FROM backfill_ranges", &[]).await.unwrap().get(0);
    assert_eq!(plans, 0);
    assert!("2/2".parse::<chat_migrate::Shard>().unwrap_err().contains("0 <= i < n"));
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_by_session_is_backfilled_verified_and_repaired_like_the_other_tables() {
    use chat_migrate::projection::Layout;
    use conversation_store::{StepBySession, StepBySessionPrimaryKey};
    const SESSIONS: usize = 20;
    let (schema, keyspace, copier) = seeded("steps_by_session", SESSIONS).await;
    let copier = copier.with_layout(Layout { steps_by_session: true });
    let report = backfill(&schema.store, &copier, &BackfillOptions::default()).await.expect("the backfill runs");
    let (_, _, steps) = schema.store.row_counts().await.unwrap();
    assert_eq!(report.scylla_rows, expected_scylla_rows(SESSIONS) + steps as u64, "each step is copied twice");
    let all = ScanOptions::new(Selection::All);
    assert_eq!(scan(&schema.store, &copier, &all, false).await.unwrap().divergences(), 0);

    // The two-read store loads from the backfilled copy what PostgreSQL holds.
    let store = ConversationStore::new(keyspace.db.clone()).with_steps_by_session(true);
    let session = chat_dataset::session(&Scale::sized(SESSIONS), 42, 3);
    assert_eq!(
        store.load_conversation(&session.account_uid, &session.uid).await.unwrap(),
        schema.store.load_conversation(&session.account_uid, &session.uid).await.unwrap()
    );

    // A lost copy and a stray one, both only in steps_by_session.
    let tables = copier.tables();
    let step = session.turns.iter().flat_map(|turn| turn.steps.iter().map(move |step| (turn, step))).next().unwrap();
    let key =
        StepBySessionPrimaryKey { session_uid: session.uid.clone(), turn_uid: step.0.uid.clone(), idx: step.1.idx };
    tables.steps_by_session.delete(&key).await.unwrap();
    let stray = StepBySession {
        session_uid: session.uid.clone(),
        turn_uid: "no-such-turn".into(),
        idx: 0,
        tpe: 1,
        content: "stray".into(),
        created_at: chrono::Utc::now(),
    };
    tables.steps_by_session.insert(&stray).await.unwrap();
    let found = scan(&schema.store, &copier, &all, false).await.unwrap();
    assert_eq!(
        (found.count(DivergenceKind::Missing), found.count(DivergenceKind::Extra)),
        (1, 1),
        "{:?}",
        found.examples
    );
    assert!(found.examples.iter().all(|divergence| divergence.table == "steps_by_session"));
    scan(&schema.store, &copier, &all, true).await.expect("repair runs");
    assert_eq!(scan(&schema.store, &copier, &all, false).await.unwrap().divergences(), 0, "repaired");
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_relays_side_by_side_copy_each_outbox_entry_once() {
    const SESSIONS: usize = 40;
    let schema = TestSchema::new("three_relays").await;
    let keyspace = TestKeyspace::new("three_relays").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    // Writes with the outbox on and no inline copy: everything waits for the relays.
    let writer = schema.store.clone().with_outbox(true);
    let account = "three-relays";
    for n in 0..SESSIONS {
        let session = writer.create_session(account, &format!("session {n}")).await.unwrap();
        let id = session.session_uid.as_str();
        let question = writer.append_human_turn(account, id, None, "who copies this?", None).await.unwrap();
        let answer = writer.append_agent_turn(account, id, &question.turn_uid, None).await.unwrap();
        writer.append_step(account, id, &answer.turn_uid, 0, 1, "exactly one relay").await.unwrap();
    }
    // Per session: the session (1), a root turn and the session's active root (2), an agent turn
    // and its parent's active child (2), a step (1).
    let entries = SESSIONS * 6;
    assert_eq!(writer.outbox_lag().await.unwrap().depth, entries as i64);

    // Small claims, so the three really take turns at the same outbox.
    let config = RelayConfig { batch: 16, ..RelayConfig::default() };
    let relays: Vec<ScyllaRelay> = (0..3)
        .map(|_| ScyllaRelay::new(schema.store.clone(), ScyllaCopier::new(keyspace.db.clone()), config))
        .collect();
    let passes = relays.iter().map(|relay| async move {
        let mut copied = 0;
        loop {
            let pass = relay.drain_once().await.expect("a pass runs");
            assert_eq!(pass.failed, 0);
            if pass.copied == 0 {
                return copied;
            }
            copied += pass.copied;
        }
    });
    let copied: Vec<usize> = futures::future::join_all(passes).await;
    println!("entries copied by each relay: {copied:?}");
    assert_eq!(copied.iter().sum::<usize>(), entries, "each entry was copied by exactly one relay: {copied:?}");
    assert!(copied.iter().filter(|count| **count > 0).count() >= 2, "the relays shared the work: {copied:?}");
    assert_eq!(schema.store.outbox_lag().await.unwrap().depth, 0);
    let copier = ScyllaCopier::new(keyspace.db.clone());
    let report = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!((report.sessions, report.divergences()), (SESSIONS, 0), "{}", report.summary());
    keyspace.drop().await;
    schema.drop().await;
}
