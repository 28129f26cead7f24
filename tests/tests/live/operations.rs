//! Typed operations: LWT, TTL, paging, slices, updates, deletes, counters, consistency.

use std::ops::Bound;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use futures::{StreamExt, TryStreamExt};
use scylla::value::Counter;
use scylla_table::schema::StatementKind;
use scylla_table::{Consistency, ConsistencyLevels, InsertOutcome, ScyllaTable, WriteOptions};
use tests::fixtures::events as columns;
use tests::fixtures::{page_views, Drifty, DriftyPrimaryKey, Event, EventPartitionKey, PageViews, PageViewsPrimaryKey};
use tests::live::TestKeyspace;

fn event(bucket: i32, seq: i32) -> Event {
    Event { stream: "s".into(), bucket, seq, body: format!("{bucket}/{seq}"), tags: Vec::new() }
}

#[tokio::test]
async fn paging_returns_each_of_10_000_rows_once_in_clustering_order() {
    let test = TestKeyspace::new("paging").await;
    test.db.apply_schema(test.replication(), &[Event::table_schema()]).await.unwrap();
    let events = test.db.table::<Event>();
    let rows: Vec<Event> = (0..10_000).map(|n| event(n / 1000, n % 1000)).rev().collect();
    futures::stream::iter(rows.iter().map(|row| events.insert(row)))
        .buffer_unordered(64)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();

    let key = EventPartitionKey { stream: "s".into() };
    let read: Vec<Event> =
        events.clone().with_page_size(700).partition(&key).await.unwrap().try_collect().await.unwrap();
    assert_eq!(read.len(), 10_000);
    let order: Vec<(i32, i32)> = read.iter().map(|row| (row.bucket, row.seq)).collect();
    let expected: Vec<(i32, i32)> = (0..10_000).map(|n| (n / 1000, n % 1000)).collect();
    assert_eq!(order, expected, "every row once, in clustering order");
    assert!(read.iter().all(|row| row.body == format!("{}/{}", row.bucket, row.seq)));
    test.drop().await;
}

