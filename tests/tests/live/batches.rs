//! Logged batches write denormalized copies with one timestamp; batch rules are enforced.

use chrono::{NaiveDate, TimeZone, Utc};
use conversation_store::{TurnByParent, TurnBySession, TurnType};
use scylla::value::Counter;
use scylla_table::{Error, ScyllaTable};
use tests::fixtures::{Event, PageViews};
use tests::live::TestKeyspace;

#[tokio::test]
async fn a_logged_batch_writes_both_turn_tables_with_one_timestamp() {
    let test = TestKeyspace::new("logged_batch").await;
    let tables = [TurnBySession::table_schema(), TurnByParent::table_schema()];
    test.db.apply_schema(test.replication(), &tables).await.unwrap();
    let created_at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
    let by_session = TurnBySession {
        session_uid: "s1".into(),
        created_at,
        turn_uid: "t2".into(),
        turn_type: TurnType::Agent,
        parent_uid: Some("t1".into()),
        active_child: None,
        prompt: None,
        liked: None,
    };
    let by_parent = TurnByParent {
        parent_uid: "t1".into(),
        created_at,
        turn_uid: "t2".into(),
        session_uid: "s1".into(),
        turn_type: TurnType::Agent,
    };
    let mut batch = test.db.logged_batch().with_timestamp(1_700_000_000_000_123);
    batch.insert(&by_session).await.unwrap();
    batch.insert(&by_parent).await.unwrap();
    batch.execute().await.unwrap();

    let sessions = test.db.table::<TurnBySession>();
    let parents = test.db.table::<TurnByParent>();
    assert_eq!(sessions.get(&by_session.primary_key()).await.unwrap(), Some(by_session));
    assert_eq!(parents.get(&by_parent.primary_key()).await.unwrap(), Some(by_parent));

    let keyspace = &test.config.keyspace;
    for table in ["turns_by_session", "turns_by_parent"] {
        let result = test
            .db
            .session()
            .query_unpaged(format!("SELECT WRITETIME(turn_type) FROM {keyspace}.{table}"), ())
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        let (writetime,) = result.single_row::<(i64,)>().unwrap();
        assert_eq!(writetime, 1_700_000_000_000_123, "{table} carries the batch's timestamp");
    }
    test.drop().await;
}

#[tokio::test]
async fn batches_refuse_mixed_counters_and_unlogged_batches_refuse_a_second_partition() {
    let test = TestKeyspace::new("batch_rules").await;
    test.db.apply_schema(test.replication(), &[Event::table_schema(), PageViews::table_schema()]).await.unwrap();
    let event = Event { stream: "a".into(), bucket: 0, seq: 0, body: String::new(), tags: Vec::new() };
    let views = PageViews {
        page: "/".into(),
        day: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        views: Counter(1),
        unique_visitors: Counter(1),
    };
    let mut mixed = test.db.logged_batch();
    mixed.insert(&event).await.unwrap();
    let refused = mixed.update(&views).await.unwrap_err();
    assert!(matches!(refused, Error::InvalidBatch(_)), "{refused}");
    assert!(refused.to_string().contains("separate batches"), "{refused}");

    let same_partition = Event { seq: 1, ..event.clone() };
    let other_partition = Event { stream: "b".into(), ..event.clone() };
    let mut unlogged = test.db.unlogged_batch();
    unlogged.insert(&event).await.unwrap();
    unlogged.insert(&same_partition).await.unwrap();
    let refused = unlogged.insert(&other_partition).await.unwrap_err();
    assert!(refused.to_string().contains("one partition"), "{refused}");
    unlogged.execute().await.unwrap();
    let stored = test.db.table::<Event>().partition_vec(&event.partition_key()).await.unwrap();
    assert_eq!(stored, [event, same_partition]);

    let mut counters = test.db.logged_batch();
    counters.update(&views).await.unwrap();
    counters.update(&views).await.unwrap();
    counters.execute().await.unwrap();
    let stored = test.db.table::<PageViews>().get(&views.primary_key()).await.unwrap().unwrap();
    assert_eq!(stored.views, Counter(2), "a counter batch applies each increment");
    test.drop().await;
}
