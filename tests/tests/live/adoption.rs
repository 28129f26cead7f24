//! Adopting a database that other code made with plain SQL and keeps writing with it: the
//! application's own statements, not PgStore, before and after `adopt`, and after its removal.

use std::time::Duration;

use chat_migrate::{
    backfill, ensure_scylla_schema, scan, shared_phase, BackfillOptions, Phase, RelayConfig, Routing, ScanOptions,
    ScyllaCopier, ScyllaRelay, Selection, SetOptions,
};
use conversation_store::{ConversationApi, ConversationStore, StoreError};
use tests::app_sql::{app_conversation, APP_SCHEMA};
use tests::live::{TestKeyspace, TestSchema};

/// History of every kind the copy must carry over.
/// History other code wrote. Its own times carry microseconds for certain: `now()` does too,
/// except in the one transaction in a thousand that starts on a whole millisecond.
const HISTORY: &str = "
    INSERT INTO sessions (uid, account_uid, title, created_at) VALUES
        ('empty-title', 'acct', '', date_trunc('milliseconds', now()) + interval '250 microseconds'),
        ('no-turns', 'acct', 'none', date_trunc('milliseconds', now()) + interval '250 microseconds');
    INSERT INTO sessions (uid, account_uid, title, created_at, deleted_at) VALUES ('soft-deleted', 'acct', 'gone',
        date_trunc('milliseconds', now()) + interval '250 microseconds', now());
    INSERT INTO human_turns (uid, session_uid, prompt, created_at) VALUES ('deleted-h', 'soft-deleted', 'still here',
        date_trunc('milliseconds', now()) + interval '250 microseconds');
    INSERT INTO sessions (uid, account_uid, title, created_at) VALUES ('ties', 'acct', 'two in one ms', '2026-01-01 00:00:00.5+00');
    INSERT INTO human_turns (uid, session_uid, prompt, created_at) VALUES
        ('tie-b', 'ties', 'first by time', '2026-01-01 00:00:01.000100+00'),
        ('tie-a', 'ties', 'first by id', '2026-01-01 00:00:01.000900+00');";

async fn run(schema: &TestSchema, sql: &str) -> Result<(), tokio_postgres::Error> {
    schema.store.client().await.unwrap().batch_execute(sql).await
}

async fn outbox(schema: &TestSchema) -> i64 {
    one(schema, "SELECT count(*) FROM scylla_outbox").await
}

/// The outbox entries one statement of the application's records.
async fn entries(schema: &TestSchema, sql: &str) -> i64 {
    let before = outbox(schema).await;
    run(schema, sql).await.unwrap();
    outbox(schema).await - before
}

async fn one(schema: &TestSchema, sql: &str) -> i64 {
    schema.store.client().await.unwrap().query_one(sql, &[]).await.unwrap().get(0)
}