#[tokio::test]
async fn a_full_scan_returns_every_row_of_every_partition_once() {
    let test = TestKeyspace::new("scan_all").await;
    test.db.apply_schema(test.replication(), &[Event::table_schema()]).await.unwrap();
    let events = test.db.table::<Event>();
    let rows: Vec<Event> =
        (0..1500).map(|n| Event { stream: format!("stream-{}", n % 5), ..event(n / 100, n % 100) }).collect();
    futures::stream::iter(rows.iter().map(|row| events.insert(row)))
        .buffer_unordered(64)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();

    let scanned: Vec<Event> = events.clone().with_page_size(100).scan_all().await.unwrap().try_collect().await.unwrap();
    let mut keys: Vec<(String, i32, i32)> =
        scanned.iter().map(|row| (row.stream.clone(), row.bucket, row.seq)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!((scanned.len(), keys.len()), (1500, 1500), "every row once, over many pages and partitions");
    test.drop().await;
}

#[tokio::test]
async fn clustering_prefix_and_range_slices_respect_bounds_and_limit() {
    let test = TestKeyspace::new("slices").await;
    test.db.apply_schema(test.replication(), &[Event::table_schema()]).await.unwrap();
    let events = test.db.table::<Event>();
    for bucket in 0..3 {
        for seq in 0..10 {
            events.insert(&event(bucket, seq)).await.unwrap();
        }
    }
    let key = EventPartitionKey { stream: "s".into() };
    let seqs = |rows: Vec<Event>| rows.into_iter().map(|row| (row.bucket, row.seq)).collect::<Vec<_>>();

    let first = events.slice(&key).limit(3).fetch().await.unwrap();
    assert_eq!(seqs(first), [(0, 0), (0, 1), (0, 2)]);

    let prefix = events.slice(&key).eq(columns::bucket, &1).fetch().await.unwrap();
    assert_eq!(prefix.len(), 10);
    assert!(prefix.iter().all(|row| row.bucket == 1));

    let range =
        events.slice(&key).eq(columns::bucket, &2).range(columns::seq, (Bound::Excluded(&3), Bound::Included(&6)));
    assert_eq!(seqs(range.fetch().await.unwrap()), [(2, 4), (2, 5), (2, 6)]);

    let limited = events.slice(&key).range(columns::bucket, &1..).limit(2);
    assert_eq!(seqs(limited.fetch().await.unwrap()), [(1, 0), (1, 1)]);

    let newest = events.slice(&key).eq(columns::bucket, &1).range(columns::seq, &2..&6).reversed().limit(3);
    assert_eq!(seqs(newest.fetch().await.unwrap()), [(1, 5), (1, 4), (1, 3)]);

    let last_rows = events.slice(&key).reversed().limit(2).fetch().await.unwrap();
    assert_eq!(seqs(last_rows), [(2, 9), (2, 8)]);

    let one_row = events.slice(&key).eq(columns::bucket, &0).eq(columns::seq, &7).fetch().await.unwrap();
    assert_eq!(seqs(one_row), [(0, 7)]);

    let everything = events.slice(&key).range(columns::bucket, ..).fetch().await.unwrap();
    assert_eq!(everything.len(), 30, "an open range restricts nothing");
    test.drop().await;
}

#[tokio::test]
async fn insert_if_not_exists_reports_applied_then_not_applied_with_the_current_row() {
    let test = TestKeyspace::new("lwt").await;
    test.db.apply_schema(test.replication(), &[Drifty::table_schema()]).await.unwrap();
    let table = test.db.table::<Drifty>();
    let created_at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
    let first = Drifty { account: "a".into(), created_at, title: Some("first".into()) };
    assert_eq!(table.insert_if_not_exists(&first).await.unwrap(), InsertOutcome::Applied);
    let second = Drifty { title: Some("second".into()), ..first.clone() };
    assert_eq!(table.insert_if_not_exists(&second).await.unwrap(), InsertOutcome::NotApplied(first.clone()));
    let stored = table.get(&DriftyPrimaryKey { account: "a".into(), created_at }).await.unwrap();
    assert_eq!(stored, Some(first));
    test.drop().await;
}

#[tokio::test]
async fn ttl_expires_and_timestamps_order_writes() {
    let test = TestKeyspace::new("ttl").await;
    test.db.apply_schema(test.replication(), &[Drifty::table_schema()]).await.unwrap();
    let table = test.db.table::<Drifty>();
    let created_at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
    let key = DriftyPrimaryKey { account: "ttl".into(), created_at };
    let row = Drifty { account: "ttl".into(), created_at, title: Some("short-lived".into()) };
    table.insert_with(&row, WriteOptions { ttl: Some(2), timestamp: None }).await.unwrap();
    assert_eq!(table.get(&key).await.unwrap(), Some(row.clone()));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(table.get(&key).await.unwrap(), None, "the row expired after its TTL");

    // A write with an older timestamp loses to a newer one, whatever the arrival order. (A fresh
    // key: the expired row left tombstones that would shadow these old timestamps.)
    let key = DriftyPrimaryKey { account: "timestamps".into(), created_at };
    let newer = Drifty { account: "timestamps".into(), title: Some("newer".into()), ..row.clone() };
    let older = Drifty { account: "timestamps".into(), title: Some("older".into()), ..row };
    table.insert_with(&newer, WriteOptions { ttl: None, timestamp: Some(2_000_000) }).await.unwrap();
    table.insert_with(&older, WriteOptions { ttl: None, timestamp: Some(1_000_000) }).await.unwrap();
    assert_eq!(table.get(&key).await.unwrap(), Some(newer));
    test.drop().await;
}

#[tokio::test]
async fn update_and_delete_change_rows_and_partitions() {
    let test = TestKeyspace::new("update_delete").await;
    test.db.apply_schema(test.replication(), &[Event::table_schema()]).await.unwrap();
    let events = test.db.table::<Event>();
    let mut row = event(0, 1);
    events.insert(&row).await.unwrap();
    events.insert(&event(0, 2)).await.unwrap();
    row.body = "edited".into();
    events.update(&row).await.unwrap();
    assert_eq!(events.get(&row.primary_key()).await.unwrap(), Some(row.clone()));

    events.set(&row.primary_key(), columns::body, &"set alone".to_owned()).await.unwrap();
    let stored = events.get(&row.primary_key()).await.unwrap().unwrap();
    assert_eq!((stored.body.as_str(), stored.tags.len()), ("set alone", 0), "only `body` changed");

    let owned = |tags: &[&str]| tags.iter().map(|tag| (*tag).to_owned()).collect::<Vec<_>>();
    events.append_to_list(&row.primary_key(), columns::tags, &owned(&["a"])).await.unwrap();
    events.append_to_list(&row.primary_key(), columns::tags, &owned(&["b", "c", "b"])).await.unwrap();
    let tags = || async { events.get(&row.primary_key()).await.unwrap().map(|stored| stored.tags) };
    assert_eq!(tags().await, Some(owned(&["a", "b", "c", "b"])));
    events.remove_from_list(&row.primary_key(), columns::tags, &owned(&["b"])).await.unwrap();
    assert_eq!(tags().await, Some(owned(&["a", "c"])), "every `b` removed");
    let append = events.prepared_statement(StatementKind::AddTo { column_index: 4 }).await.unwrap();
    assert!(!append.get_is_idempotent(), "a list append is not idempotent");
    let remove = events.prepared_statement(StatementKind::RemoveFrom { column_index: 4 }).await.unwrap();
    assert!(remove.get_is_idempotent(), "removing list elements again removes nothing more");

    events.delete(&row.primary_key()).await.unwrap();
    assert_eq!(events.get(&row.primary_key()).await.unwrap(), None);
    let key = row.partition_key();
    assert_eq!(events.partition_vec(&key).await.unwrap().len(), 1);
    events.delete_partition(&key).await.unwrap();
    assert!(events.partition_vec(&key).await.unwrap().is_empty());
    test.drop().await;
}

#[tokio::test]
async fn counters_increment_and_counter_inserts_are_refused() {
    let test = TestKeyspace::new("counters").await;
    test.db.apply_schema(test.replication(), &[PageViews::table_schema()]).await.unwrap();
    let views = test.db.table::<PageViews>();
    let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let hit = PageViews { page: "/".into(), day, views: Counter(1), unique_visitors: Counter(0) };
    for _ in 0..3 {
        views.update(&hit).await.unwrap();
    }
    let key = PageViewsPrimaryKey { page: "/".into(), day };
    assert_eq!(views.get(&key).await.unwrap().map(|row| row.views), Some(Counter(3)));
    views.increment(&key, page_views::unique_visitors, 5).await.unwrap();
    views.increment(&key, page_views::unique_visitors, -2).await.unwrap();
    let stored = views.get(&key).await.unwrap().unwrap();
    assert_eq!((stored.views, stored.unique_visitors), (Counter(3), Counter(3)));
    let increment = views.prepared_statement(StatementKind::AddTo { column_index: 3 }).await.unwrap();
    assert!(!increment.get_is_idempotent(), "a counter increment is not idempotent");
    assert!(matches!(views.insert(&hit).await, Err(scylla_table::Error::Unsupported(_))));
    test.drop().await;
}

#[tokio::test]
async fn statements_carry_consistency_and_idempotence_and_are_prepared_once() {
    let test = TestKeyspace::new("statement_settings").await;
    test.db.apply_schema(test.replication(), &[Drifty::table_schema(), PageViews::table_schema()]).await.unwrap();
    let drifty = test.db.table::<Drifty>();
    assert_eq!(drifty.consistency(), ConsistencyLevels { read: Consistency::One, write: Consistency::Quorum });

    let created_at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
    let row = Drifty { account: "c".into(), created_at, title: None };
    let before = test.db.prepared_count();
    for _ in 0..5 {
        drifty.insert(&row).await.unwrap();
        drifty.get(&row.primary_key()).await.unwrap();
    }
    assert_eq!(test.db.prepared_count(), before + 2, "one INSERT and one SELECT, each prepared once");

    let insert = drifty.prepared_statement(StatementKind::Insert).await.unwrap();
    assert_eq!((insert.get_consistency(), insert.get_is_idempotent()), (Some(Consistency::Quorum), true));
    let read = drifty.prepared_statement(StatementKind::SelectRow).await.unwrap();
    assert_eq!((read.get_consistency(), read.get_is_idempotent()), (Some(Consistency::One), true));
    let lwt = drifty.prepared_statement(StatementKind::InsertIfNotExists).await.unwrap();
    assert!(!lwt.get_is_idempotent(), "a lightweight transaction is not idempotent");
    let counter = test.db.table::<PageViews>().prepared_statement(StatementKind::Update).await.unwrap();
    assert!(!counter.get_is_idempotent(), "a counter increment is not idempotent");

    let custom = drifty.clone().with_read_consistency(Consistency::LocalOne).with_write_consistency(Consistency::All);
    custom.insert(&row).await.unwrap();
    assert_eq!(custom.get(&row.primary_key()).await.unwrap(), Some(row));
    let custom_read = custom.prepared_statement(StatementKind::SelectRow).await.unwrap();
    assert_eq!(custom_read.get_consistency(), Some(Consistency::LocalOne));
    test.drop().await;
}
