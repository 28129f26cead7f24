//! Verify and repair against the truth of each phase: a copy stamped ahead of PostgreSQL's clock,
//! repairs racing live writes in both directions (check, then a live write, then the fix), and
//! copies toward PostgreSQL that arrive late.

use std::time::Duration;

use chat_migrate::repair::{repair_from_scylla, repair_session};
use chat_migrate::verify::{compare, read_scylla, verifying_tables, DivergenceKind, SessionKeys, Truth};
use chat_migrate::{
    backfill, ensure_scylla_schema, scan, BackfillOptions, DualWriteStore, PostgresRelay, RelayConfig, ScanOptions,
    ScyllaCopier, ScyllaRelay, Selection,
};
use conversation_pg::SessionRow;
use conversation_store::{ConversationApi, ConversationStore};
use tests::live::{TestKeyspace, TestSchema};

const ACCOUNT: &str = "truth-account";

/// A relational store with one conversation, copied to an empty keyspace by a backfill.
async fn copied(test_name: &str) -> (TestSchema, TestKeyspace, ScyllaCopier, DualWriteStore, String, String) {
    let schema = TestSchema::new(test_name).await;
    let keyspace = TestKeyspace::new(test_name).await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    let copier = ScyllaCopier::new(keyspace.db.clone());
    let dual = DualWriteStore::new(ScyllaRelay::new(schema.store.clone(), copier.clone(), RelayConfig::default()));
    let session = dual.create_session(ACCOUNT, "the first title").await.unwrap();
    let id = session.session_uid.clone();
    let question = dual.append_human_turn(ACCOUNT, &id, None, "how many steps?", None).await.unwrap();
    let answer = dual.append_agent_turn(ACCOUNT, &id, &question.turn_uid, None).await.unwrap();
    dual.append_step(ACCOUNT, &id, &answer.turn_uid, 0, 1, "one").await.unwrap();
    backfill(&schema.store, &copier, &BackfillOptions::default()).await.unwrap();
    (schema, keyspace, copier, dual, id, answer.turn_uid)
}

/// What verify reads and finds for one session, as `scan` would.
async fn check(
    schema: &TestSchema,
    copier: &ScyllaCopier,
    id: &str,
    truth: Truth,
) -> (SessionKeys, chat_migrate::verify::ScyllaSession, Vec<chat_migrate::verify::Divergence>) {
    let (session, turn_uids) = schema.store.session_keys(id).await.unwrap().expect("PostgreSQL has the session");
    let keys = SessionKeys { session, turn_uids };
    let found = read_scylla(&verifying_tables(copier.tables()), &keys, copier.layout()).await.unwrap();
    let snapshot = schema.store.snapshot_sessions(&[id.to_owned()]).await.unwrap().pop();
    let divergences = compare(id, &found, snapshot.as_ref(), copier.layout(), truth);
    (keys, found, divergences)
}

