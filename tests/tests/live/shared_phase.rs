//! One phase for the fleet, kept in PostgreSQL: `chat-migrate phase set` and its preconditions,
//! instances that follow it, and writes from an instance that is a moment behind.

use std::time::Duration;

use chat_migrate::shared_phase::{self, SetOptions};
use chat_migrate::{
    backfill, ensure_scylla_schema, scan, BackfillOptions, DualWriteStore, MigrateError, MigratingOptions,
    MigratingStore, Phase, PhaseFollower, PostgresRelay, RelayConfig, Routing, ScanOptions, ScyllaCopier, ScyllaRelay,
    Selection,
};
use conversation_store::{ConversationApi, ConversationStore, StoreError};
use tests::live::{TestKeyspace, TestSchema};

/// A relational store with a few sessions, and an empty keyspace with the store's tables.
async fn databases(test_name: &str) -> (TestSchema, TestKeyspace, ScyllaCopier) {
    let schema = TestSchema::new(test_name).await;
    let keyspace = TestKeyspace::new(test_name).await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    for n in 0..3 {
        schema.store.create_session("history", &format!("before-{n}")).await.unwrap();
    }
    let copier = ScyllaCopier::new(keyspace.db.clone());
    (schema, keyspace, copier)
}

fn quick() -> SetOptions {
    SetOptions { fleet_wait: Duration::from_secs(5), drain_wait: Duration::from_secs(10) }
}

async fn set(
    schema: &TestSchema,
    keyspace: &TestKeyspace,
    phase: Phase,
    to_postgres: Option<&PostgresRelay>,
    options: SetOptions,
) -> Result<chat_migrate::PhaseChange, MigrateError> {
    shared_phase::set(&schema.store, &keyspace.config.keyspace, Routing::new(phase), to_postgres, options).await
}

