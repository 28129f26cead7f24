//! The migration's last phase against both live databases: ScyllaDB is primary, PostgreSQL is
//! unreachable while the writes happen, and the relay toward PostgreSQL catches it up after.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use chat_migrate::{
    ensure_scylla_schema, scan, DualWriteStore, MigrateError, MigratingOptions, MigratingStore, Phase, PostgresRelay,
    RelayConfig, Routing, ScanOptions, ScyllaCopier, ScyllaRelay, Selection,
};
use conversation_pg::{PgConfig, PgStore};
use conversation_store::{
    outbox_slot, Changed, ConversationApi, ConversationStore, PgOutboxEntry, PgOutboxSlotPartitionKey, StepByTurn,
};
use tests::live::{postgres_connection, TestKeyspace, TestSchema};
use tests::tcp_proxy::TcpProxy;

/// The PostgreSQL server's address and login, from the test connection string.
fn postgres_server() -> (SocketAddr, String, String) {
    let config = tokio_postgres::Config::from_str(&postgres_connection()).expect("POSTGRES_URL parses");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.parse::<IpAddr>().unwrap_or(Ipv4Addr::LOCALHOST.into()),
        _ => Ipv4Addr::LOCALHOST.into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres").to_owned();
    let database = config.get_dbname().unwrap_or(&user).to_owned();
    (SocketAddr::new(host, port), user, database)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scylla_primary_writes_succeed_while_postgres_is_down_and_the_relay_catches_it_up() {
    let schema = TestSchema::new("primary").await;
    let keyspace = TestKeyspace::new("primary").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    // The application reaches PostgreSQL through a proxy the test can cut.
    let (server, user, database) = postgres_server();
    let proxy = TcpProxy::start(server).await;
    let url = format!("host=127.0.0.1 port={} user={user} dbname={database}", proxy.port());
    let app_pg = PgStore::connect(&PgConfig::new(url, schema.store.config().schema.clone()).with_pool_size(4))
        .await
        .expect("connects through the proxy");
    let relay = ScyllaRelay::new(app_pg.clone(), ScyllaCopier::new(keyspace.db.clone()), RelayConfig::default());
    let scylla = ConversationStore::new(keyspace.db.clone());
    let store = MigratingStore::new(
        DualWriteStore::new(relay),
        scylla.clone(),
        Routing::new(Phase::ScyllaReads),
        MigratingOptions::default(),
    )
    .unwrap();
    let account = "primary-account";
    let earlier = store.create_session(account, "written in scylla-reads").await.unwrap();
    store.set_routing(Routing::new(Phase::ScyllaPrimary)).unwrap();

    proxy.cut().await;
    assert!(app_pg.row_counts().await.is_err(), "PostgreSQL is unreachable to the application");
    let session = store.create_session(account, "while PostgreSQL is down").await.expect("acknowledged");
    let id = session.session_uid.as_str();
    let question = store.append_human_turn(account, id, None, "is anyone there?", None).await.unwrap();
    let answer = store.append_agent_turn(account, id, &question.turn_uid, None).await.unwrap();
    store.append_step(account, id, &answer.turn_uid, 0, 1, "yes: ScyllaDB").await.unwrap();
    store.append_step(account, id, &answer.turn_uid, 1, 1, "PostgreSQL catches up later").await.unwrap();
    store.regenerate(account, id, &answer.turn_uid, None).await.unwrap();
    store.set_active_child(account, id, Some(&question.turn_uid), &answer.turn_uid).await.unwrap();
    store.set_liked(account, id, &answer.turn_uid, Some(true)).await.unwrap();
    store.rename_session(account, id, "renamed while PostgreSQL is down").await.unwrap();
    store.rename_session(account, &earlier.session_uid, "renamed in scylla-primary").await.unwrap();
    store.delete_session(account, &earlier.session_uid).await.unwrap();
    let conversation = store.load_conversation(account, id).await.expect("reads come from ScyllaDB");
    assert_eq!(conversation.turns.len(), 3);
    assert_eq!(conversation.session.title, "renamed while PostgreSQL is down");

    // One entry per changed row per write, and a second one after each lightweight transaction:
    // the session (2), a turn and its session's root (2), a turn and its parent (2), two steps
    // (4), a regenerated turn and its parent (2), the parent's active child (1), a like (1), and
    // three session updates (3).
    let to_postgres = PostgresRelay::new(scylla.clone(), app_pg.clone());
    assert_eq!(to_postgres.depth().await.unwrap(), 17);
    assert!(to_postgres.drain_once().await.is_err(), "nothing reaches PostgreSQL while it is down");
    assert_eq!(to_postgres.depth().await.unwrap(), 17, "the entries wait for it");

    proxy.restore();
    let (report, left) = to_postgres.drain(Some(Duration::from_secs(60))).await.expect("the relay catches up");
    assert_eq!((report.copied, left), (17, 0));
    assert_eq!(schema.store.row_counts().await.unwrap(), (2, 3, 2), "2 sessions, 3 turns, 2 steps");
    assert_eq!(
        schema.store.load_conversation(account, id).await.unwrap(),
        conversation,
        "PostgreSQL serves the conversation ScyllaDB holds"
    );
    let deleted = schema.store.session(account, &earlier.session_uid).await.unwrap();
    assert_eq!(deleted.title, "renamed in scylla-primary");
    assert!(deleted.deleted_at.is_some());
    let copier = ScyllaCopier::new(keyspace.db.clone());
    let verify = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(verify.sessions, 2);
    assert_eq!(verify.divergences(), 0, "both databases agree: {:?}", verify.examples);

    // With PostgreSQL caught up, the way back is open.
    store.set_routing(Routing::new(Phase::ScyllaReads)).unwrap();
    keyspace.drop().await;
    schema.drop().await;
}

/// Writes an entry as its writer wrote it at its `recorded_at`, long ago (a writer recording it
/// now would record it again in the current minute).
async fn recorded_long_ago(store: &ConversationStore, entry: &PgOutboxEntry) {
    let slot = entry.slot_row();
    let mut batch = store.database().logged_batch().with_timestamp(entry.recorded_at.timestamp_micros());
    batch.insert(&slot).await.unwrap();
    batch.insert(entry).await.unwrap();
    batch.execute().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_whose_row_never_appears_waits_then_goes_without_holding_back_the_rest() {
    let schema = TestSchema::new("primary_missing").await;
    let keyspace = TestKeyspace::new("primary_missing").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    let primary = ConversationStore::new(keyspace.db.clone()).with_outbox(true);
    let account = "missing-account";
    let session = primary.create_session(account, "streaming").await.unwrap();
    let id = session.session_uid.as_str();
    let question = primary.append_human_turn(account, id, None, "stream it", None).await.unwrap();
    let answer = primary.append_agent_turn(account, id, &question.turn_uid, None).await.unwrap();
    // Step 0's lightweight transaction never landed: only its first entry exists, recorded
    // long ago. Steps 1 and 2 were acknowledged after it.
    let mut lost = PgOutboxEntry::new(id, &Changed::Step { turn_uid: answer.turn_uid.clone(), idx: 0 });
    lost.recorded_at -= chrono::Duration::seconds(600);
    lost.slot = outbox_slot(lost.recorded_at);
    recorded_long_ago(&primary, &lost).await;
    for idx in 1..3 {
        // Written around the store's gap check, as a client that lost step 0's reply might.
        let step = StepByTurn {
            turn_uid: answer.turn_uid.clone(),
            idx,
            tpe: 1,
            content: format!("step {idx}"),
            created_at: conversation_store::now_millis(),
        };
        primary.tables().steps.insert(&step).await.unwrap();
        let entry = PgOutboxEntry::new(id, &Changed::Step { turn_uid: answer.turn_uid.clone(), idx });
        primary.tables().append_to_outbox(&entry).await.unwrap();
    }
    // A young entry for a row not there yet: its write may still be on its way.
    let young = PgOutboxEntry::new(id, &Changed::Step { turn_uid: answer.turn_uid.clone(), idx: 7 });
    primary.tables().append_to_outbox(&young).await.unwrap();

    let relay = PostgresRelay::new(ConversationStore::new(keyspace.db.clone()), schema.store.clone());
    let pass = relay.drain_once().await.unwrap();
    assert_eq!((pass.abandoned, pass.waiting), (1, 1), "{pass:?}");
    let steps = &schema.store.load_conversation(account, id).await.unwrap().turns[1].steps;
    let copied: Vec<i32> = steps.iter().map(|step| step.idx).collect();
    assert_eq!(copied, [1, 2], "the acknowledged steps reach PostgreSQL past the missing one");
    assert_eq!(relay.depth().await.unwrap(), 1, "only the young entry waits");
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_scylla_primary_a_change_wins_over_a_copy_stamped_by_a_clock_running_ahead() {
    let keyspace = TestKeyspace::new("primary_skew").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    let account = "skew-account";
    let copies = ConversationStore::new(keyspace.db.clone());
    let session = copies.create_session(account, "copied").await.unwrap();
    let id = session.session_uid.as_str();
    let question = copies.append_human_turn(account, id, None, "what time is it?", None).await.unwrap();
    let answer = copies.append_agent_turn(account, id, &question.turn_uid, None).await.unwrap();
    // The rows' last copies from dual-write carry PostgreSQL's clock, 30 s ahead of this host's.
    let ahead = chrono::Utc::now().timestamp_micros() + 30_000_000;
    let ks = &keyspace.config.keyspace;
    let turn_key = "session_uid = ? AND created_at = ? AND turn_uid = ?";
    for (cql, values) in [
        (
            format!("UPDATE {ks}.turns_by_session USING TIMESTAMP {ahead} SET liked = false WHERE {turn_key}"),
            (id.to_owned(), answer.created_at, answer.turn_uid.clone()),
        ),
        (
            // A copy writes the whole row, nulls included, at one timestamp.
            format!(
                "UPDATE {ks}.turns_by_session USING TIMESTAMP {ahead} SET active_child = null, \
                 prompt = 'what time is it?' WHERE {turn_key}"
            ),
            (id.to_owned(), question.created_at, question.turn_uid.clone()),
        ),
    ] {
        keyspace.db.session().query_unpaged(cql, values).await.unwrap();
    }
    let cql = format!(
        "UPDATE {ks}.sessions_by_user USING TIMESTAMP {ahead} SET title = 'copied' \
         WHERE account_uid = ? AND created_at = ? AND session_uid = ?"
    );
    keyspace.db.session().query_unpaged(cql, (account, session.created_at, id)).await.unwrap();

    // ScyllaDB is primary: each change is stamped past the row's newest write, and wins.
    let primary = ConversationStore::new(keyspace.db.clone()).with_outbox(true);
    primary.set_liked(account, id, &answer.turn_uid, Some(true)).await.unwrap();
    primary.rename_session(account, id, "renamed in scylla-primary").await.unwrap();
    primary.set_active_child(account, id, Some(&question.turn_uid), &answer.turn_uid).await.unwrap();
    let follow_up = primary.append_human_turn(account, id, Some(&answer.turn_uid), "and now?", None).await.unwrap();
    let conversation = primary.load_conversation(account, id).await.unwrap();
    assert_eq!(conversation.session.title, "renamed in scylla-primary");
    assert_eq!(conversation.turns[0].turn.active_child.as_deref(), Some(answer.turn_uid.as_str()));
    assert_eq!(conversation.turns[1].turn.liked, Some(true), "the like is not lost to the copy");
    assert_eq!(conversation.turns[1].turn.active_child.as_deref(), Some(follow_up.turn_uid.as_str()));

    // The entries carry the changes' stamps, ahead of this host's clock: the relay still
    // removes them, and PostgreSQL gets the conversation as ScyllaDB holds it.
    let schema = TestSchema::new("primary_skew").await;
    let relay = PostgresRelay::new(ConversationStore::new(keyspace.db.clone()), schema.store.clone());
    let (_, left) = relay.drain(Some(Duration::from_secs(30))).await.unwrap();
    assert_eq!(left, 0, "entries stamped ahead are removed too");
    assert_eq!(schema.store.load_conversation(account, id).await.unwrap(), conversation);
    // Each change to a row stamped ahead lands a microsecond after the last: two renames in one
    // millisecond, each copied by its own pass, both reach PostgreSQL in order.
    for title in ["first of two in one millisecond", "second of two"] {
        primary.rename_session(account, id, title).await.unwrap();
        relay.drain(Some(Duration::from_secs(30))).await.unwrap();
        assert_eq!(schema.store.session(account, id).await.unwrap().title, title);
    }
    schema.drop().await;
    keyspace.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_and_an_unlike_in_scylla_primary_reach_postgres() {
    let schema = TestSchema::new("primary_nulls").await;
    let keyspace = TestKeyspace::new("primary_nulls").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    let primary = ConversationStore::new(keyspace.db.clone()).with_outbox(true);
    let relay = PostgresRelay::new(ConversationStore::new(keyspace.db.clone()), schema.store.clone());
    let account = "nulls-account";
    let session = primary.create_session(account, "deleted, then restored").await.unwrap();
    let id = session.session_uid.as_str();
    let question = primary.append_human_turn(account, id, None, "like me", None).await.unwrap();
    let answer = primary.append_agent_turn(account, id, &question.turn_uid, None).await.unwrap();
    primary.delete_session(account, id).await.unwrap();
    primary.set_liked(account, id, &answer.turn_uid, Some(true)).await.unwrap();
    relay.drain(Some(Duration::from_secs(30))).await.unwrap();
    assert!(schema.store.session(account, id).await.unwrap().deleted_at.is_some());
    // Both changes write a null, which has no write time in ScyllaDB: their entries date them.
    primary.restore_session(account, id).await.unwrap();
    primary.set_liked(account, id, &answer.turn_uid, None).await.unwrap();
    let (_, left) = relay.drain(Some(Duration::from_secs(30))).await.unwrap();
    assert_eq!(left, 0);
    let restored = schema.store.load_conversation(account, id).await.expect("the restore reached PostgreSQL");
    assert_eq!(restored.turns[1].turn.liked, None, "the unlike reached PostgreSQL");
    assert_eq!(restored, primary.load_conversation(account, id).await.unwrap());
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_postgres_refuses_is_set_aside_and_holds_nothing_back() {
    let schema = TestSchema::new("primary_refused").await;
    let keyspace = TestKeyspace::new("primary_refused").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    let account = "refused-account";
    let primary = ConversationStore::new(keyspace.db.clone()).with_outbox(true);
    let poisoned = primary.create_session(account, "about to be poisoned").await.unwrap();
    let fine = primary.create_session(account, "copied as usual").await.unwrap();
    primary.rename_session(account, &fine.session_uid, "renamed as usual").await.unwrap();
    // Code that is not ours writes a title with a NUL, which ScyllaDB keeps and PostgreSQL's
    // text refuses, and records the change.
    let cql = format!(
        "UPDATE {}.sessions_by_user SET title = ? WHERE account_uid = ? AND created_at = ? AND session_uid = ?",
        keyspace.config.keyspace
    );
    let values = ("before\0after", account, poisoned.created_at, &poisoned.session_uid);
    keyspace.db.session().query_unpaged(cql, values).await.unwrap();
    primary.tables().append_to_outbox(&PgOutboxEntry::new(&poisoned.session_uid, &Changed::Session)).await.unwrap();

    let relay = PostgresRelay::new(ConversationStore::new(keyspace.db.clone()), schema.store.clone());
    let (report, left) = relay.drain(Some(Duration::from_secs(30))).await.expect("the relay drains");
    // The poisoned session's three entries (its create's two, the foreign one) are set aside.
    assert_eq!((report.dead_lettered, left), (3, 0), "{report:?}");
    assert_eq!(relay.dead_letters().await.unwrap(), 3);
    assert_eq!(schema.store.session(account, &fine.session_uid).await.unwrap().title, "renamed as usual");

    // Fixed in ScyllaDB by a rename; the dead letters go through again, in scylla-primary only.
    primary.rename_session(account, &poisoned.session_uid, "fixed").await.unwrap();
    assert!(matches!(relay.retry_dead_letters().await, Err(MigrateError::Refused(_))));
    let client = schema.store.client().await.unwrap();
    client
        .execute("UPDATE migration_phase SET phase = 'scylla-primary', relational_writes = 'refused'", &[])
        .await
        .unwrap();
    assert_eq!(relay.retry_dead_letters().await.unwrap(), 3);
    let (report, left) = relay.drain(Some(Duration::from_secs(30))).await.unwrap();
    assert_eq!((report.dead_lettered, left), (0, 0), "{report:?}");
    assert_eq!(relay.dead_letters().await.unwrap(), 0);
    assert_eq!(schema.store.session(account, &poisoned.session_uid).await.unwrap().title, "fixed");
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_minute_of_the_queue_is_not_read_again_and_a_waiting_session_backs_off() {
    let schema = TestSchema::new("primary_slots").await;
    let keyspace = TestKeyspace::new("primary_slots").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    let account = "slots-account";
    let primary = ConversationStore::new(keyspace.db.clone()).with_outbox(true);
    let session = primary.create_session(account, "an old minute").await.unwrap();
    let id = session.session_uid.as_str();
    // An entry recorded ten minutes ago, as after an outage of PostgreSQL: its minute is listed.
    let mut old = PgOutboxEntry::new(id, &Changed::Session);
    old.recorded_at -= chrono::Duration::seconds(600);
    old.slot = outbox_slot(old.recorded_at);
    recorded_long_ago(&primary, &old).await;
    let listed = || async {
        let partition = PgOutboxSlotPartitionKey { bucket: old.bucket };
        let slots = primary.tables().outbox_slots.slice(&partition).fetch().await.unwrap();
        slots.into_iter().map(|row| row.slot).collect::<Vec<_>>()
    };
    let now = outbox_slot(chrono::Utc::now());
    assert!(listed().await.contains(&old.slot) && listed().await.contains(&now), "{:?}", listed().await);

    let relay = PostgresRelay::new(ConversationStore::new(keyspace.db.clone()), schema.store.clone());
    let pass = relay.drain_once().await.unwrap();
    assert_eq!((pass.copied, pass.waiting), (3, 0), "the create's two entries and the old one: {pass:?}");
    assert_eq!(relay.depth().await.unwrap(), 0);
    // Drained, the old minute reads empty once more and leaves the list; this minute stays
    // listed, since an entry may still be written into it.
    relay.drain_once().await.unwrap();
    let slots = listed().await;
    assert!(!slots.contains(&old.slot), "the drained old minute is read no more: {slots:?}");
    assert!(slots.contains(&now), "{slots:?}");

    // A session whose entry names a row not written yet waits, and is not tried again at once.
    let turn = "slots-turn-not-yet-written";
    let waiting = PgOutboxEntry::new(id, &Changed::Turn { turn_uid: turn.to_owned() });
    primary.tables().append_to_outbox(&waiting).await.unwrap();
    let first = relay.drain_once().await.unwrap();
    assert_eq!((first.copied, first.waiting), (0, 1), "{first:?}");
    primary.append_human_turn(account, id, None, "here now", Some(turn)).await.unwrap();
    let backing_off = relay.drain_once().await.unwrap();
    assert_eq!(backing_off.waiting, 3, "the session's entries wait out its backoff: {backing_off:?}");
    assert_eq!(backing_off.copied, 0, "{backing_off:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (report, left) = relay.drain(Some(Duration::from_secs(10))).await.unwrap();
    assert_eq!((report.copied, left), (3, 0), "{report:?}");
    assert_eq!(schema.store.children(account, id, None).await.unwrap()[0].turn_uid, turn);
    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_in_scylla_primary_removes_turns_postgres_has_not_received_from_both() {
    let schema = TestSchema::new("primary_purge").await;
    let keyspace = TestKeyspace::new("primary_purge").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    let copier = ScyllaCopier::new(keyspace.db.clone());
    let relay = ScyllaRelay::new(schema.store.clone(), copier.clone(), RelayConfig::default());
    let scylla = ConversationStore::new(keyspace.db.clone());
    let routing = Routing::new(Phase::ScyllaPrimary);
    let store =
        MigratingStore::new(DualWriteStore::new(relay), scylla.clone(), routing, MigratingOptions::default()).unwrap();
    let to_postgres = PostgresRelay::new(scylla.clone(), schema.store.clone());
    let account = "purge-account";
    let session = store.create_session(account, "to be forgotten").await.unwrap();
    let id = session.session_uid.as_str();
    let question = store.append_human_turn(account, id, None, "copied", None).await.unwrap();
    let answer = store.append_agent_turn(account, id, &question.turn_uid, None).await.unwrap();
    store.append_step(account, id, &answer.turn_uid, 0, 1, "a step").await.unwrap();
    to_postgres.drain(Some(Duration::from_secs(30))).await.unwrap();
    // Written in ScyllaDB, not yet in PostgreSQL: the purge must find it there.
    let unrelayed = store.append_human_turn(account, id, Some(&answer.turn_uid), "not copied yet", None).await.unwrap();
    assert!(schema.store.turn_row(&unrelayed.turn_uid).await.unwrap().is_none());

    store.purge_session(account, id).await.expect("the purge succeeds");
    let purged = schema.store.purged_session(id).await.unwrap().expect("the purge is recorded");
    assert!(purged.turn_uids.contains(&unrelayed.turn_uid), "{:?}", purged.turn_uids);
    assert!(schema.store.session_row(id).await.unwrap().is_none());
    let turns = vec![question.turn_uid.clone(), answer.turn_uid.clone(), unrelayed.turn_uid.clone()];
    let address =
        chat_migrate::verify::SessionAddress { session_uid: id, account_uid: account, created_at: session.created_at };
    let tables = chat_migrate::verify::verifying_tables(copier.tables());
    let left = chat_migrate::verify::read_copies(&tables, address, &turns, copier.layout()).await.unwrap();
    assert_eq!(left.row_count(), 0, "nothing of the session is left in ScyllaDB: {left:?}");

    // The entries of the purged session go without bringing anything back.
    let (_, waiting) = to_postgres.drain(Some(Duration::from_secs(30))).await.unwrap();
    assert_eq!(waiting, 0);
    assert!(schema.store.session_row(id).await.unwrap().is_none());
    assert!(schema.store.turn_row(&unrelayed.turn_uid).await.unwrap().is_none());
    let again = store.purge_session(account, id).await;
    assert!(matches!(again, Err(conversation_store::StoreError::NotFound { .. })), "{again:?}");
    // A purged id is not given out again, whichever database leads.
    let reused = store.create_session_with_id(account, id, "same id").await;
    assert!(
        matches!(reused, Err(conversation_store::StoreError::InvalidInput { field: "session_uid", .. })),
        "{reused:?}"
    );
    let reused = schema.store.create_session_with_id(account, id, "same id").await;
    assert!(
        matches!(reused, Err(conversation_store::StoreError::InvalidInput { field: "session_uid", .. })),
        "{reused:?}"
    );
    // A copy from ScyllaDB read before the purge and written after it does not bring it back.
    let stale = conversation_pg::SessionRow {
        uid: id.to_owned(),
        account_uid: account.to_owned(),
        title: "to be forgotten".to_owned(),
        created_at: session.created_at,
        deleted_at: None,
        active_root: None,
        version: i64::MAX / 2,
    };
    schema.store.put_session(&stale).await.unwrap();
    assert!(schema.store.session_row(id).await.unwrap().is_none());
    // A session that took the id before purged ids were refused is another session, and copied.
    let other =
        conversation_pg::SessionRow { created_at: session.created_at + chrono::Duration::days(1), ..stale.clone() };
    schema.store.put_session(&other).await.unwrap();
    assert!(schema.store.session_row(id).await.unwrap().is_some());
    schema.store.client().await.unwrap().execute("DELETE FROM sessions WHERE uid = $1", &[&id]).await.unwrap();

    // A purge recorded in PostgreSQL whose tombstones never landed, and a write made after it:
    // the relay, meeting the write's entries, finishes the purge.
    let half = store.create_session(account, "half purged").await.unwrap();
    let half_id = half.session_uid.as_str();
    let keys = conversation_pg::SessionRow { title: String::new(), version: 0, ..stale.clone() };
    let keys = conversation_pg::SessionRow { uid: half_id.to_owned(), created_at: half.created_at, ..keys };
    schema.store.purge_replica(&keys, &[], 0).await.unwrap();
    store.rename_session(account, half_id, "written after the purge").await.unwrap();
    let (_, waiting) = to_postgres.drain(Some(Duration::from_secs(30))).await.unwrap();
    assert_eq!(waiting, 0);
    let address = chat_migrate::verify::SessionAddress {
        session_uid: half_id,
        account_uid: account,
        created_at: half.created_at,
    };
    let left = chat_migrate::verify::read_copies(&tables, address, &[], copier.layout()).await.unwrap();
    assert_eq!(left.row_count(), 0, "the purge wins over the write that came after it: {left:?}");
    assert!(schema.store.session_row(half_id).await.unwrap().is_none());
    let report = scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(report.divergences(), 0, "{}", report.summary());
    keyspace.drop().await;
    schema.drop().await;
}