fn micros_from_now(ahead: Duration) -> i64 {
    chrono::Utc::now().timestamp_micros() + i64::try_from(ahead.as_micros()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_stamped_ahead_is_reported_and_repair_outdates_it_for_the_next_dual_write() {
    let (schema, keyspace, copier, dual, id, _) = copied("future_stamped").await;
    // Something other than the migration writes the title an hour ahead of PostgreSQL's clock.
    let session = schema.store.session(ACCOUNT, &id).await.unwrap();
    let ahead = micros_from_now(Duration::from_secs(3600));
    let cql = format!(
        "UPDATE {}.sessions_by_user USING TIMESTAMP {ahead} SET title = 'from the future' \
         WHERE account_uid = ? AND created_at = ? AND session_uid = ?",
        keyspace.config.keyspace
    );
    keyspace.db.session().query_unpaged(cql, (ACCOUNT, session.created_at, &id)).await.unwrap();
    // A dual-write now loses to it in ScyllaDB: last write wins by timestamp.
    dual.rename_session(ACCOUNT, &id, "renamed by a user").await.unwrap();
    let scylla = ConversationStore::new(keyspace.db.clone());
    assert_eq!(scylla.session(ACCOUNT, &id).await.unwrap().title, "from the future");

    let found = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(
        (found.count(DivergenceKind::Newer), found.count(DivergenceKind::Differs)),
        (1, 1),
        "{}",
        found.summary()
    );
    let newer = found.examples.iter().find(|example| example.kind == DivergenceKind::Newer).unwrap();
    assert!(newer.detail.contains("would win over the next dual-write"), "{newer}");

    scan(&schema.store, &copier, &ScanOptions::new(Selection::All), true).await.unwrap();
    assert_eq!(scylla.session(ACCOUNT, &id).await.unwrap().title, "renamed by a user");
    // The raised versions are past the stray write, so the next dual-write wins too.
    dual.rename_session(ACCOUNT, &id, "renamed after the repair").await.unwrap();
    assert_eq!(scylla.session(ACCOUNT, &id).await.unwrap().title, "renamed after the repair");
    let after = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(after.divergences(), 0, "{}", after.summary());
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_from_postgres_after_a_live_write_keeps_the_live_write() {
    let (schema, keyspace, copier, dual, id, answer) = copied("repair_race_pg").await;
    // A stray step 1 in ScyllaDB (written by something else, a minute ago).
    let stray_at = micros_from_now(Duration::ZERO) - 60_000_000;
    let cql = format!(
        "INSERT INTO {}.steps_by_turn (turn_uid, idx, tpe, content, created_at) VALUES (?, 1, 1, 'stray', 0) \
         USING TIMESTAMP {stray_at}",
        keyspace.config.keyspace
    );
    keyspace.db.session().query_unpaged(cql, (&answer,)).await.unwrap();
    // Check: step 1 is extra.
    let (keys, found, divergences) = check(&schema, &copier, &id, Truth::Postgres).await;
    assert!(divergences.iter().any(|divergence| divergence.kind == DivergenceKind::Extra), "{divergences:?}");
    // Then the agent really streams its step 1, through dual-write, before the repair runs.
    dual.append_step(ACCOUNT, &id, &answer, 1, 3, "the real step 1").await.unwrap();
    // Then the fix, with what the check found.
    repair_session(&schema.store, &copier, &keys, &divergences, &found).await.unwrap();
    let conversation = ConversationStore::new(keyspace.db.clone()).load_conversation(ACCOUNT, &id).await.unwrap();
    let steps: Vec<&str> = conversation.turns[1].steps.iter().map(|step| step.content.as_str()).collect();
    assert_eq!(steps, ["one", "the real step 1"], "the live write survives the repair");
    let after = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(after.divergences(), 0, "{}", after.summary());
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_from_scylla_after_a_live_write_keeps_the_live_write_and_late_copies_change_nothing() {
    let (schema, keyspace, copier, _, id, answer) = copied("repair_race_scylla").await;
    // scylla-primary: ScyllaDB is written first and records its changes for PostgreSQL.
    let primary = ConversationStore::new(keyspace.db.clone()).with_outbox(true);
    let relay = PostgresRelay::new(ConversationStore::new(keyspace.db.clone()), schema.store.clone());
    primary.rename_session(ACCOUNT, &id, "A").await.unwrap();
    // Check: PostgreSQL still has the first title.
    let (_, found, divergences) = check(&schema, &copier, &id, Truth::Scylla).await;
    assert!(divergences.iter().any(|divergence| divergence.kind == DivergenceKind::Differs), "{divergences:?}");
    // Then a user renames it again, and likes the answer, in ScyllaDB.
    primary.rename_session(ACCOUNT, &id, "B").await.unwrap();
    primary.set_liked(ACCOUNT, &id, &answer, Some(true)).await.unwrap();
    // Then the fix, with what the check found: it copies ScyllaDB as it is now.
    repair_from_scylla(&relay, &id, &found).await.unwrap();
    let in_postgres = schema.store.load_conversation(ACCOUNT, &id).await.unwrap();
    assert_eq!(in_postgres.session.title, "B");
    assert_eq!(in_postgres.turns[1].turn.liked, Some(true));

    // A copy read before the last rename and written after it (a second relay, a slow one)
    // changes nothing: PostgreSQL keeps the newer row.
    let session = schema.store.session_row(&id).await.unwrap().unwrap();
    let late = SessionRow { title: "A".into(), version: session.version - 1, ..session.clone() };
    schema.store.put_session(&late).await.unwrap();
    assert_eq!(schema.store.session(ACCOUNT, &id).await.unwrap().title, "B");
    // The relay's own pass copies nothing older either, and empties the queue.
    let (report, left) = relay.drain(Some(Duration::from_secs(30))).await.unwrap();
    assert_eq!((left, report.abandoned), (0, 0), "{report:?}");
    assert_eq!(schema.store.session(ACCOUNT, &id).await.unwrap().title, "B");
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_removes_copies_scylla_does_not_list_and_a_late_backfill_cannot_bring_them_back() {
    let (schema, keyspace, copier, _, id, answer) = copied("purge_recorded_turns").await;
    let ks = &keyspace.config.keyspace;
    // ScyllaDB's turns_by_session does not list the answer (a replica that missed it, say), but
    // its other copies are there: its location, its steps.
    let before = schema.store.snapshot_sessions(std::slice::from_ref(&id)).await.unwrap().pop().unwrap();
    let turn = before.turns.iter().find(|turn| turn.uid == answer).unwrap();
    let cql = format!("DELETE FROM {ks}.turns_by_session WHERE session_uid = ? AND created_at = ? AND turn_uid = ?");
    keyspace.db.session().query_unpaged(cql, (&id, turn.created_at, &answer)).await.unwrap();

    // The purge records the session's turns in its own transaction, and the relay tombstones
    // every copy of each at the purge's version.
    schema.store.clone().with_outbox(true).purge_session(ACCOUNT, &id).await.unwrap();
    let relay = ScyllaRelay::new(schema.store.clone(), copier.clone(), RelayConfig::default());
    relay.drain(Some(Duration::from_secs(30))).await.unwrap();
    // A backfill batch read before the purge lands after it, with the rows' old versions.
    copier.write_session_copy(&chat_migrate::projection::project_snapshot(&before, copier.layout())).await.unwrap();

    let tables = verifying_tables(copier.tables());
    let location = conversation_store::TurnLocationPrimaryKey { turn_uid: answer.clone() };
    assert!(tables.locations.get(&location).await.unwrap().is_none(), "the unlisted turn's location is gone");
    let steps = conversation_store::StepByTurnPartitionKey { turn_uid: answer.clone() };
    assert!(tables.steps.partition_vec(&steps).await.unwrap().is_empty(), "its steps are gone");
    let session_turns = conversation_store::TurnBySessionPartitionKey { session_uid: id.clone() };
    assert!(tables.turns.partition_vec(&session_turns).await.unwrap().is_empty(), "the late batch stays shadowed");
    let verify = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!((verify.sessions, verify.divergences()), (1, 0), "{}", verify.summary());
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_what_is_left_of_a_purged_session_by_the_turns_the_purge_recorded() {
    let (schema, keyspace, copier, _, id, answer) = copied("purge_leftovers").await;
    // Purged without the relay: every copy is left over, including the answer's own partitions.
    schema.store.purge_session(ACCOUNT, &id).await.unwrap();
    let found = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    let extra: Vec<&str> = found
        .examples
        .iter()
        .filter(|example| example.kind == DivergenceKind::Extra)
        .map(|example| example.table)
        .collect();
    assert!(extra.contains(&"turns_by_uid") && extra.contains(&"steps_by_turn"), "{}", found.summary());
    assert!(found.examples.iter().any(|example| example.key.contains(&answer)), "{}", found.summary());
    scan(&schema.store, &copier, &ScanOptions::new(Selection::All), true).await.unwrap();
    let after = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(after.divergences(), 0, "{}", after.summary());
    keyspace.drop().await;
    schema.drop().await;
}
