//! History that other code wrote with PostgreSQL's microseconds, where ScyllaDB keeps
//! milliseconds: both stores, verify and repair see every time at milliseconds, and pages and
//! turns come in the same order from both.

use chat_migrate::{backfill, ensure_scylla_schema, scan, BackfillOptions, ScanOptions, ScyllaCopier, Selection};
use conversation_store::{ConversationApi, ConversationStore, SessionCursor};
use tests::live::{TestKeyspace, TestSchema};

const ACCOUNT: &str = "micro-account";

/// Every session of the account, a page of one at a time, through the cursor's text form.
async fn every_page(store: &impl ConversationApi) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<SessionCursor> = None;
    loop {
        let page = store.recent_sessions(ACCOUNT, 1, cursor.as_ref()).await.unwrap();
        seen.extend(page.sessions.iter().map(|session| session.session_uid.clone()));
        match page.next {
            Some(next) => cursor = Some(SessionCursor::decode(&next.encode()).unwrap()),
            None => return seen,
        }
        assert!(seen.len() < 20, "paging ends: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_written_with_microseconds_pages_verifies_and_repairs_as_milliseconds() {
    let schema = TestSchema::new("micro_history").await;
    let keyspace = TestKeyspace::new("micro_history").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    let client = schema.store.client().await.unwrap();
    // Plain SQL, as other code writes it: three sessions within one millisecond whose
    // microseconds run against their ids' order, one a hair before the next millisecond, and a
    // conversation whose two root turns share a millisecond.
    client
        .batch_execute(&format!(
            "INSERT INTO sessions (uid, account_uid, title, created_at, version) VALUES
                 ('s-a', '{ACCOUNT}', 'a', '2026-01-01 00:00:00.123900+00', 1),
                 ('s-b', '{ACCOUNT}', 'b', '2026-01-01 00:00:00.123500+00', 1),
                 ('s-c', '{ACCOUNT}', 'c', '2026-01-01 00:00:00.123100+00', 1),
                 ('s-d', '{ACCOUNT}', 'd', '2026-01-01 00:00:00.122999+00', 1);
             INSERT INTO human_turns (uid, session_uid, parent_uid, active_child, prompt, created_at, version) VALUES
                 ('t-2', 's-a', NULL, 't-3', 'second, by id', '2026-01-01 00:00:01.000100+00', 1),
                 ('t-1', 's-a', NULL, NULL, 'first, by id', '2026-01-01 00:00:01.000900+00', 1);
             INSERT INTO agent_turns (uid, session_uid, parent_uid, active_child, liked, created_at, version) VALUES
                 ('t-3', 's-a', 't-2', NULL, true, '2026-01-01 00:00:01.001234+00', 1);
             INSERT INTO steps (agent_turn_uid, idx, tpe, content, created_at, version) VALUES
                 ('t-3', 0, 1, 'thinking', '2026-01-01 00:00:01.002345+00', 1);
             UPDATE sessions SET active_root = 't-2' WHERE uid = 's-a';"
        ))
        .await
        .unwrap();

    // PostgreSQL pages by (millisecond, id), as ScyllaDB's clustering does: none skipped or repeated.
    assert_eq!(every_page(&schema.store).await, ["s-a", "s-b", "s-c", "s-d"]);
    let session = schema.store.session(ACCOUNT, "s-a").await.unwrap();
    assert_eq!(session.created_at.timestamp_micros(), 1_767_225_600_123_000, "read at milliseconds");

    let copier = ScyllaCopier::new(keyspace.db.clone());
    let backfilled = backfill(&schema.store, &copier, &BackfillOptions::default()).await.unwrap();
    assert_eq!(backfilled.sessions, 4);
    let scylla = ConversationStore::new(keyspace.db.clone());
    assert_eq!(every_page(&scylla).await, ["s-a", "s-b", "s-c", "s-d"]);
    let from_postgres = schema.store.load_conversation(ACCOUNT, "s-a").await.unwrap();
    let from_scylla = scylla.load_conversation(ACCOUNT, "s-a").await.unwrap();
    assert_eq!(from_postgres, from_scylla, "the same conversation, in the same order");
    let order: Vec<&str> = from_postgres.turns.iter().map(|turn| turn.turn.turn_uid.as_str()).collect();
    assert_eq!(order, ["t-1", "t-2", "t-3"], "turns within one millisecond by id");
    assert_eq!(
        schema.store.children(ACCOUNT, "s-a", None).await.unwrap(),
        scylla.children(ACCOUNT, "s-a", None).await.unwrap()
    );

    let verified = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(verified.divergences(), 0, "{}", verified.summary());
    let repaired = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), true).await.unwrap();
    assert_eq!(repaired.repaired.rows_removed, 0, "repair removes nothing: {}", repaired.summary());
    assert_eq!(every_page(&scylla).await.len(), 4);
    keyspace.drop().await;
    schema.drop().await;
}