fn refusal(outcome: Result<chat_migrate::PhaseChange, MigrateError>) -> String {
    match outcome {
        Err(MigrateError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Backfills and verifies clean: what going forward from dual-write needs.
async fn backfill_and_verify(schema: &TestSchema, copier: &ScyllaCopier) {
    backfill(&schema.store, copier, &BackfillOptions::default()).await.expect("the backfill runs");
    let verify = scan(&schema.store, copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(verify.divergences(), 0, "{}", verify.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phase_change_is_refused_until_its_preconditions_hold_and_then_goes_through_at_once() {
    let (schema, keyspace, copier) = databases("phase_set").await;
    let to_postgres = PostgresRelay::new(ConversationStore::new(keyspace.db.clone()), schema.store.clone());
    let start = shared_phase::read(&schema.store).await.unwrap();
    assert_eq!((start.routing.phase, start.epoch), (Phase::Postgres, 1));

    let skipping = refusal(set(&schema, &keyspace, Phase::Shadow, None, quick()).await);
    assert!(skipping.contains("one step at a time"), "{skipping}");
    // No instance follows: a change whose preconditions hold takes effect at once.
    let started = std::time::Instant::now();
    let change = set(&schema, &keyspace, Phase::DualWrite, None, quick()).await.expect("dual-write needs nothing");
    assert!(started.elapsed() < Duration::from_secs(2), "no instance to wait for: {:?}", started.elapsed());
    assert_eq!((change.to.routing.phase, change.to.epoch, change.lagging.len()), (Phase::DualWrite, 2, 0));

    // Forward from dual-write: the backfill, a clean verify after it, and the outbox.
    let why = refusal(set(&schema, &keyspace, Phase::Shadow, None, quick()).await);
    assert!(why.contains("[no] backfill done") && why.contains("[no] verify clean"), "{why}");
    assert_eq!(shared_phase::read(&schema.store).await.unwrap().epoch, 2, "a refused change changes nothing");
    // A backfill and a verify from before dual-write began miss what was written in between.
    set(&schema, &keyspace, Phase::Postgres, None, quick()).await.unwrap();
    backfill_and_verify(&schema, &copier).await;
    schema.store.create_session("history", "written before dual-write, after the backfill").await.unwrap();
    set(&schema, &keyspace, Phase::DualWrite, None, quick()).await.unwrap();
    let why = refusal(set(&schema, &keyspace, Phase::Shadow, None, quick()).await);
    assert!(why.contains("planned before dual-write last began") && why.contains("[no] verify clean"), "{why}");
    let restart = BackfillOptions { restart: true, ..BackfillOptions::default() };
    backfill(&schema.store, &copier, &restart).await.unwrap();
    let why = refusal(set(&schema, &keyspace, Phase::Shadow, None, quick()).await);
    assert!(!why.contains("backfill done") && why.contains("ran before the backfill finished"), "{why}");
    // A verify of a sample is not a verify of everything.
    scan(&schema.store, &copier, &ScanOptions::new(Selection::Sample(1)), false).await.unwrap();
    refusal(set(&schema, &keyspace, Phase::Shadow, None, quick()).await);
    backfill_and_verify(&schema, &copier).await;
    for phase in [Phase::Shadow, Phase::ScyllaReads, Phase::ScyllaPrimary] {
        let change = set(&schema, &keyspace, phase, None, quick()).await.expect("the preconditions hold");
        assert_eq!(change.to.routing.phase, phase);
    }

    // In scylla-primary ScyllaDB is the truth: verify says so, and nothing copies PostgreSQL over it.
    let verify = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(verify.truth, chat_migrate::scan::Truth::Scylla);
    let backfill_refused = backfill(&schema.store, &copier, &BackfillOptions::default()).await;
    assert!(matches!(backfill_refused, Err(MigrateError::Refused(_))), "{backfill_refused:?}");
    let relay = ScyllaRelay::new(schema.store.clone(), copier.clone(), RelayConfig::default());
    assert!(matches!(relay.drain(None).await, Err(MigrateError::Refused(_))));
    // Writes that reach PostgreSQL first are refused: ScyllaDB is written first now.
    let refused = schema.store.clone().following_the_phase().create_session("late", "dual-written").await;
    assert!(matches!(refused, Err(StoreError::WritesMoved { .. })), "{refused:?}");

    // Leaving scylla-primary needs ScyllaDB, to copy its last changes to PostgreSQL.
    let why = refusal(set(&schema, &keyspace, Phase::ScyllaReads, None, quick()).await);
    assert!(why.contains("pg_outbox drained"), "{why}");
    let change = set(&schema, &keyspace, Phase::ScyllaReads, Some(&to_postgres), quick()).await.unwrap();
    assert_eq!((change.to.routing.phase, change.copied_to_postgres), (Phase::ScyllaReads, Some(0)));
    for phase in [Phase::Shadow, Phase::DualWrite, Phase::Postgres] {
        set(&schema, &keyspace, phase, None, quick()).await.expect("going back needs nothing");
    }
    keyspace.drop().await;
    schema.drop().await;
}

/// An application instance: a store following the shared phase, polling every `poll`.
async fn instance(schema: &TestSchema, keyspace: &TestKeyspace, poll: Duration) -> (MigratingStore, PhaseFollower) {
    let relay = ScyllaRelay::new(schema.store.clone(), ScyllaCopier::new(keyspace.db.clone()), RelayConfig::default());
    let options = MigratingOptions { phase_poll: poll, ..MigratingOptions::default() };
    MigratingStore::following(DualWriteStore::new(relay), ConversationStore::new(keyspace.db.clone()), options)
        .await
        .expect("the instance starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_follow_the_shared_phase_and_one_that_lags_still_writes_the_new_way() {
    let (schema, keyspace, copier) = databases("phase_fleet").await;
    let to_postgres = PostgresRelay::new(ConversationStore::new(keyspace.db.clone()), schema.store.clone());
    let poll = Duration::from_millis(200);
    let (a, a_follower) = instance(&schema, &keyspace, poll).await;
    let (b, b_follower) = instance(&schema, &keyspace, poll).await;
    // The laggard reads the phase once an hour: it stays a step behind.
    let (laggard, laggard_follower) = instance(&schema, &keyspace, Duration::from_secs(3600)).await;
    assert_eq!(shared_phase::instances(&schema.store).await.unwrap().len(), 3);

    // The others follow within their polls; the change names the laggard.
    let change = set(&schema, &keyspace, Phase::DualWrite, None, quick()).await.unwrap();
    let lagging: Vec<&str> = change.lagging.iter().map(|instance| instance.instance.as_str()).collect();
    assert_eq!(lagging, [laggard_follower.instance()]);
    for store in [&a, &b] {
        assert_eq!((store.routing().phase, store.status().epoch), (Phase::DualWrite, change.to.epoch));
    }
    assert_eq!(laggard.routing().phase, Phase::Postgres, "the laggard has not read the phase yet");

    // Still in postgres by its own reckoning, the laggard's write records its change for
    // ScyllaDB, as the shared phase asks in the write's own transaction.
    let written = laggard.create_session("lagging", "written a step behind").await.unwrap();
    assert_eq!(schema.store.outbox_lag().await.unwrap().depth, 1, "the change waits for the relay");
    let relay = ScyllaRelay::new(schema.store.clone(), copier.clone(), RelayConfig::default());
    relay.drain(Some(Duration::from_secs(10))).await.unwrap();
    let copied = ConversationStore::new(keyspace.db.clone()).session("lagging", &written.session_uid).await;
    assert_eq!(copied.unwrap().title, "written a step behind");

    backfill_and_verify(&schema, &copier).await;
    let brief = SetOptions { fleet_wait: Duration::from_millis(500), ..quick() };
    for phase in [Phase::Shadow, Phase::ScyllaReads, Phase::ScyllaPrimary] {
        set(&schema, &keyspace, phase, None, brief).await.unwrap();
    }
    // Dual-writing by its own reckoning, the laggard's write is refused by PostgreSQL and
    // retried ScyllaDB-first under the phase read afresh.
    let session = laggard.create_session("lagging", "written in scylla-primary").await.unwrap();
    assert_eq!(laggard.routing().phase, Phase::ScyllaPrimary, "the refusal made it read the phase");
    assert!(matches!(schema.store.session("lagging", &session.session_uid).await, Err(StoreError::NotFound { .. })));
    assert!(to_postgres.depth().await.unwrap() >= 1, "the change waits for the relay toward PostgreSQL");
    a.rename_session("lagging", &session.session_uid, "renamed through another instance").await.unwrap();

    // Leaving scylla-primary waits for every registered instance to hold its writes; the
    // laggard does not, so the change is refused and writes go on in scylla-primary.
    let why = refusal(set(&schema, &keyspace, Phase::ScyllaReads, Some(&to_postgres), quick()).await);
    assert!(why.contains(laggard_follower.instance()), "{why}");
    let back = shared_phase::read(&schema.store).await.unwrap();
    assert_eq!((back.routing.phase, back.writes_paused), (Phase::ScyllaPrimary, false));
    b.rename_session("lagging", &session.session_uid, "renamed after the refused change").await.unwrap();
    laggard_follower.stop().await.unwrap();

    // With the laggard gone, writes pause, the relay copies ScyllaDB's last changes, and
    // PostgreSQL is the truth again, holding every write.
    let writer = {
        let a = a.clone();
        let id = session.session_uid.clone();
        tokio::spawn(async move {
            for n in 0..20 {
                a.rename_session("lagging", &id, &format!("rename {n} during the switch")).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let change = set(&schema, &keyspace, Phase::ScyllaReads, Some(&to_postgres), quick()).await.unwrap();
    writer.await.expect("every write during the switch is acknowledged");
    assert!(change.copied_to_postgres.is_some());
    let in_postgres = schema.store.session("lagging", &session.session_uid).await.unwrap();
    assert_eq!(in_postgres.title, "rename 19 during the switch", "the last acknowledged rename is in PostgreSQL");
    let in_scylla = ConversationStore::new(keyspace.db.clone()).session("lagging", &session.session_uid).await;
    assert_eq!(in_scylla.unwrap().title, in_postgres.title);
    let verify = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(verify.divergences(), 0, "{}", verify.summary());

    a_follower.stop().await.unwrap();
    b_follower.stop().await.unwrap();
    assert!(shared_phase::instances(&schema.store).await.unwrap().is_empty(), "stopped instances unregister");
    keyspace.drop().await;
    schema.drop().await;
}
