//! The runtime's futures are `Send`, so they run on a multi-threaded executor (`tokio::spawn`,
//! axum handlers). This file fails to compile if one is not.

use futures::StreamExt;
use scylla_table::{Database, Table, WriteOptions};
use tests::fixtures::{events, Event, EventPartitionKey, EventPrimaryKey};

fn assert_send<F: Send>(_: F) {}

#[allow(dead_code)]
fn every_operation_future_is_send(
    db: &Database,
    table: &Table<Event>,
    row: &Event,
    key: &EventPrimaryKey,
    partition: &EventPartitionKey,
) {
    assert_send(table.insert(row));
    assert_send(table.insert_with(row, WriteOptions::default()));
    assert_send(table.insert_if_not_exists(row));
    assert_send(table.get(key));
    assert_send(table.partition(partition));
    assert_send(async move { table.partition(partition).await.map(|rows| rows.count()) });
    assert_send(table.partition_vec(partition));
    assert_send(table.slice(partition).limit(10).fetch());
    assert_send(table.slice(partition).eq(events::bucket, &row.bucket).range(events::seq, &row.seq..).fetch());
    assert_send(table.update(row));
    assert_send(table.set(key, events::body, &row.body));
    assert_send(table.append_to_list(key, events::tags, &row.tags));
    assert_send(table.delete(key));
    assert_send(table.delete_partition(partition));
    assert_send(db.apply_schema(&scylla_table::Replication::Simple { factor: 1 }, &[]));
    assert_send(db.validate_schema(&[]));
    assert_send(db.migrate(&[], false));
    assert_send(async move {
        let mut batch = db.logged_batch();
        batch.insert(row).await?;
        batch.set(key, events::body, &row.body).await?;
        batch.execute().await
    });
}

#[allow(dead_code)]
fn every_store_future_is_send(store: &conversation_store::ConversationStore) {
    assert_send(store.create_session("a", "t"));
    assert_send(store.recent_sessions("a", 20, None));
    assert_send(store.delete_session("a", "s"));
    assert_send(store.append_human_turn("a", "s", None, "p", None));
    assert_send(store.append_agent_turn("a", "s", "t", None));
    assert_send(store.regenerate("a", "s", "t", None));
    assert_send(store.edit("a", "s", "t", "p", None));
    assert_send(store.set_active_child("a", "s", None, "t"));
    assert_send(store.set_liked("a", "s", "t", Some(true)));
    assert_send(store.append_step("a", "s", "t", 0, 1, "c"));
    assert_send(store.load_conversation("a", "s"));
    assert_send(store.children("a", "s", None));
}

#[test]
fn operation_futures_are_send() {
    // The check is the compilation of the function above; this names it so the test is listed.
    let _ = every_operation_future_is_send;
    let _ = every_store_future_is_send;
}