/// What adoption leaves in the schema: columns, indexes, triggers and functions, one per line.
async fn catalog(schema: &TestSchema) -> Vec<String> {
    let rows = schema
        .store
        .client()
        .await
        .unwrap()
        .query(
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(collation_name, '')
                 || ' ' || coalesce(column_default, '') FROM information_schema.columns WHERE table_schema = current_schema()
             UNION ALL SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = current_schema()
             UNION ALL SELECT 'trigger ' || tgname || ' ' || tgrelid::regclass FROM pg_trigger t
                 JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT tgisinternal
                 AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
             UNION ALL SELECT 'function ' || proname || ' ' || md5(prosrc) FROM pg_proc
                 WHERE pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
             UNION ALL SELECT 'constraint ' || conname FROM pg_constraint
                 WHERE connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_made_by_plain_sql_is_adopted_backfilled_and_verified_clean() {
    let schema = TestSchema::empty("adopt_plain").await;
    let keyspace = TestKeyspace::new("adopt_plain").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    run(&schema, APP_SCHEMA).await.unwrap();
    run(&schema, &app_conversation("before")).await.unwrap();
    run(&schema, HISTORY).await.unwrap();
    let refused = schema.store.check_schema().await.expect_err("a database nobody adopted lacks the migrations");
    assert!(matches!(refused, StoreError::InvalidInput { .. }), "{refused}");

    let preflight = schema.store.preflight().await.unwrap();
    assert!(preflight.problems.is_empty(), "{preflight}");
    let rows: i64 = preflight.tables.iter().map(|table| table.rows).sum();
    let sub_ms: i64 = preflight.tables.iter().map(|table| table.sub_millisecond).sum();
    assert_eq!(rows, 5 + 4 + 1 + 2, "{preflight}");
    // Every row whose time has microseconds is counted: the history's six for certain, and the
    // application's rows unless their transaction began on a whole millisecond.
    let finer: i64 = one(
        &schema,
        "SELECT (SELECT count(*) FROM sessions WHERE created_at <> date_trunc('milliseconds', created_at)
                  OR deleted_at <> date_trunc('milliseconds', deleted_at))
              + (SELECT count(*) FROM human_turns WHERE created_at <> date_trunc('milliseconds', created_at))
              + (SELECT count(*) FROM agent_turns WHERE created_at <> date_trunc('milliseconds', created_at))
              + (SELECT count(*) FROM steps WHERE created_at <> date_trunc('milliseconds', created_at))",
    )
    .await;
    assert!(sub_ms >= 6 && sub_ms == finer, "{finer} rows have microseconds: {preflight}");
    // The two ties, and the two turns of one transaction (now() is its start).
    assert_eq!(preflight.turns_sharing_a_millisecond, 4, "{preflight}");
    assert!(preflight.collation_changes.iter().any(|(column, _)| column == "sessions.uid"), "{preflight}");
    assert_eq!(preflight.not_null_checks, [("steps.content".to_owned(), String::new())]);
    let (_, script) = schema.store.adoption_sql().await.unwrap();
    assert!(script.contains("CREATE TRIGGER zz_conversation_pg_before BEFORE INSERT OR UPDATE OR DELETE ON steps"));
    assert_eq!(catalog(&schema).await.iter().filter(|line| line.starts_with("trigger")).count(), 0, "a dry run");

    let adoption = schema.store.adopt(|_| {}).await.expect("the database is adopted");
    let filled: u64 = adoption.filled.iter().map(|(_, rows)| rows).sum();
    assert_eq!(filled, 12, "{adoption}");
    assert_eq!(adoption.migrations.len(), 5, "V2 and later apply as usual: {adoption}");
    schema.store.check_schema().await.expect("every migration counts as applied");
    assert!(schema.store.is_adopted().await.unwrap());
    assert_eq!(one(&schema, "SELECT count(*) FROM sessions WHERE version <= 0").await, 0);
    assert_eq!(one(&schema, "SELECT count(*) FROM sessions WHERE uid = 'ties' AND active_root = 'tie-b'").await, 1);

    // Adopting again changes nothing.
    let before = catalog(&schema).await;
    let again = schema.store.adopt(|_| {}).await.unwrap();
    assert!(again.migrations.is_empty() && again.filled.iter().all(|(_, rows)| *rows == 0), "{again}");
    assert_eq!(catalog(&schema).await, before, "a second adoption leaves the schema as it was");

    // The application's statements still run, unchanged, and the triggers version what they write.
    run(&schema, &app_conversation("after")).await.expect("the application's SQL runs on the adopted tables");
    assert!(one(&schema, "SELECT min(version) FROM turns WHERE uid LIKE 'after-%'").await > 0);
    let store_session = schema.store.create_session("acct", "written by the store").await.unwrap();

    let copier = ScyllaCopier::new(keyspace.db.clone());
    let backfilled = backfill(&schema.store, &copier, &BackfillOptions::default()).await.unwrap();
    assert_eq!(backfilled.sessions, 7);
    let verified = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(verified.divergences(), 0, "{}", verified.summary());
    let repaired = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), true).await.unwrap();
    assert_eq!(
        (repaired.repaired.rows_rewritten, repaired.repaired.rows_removed),
        (0, 0),
        "repair finds nothing to do: {}",
        repaired.summary()
    );
    let scylla = ConversationStore::new(keyspace.db.clone());
    for session in ["before-s", "after-s", "ties", "no-turns", "empty-title"] {
        assert_eq!(
            schema.store.load_conversation("acct", session).await.unwrap(),
            scylla.load_conversation("acct", session).await.unwrap(),
            "{session} loads the same from both"
        );
    }
    let ties = scylla.load_conversation("acct", "ties").await.unwrap();
    let order: Vec<&str> = ties.turns.iter().map(|turn| turn.turn.turn_uid.as_str()).collect();
    assert_eq!(order, ["tie-a", "tie-b"], "two turns in one millisecond stay two, ordered by id");
    let before = scylla.load_conversation("acct", "before-s").await.unwrap();
    let agent = before.turns.iter().find(|turn| turn.turn.turn_uid == "before-a").expect("the agent turn");
    assert_eq!(agent.steps[0].content.len(), 300_000, "the 300 KB step arrives whole");
    assert_eq!(agent.steps[1].content, "", "an empty step too");
    assert!(scylla.session("acct", &store_session.session_uid).await.is_ok());

    // Removed, the triggers are gone and the application's statements still run.
    schema.store.remove_adoption().await.expect("the triggers come out in the postgres phase");
    assert!(!schema.store.is_adopted().await.unwrap());
    run(&schema, &app_conversation("removed")).await.expect("the application's SQL runs once the triggers are out");
    assert_eq!(one(&schema, "SELECT count(*) FROM sessions WHERE uid = 'removed-s' AND version = 0").await, 1);
    run(&schema, "INSERT INTO steps (agent_turn_uid, idx, tpe, content) VALUES ('removed-a', 2, 1, NULL)")
        .await
        .expect("the NOT NULL check went with the triggers");
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_triggers_and_the_store_record_each_change_once() {
    let schema = TestSchema::new("adopt_once").await;
    let keyspace = TestKeyspace::new("adopt_once").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.unwrap();
    let options = SetOptions { fleet_wait: Duration::from_secs(1), drain_wait: Duration::from_secs(5) };
    shared_phase::set(&schema.store, &keyspace.config.keyspace, Routing::new(Phase::DualWrite), None, options)
        .await
        .expect("dual-write begins");
    let store = schema.store.clone().following_the_phase();
    let store_writes = |n: usize| {
        let store = store.clone();
        async move {
            let session = store.create_session("acct", &format!("session {n}")).await.unwrap();
            let human = store.append_human_turn("acct", &session.session_uid, None, "hello", None).await.unwrap();
            let agent = store.append_agent_turn("acct", &session.session_uid, &human.turn_uid, None).await.unwrap();
            store.set_liked("acct", &session.session_uid, &agent.turn_uid, Some(true)).await.unwrap();
            store.append_step("acct", &session.session_uid, &agent.turn_uid, 0, 1, "step").await.unwrap();
            store.rename_session("acct", &session.session_uid, "renamed").await.unwrap();
        }
    };
    // The store's own writes, before and after adoption (our own schema adopts as well).
    store_writes(0).await;
    let by_store = outbox(&schema).await;
    assert!(by_store > 0);
    schema.store.adopt(|_| {}).await.expect("a database made by PgStore adopts too");
    store_writes(1).await;
    assert_eq!(
        outbox(&schema).await,
        2 * by_store,
        "the store's writes are recorded once, by the store, with the triggers in"
    );

    // One statement of the application's: one entry per row changed, plus the session's for a
    // new first turn (its active root), and one per copy a delete leaves behind.
    assert_eq!(
        entries(
            &schema,
            "INSERT INTO sessions (uid, account_uid, title, created_at) VALUES ('app', 'acct', 't', now())"
        )
        .await,
        1
    );
    assert_eq!(
        entries(
            &schema,
            "INSERT INTO human_turns (uid, session_uid, prompt, created_at) VALUES ('app-h', 'app', 'p', now())"
        )
        .await,
        2
    );
    assert_eq!(
        entries(&schema, "INSERT INTO agent_turns (uid, session_uid, parent_uid, created_at) VALUES ('app-a', 'app', 'app-h', now())").await,
        1
    );
    assert_eq!(
        entries(&schema, "INSERT INTO steps (agent_turn_uid, idx, tpe, content, created_at) VALUES ('app-a', 0, 1, 'x', now()), ('app-a', 1, 1, 'y', now())").await,
        2
    );
    assert_eq!(entries(&schema, "UPDATE sessions SET title = 'u' WHERE uid = 'app'").await, 1);
    assert_eq!(
        entries(&schema, "UPDATE human_turns SET created_at = created_at + interval '1 s' WHERE uid = 'app-h'").await,
        2
    );
    assert_eq!(entries(&schema, "DELETE FROM agent_turns WHERE uid = 'app-a'").await, 3, "the turn and its two steps");
    assert_eq!(entries(&schema, "DELETE FROM sessions WHERE uid = 'app'").await, 1, "a purge, as the store's");
    assert_eq!(one(&schema, "SELECT count(*) FROM purged_turns WHERE session_uid = 'app'").await, 1);

    // A purged id is not given out again, as the store refuses it.
    let reused =
        run(&schema, "INSERT INTO sessions (uid, account_uid, title, created_at) VALUES ('app', 'acct', 't', now())")
            .await
            .expect_err("a purged id is refused");
    assert_eq!(reused.code(), Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION), "{reused}");
    // A step deleted and inserted again is versioned past its tombstone, even one laid ahead of
    // PostgreSQL's clock (a version that came from ScyllaDB's write time, say).
    let ahead = "SELECT version FROM steps WHERE agent_turn_uid = 'app2-a' AND idx = 0";
    run(
        &schema,
        "INSERT INTO sessions (uid, account_uid, title, created_at) VALUES ('app2', 'acct', 't', now());
         INSERT INTO human_turns (uid, session_uid, prompt, created_at) VALUES ('app2-h', 'app2', 'p', now());
         INSERT INTO agent_turns (uid, session_uid, parent_uid, created_at) VALUES ('app2-a', 'app2', 'app2-h', now());
         INSERT INTO steps (agent_turn_uid, idx, tpe, content, created_at) VALUES ('app2-a', 0, 1, 'x', now());",
    )
    .await
    .unwrap();
    let future = one(&schema, ahead).await + 3_600_000_000;
    run(&schema, &format!("UPDATE steps SET version = {future} WHERE agent_turn_uid = 'app2-a' AND idx = 0"))
        .await
        .unwrap();
    run(&schema, "DELETE FROM steps WHERE agent_turn_uid = 'app2-a' AND idx = 0").await.unwrap();
    run(
        &schema,
        "INSERT INTO steps (agent_turn_uid, idx, tpe, content, created_at) VALUES ('app2-a', 0, 1, 'again', now())",
    )
    .await
    .unwrap();
    assert!(one(&schema, ahead).await > future + 1, "the new row's version is past the delete's tombstone");
    // Once dual-write has begun, TRUNCATE would leave copies no delete removes.
    let truncate = run(&schema, "TRUNCATE steps").await.expect_err("refused");
    assert_eq!(truncate.code(), Some(&tokio_postgres::error::SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE));
    // A transaction above READ COMMITTED whose snapshot is older than a phase change does not
    // write the old way: it is told to run again.
    let mut stale = schema.store.client().await.unwrap();
    let stale = stale
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await
        .unwrap();
    stale.query_one("SELECT count(*) FROM sessions", &[]).await.unwrap();
    shared_phase::set(&schema.store, &keyspace.config.keyspace, Routing::new(Phase::Postgres), None, options)
        .await
        .expect("back to postgres");
    let retry = stale.execute("UPDATE sessions SET title = 'stale' WHERE uid = 'app2'", &[]).await.expect_err("40001");
    assert_eq!(retry.code(), Some(&tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE), "{retry}");
    drop(stale);
    shared_phase::set(&schema.store, &keyspace.config.keyspace, Routing::new(Phase::DualWrite), None, options)
        .await
        .expect("dual-write again");

    // The relay copies all of it; ScyllaDB then holds what PostgreSQL holds.
    let relay = ScyllaRelay::new(schema.store.clone(), ScyllaCopier::new(keyspace.db.clone()), RelayConfig::default());
    backfill(&schema.store, relay.copier(), &BackfillOptions::default()).await.unwrap();
    let (drained, lag) = relay.drain(Some(Duration::from_secs(30))).await.unwrap();
    assert_eq!((drained.failed, lag.depth), (0, 0));
    let verified = scan(&schema.store, relay.copier(), &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(verified.divergences(), 0, "{}", verified.summary());

    // Once ScyllaDB is written first, the application's writes are refused; the relay's copies
    // from ScyllaDB, made by the store, are not.
    run(&schema, "UPDATE migration_phase SET relational_writes = 'refused'").await.unwrap();
    let refused = run(&schema, "UPDATE sessions SET title = 'no'").await.expect_err("refused");
    assert_eq!(refused.code(), Some(&tokio_postgres::error::SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE), "{refused}");
    let session = store.recent_sessions("acct", 1, None).await.unwrap().sessions.remove(0);
    let mut row = schema.store.session_row(&session.session_uid).await.unwrap().unwrap();
    row.title = "copied from ScyllaDB".to_owned();
    row.version += 1;
    schema.store.put_session(&row).await.expect("the store's copy goes in");
    run(&schema, "UPDATE migration_phase SET relational_writes = 'recorded'").await.unwrap();
    keyspace.drop().await;
    schema.drop().await;
}
