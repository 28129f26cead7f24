//! The conversation store against the live node: sessions, turns, branches, steps, loading,
//! access control and bad input.

use chat_migrate::audit::audit_sessions;
use chat_migrate::projection::Layout;
use conversation_store::sample::write_sample;
use conversation_store::{
    ConversationStore, SessionCursor, StoreError, TurnByParentPartitionKey, TurnType, DEFAULT_PAGE_SIZE,
};
use tests::live::TestKeyspace;

async fn store(test_name: &str) -> (TestKeyspace, ConversationStore) {
    let test = TestKeyspace::new(test_name).await;
    let store = ConversationStore::new(test.db.clone());
    store.apply_schema(test.replication()).await.unwrap();
    (test, store)
}

fn is_not_found(result: &Result<impl std::fmt::Debug, StoreError>) -> bool {
    matches!(result, Err(StoreError::NotFound { .. }))
}

#[tokio::test]
async fn sessions_page_newest_first_and_soft_delete_hides_them() {
    let (test, store) = store("sessions").await;
    let mut created = Vec::new();
    for n in 0..25 {
        created.push(store.create_session("alice", &format!("Session {n}")).await.unwrap());
    }
    store.create_session("bob", "Bob's").await.unwrap();
    let newest_first: Vec<String> = {
        let mut sorted = created.clone();
        sorted.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.session_uid.cmp(&b.session_uid)));
        sorted.into_iter().map(|session| session.session_uid).collect()
    };

    let first = store.recent_sessions("alice", DEFAULT_PAGE_SIZE, None).await.unwrap();
    assert_eq!(first.sessions.len(), 20);
    let cursor = first.next.clone().expect("a full page has a cursor");
    let decoded = SessionCursor::decode(&cursor.encode()).unwrap();
    let second = store.recent_sessions("alice", DEFAULT_PAGE_SIZE, Some(&decoded)).await.unwrap();
    assert_eq!(second.sessions.len(), 5);
    assert_eq!(second.next, None);
    let listed: Vec<String> =
        first.sessions.iter().chain(&second.sessions).map(|session| session.session_uid.clone()).collect();
    assert_eq!(listed, newest_first, "every session once, newest first");

    let hidden = &newest_first[1];
    store.delete_session("alice", hidden).await.unwrap();
    let page = store.recent_sessions("alice", 5, None).await.unwrap();
    assert!(page.sessions.iter().all(|session| &session.session_uid != hidden));
    assert_eq!(page.sessions.len(), 5, "the page is still full");
    assert!(is_not_found(&store.load_conversation("alice", hidden).await));
    assert!(store.session("alice", hidden).await.unwrap().deleted_at.is_some());

    store.restore_session("alice", hidden).await.unwrap();
    let page = store.recent_sessions("alice", 2, None).await.unwrap();
    assert_eq!(page.sessions[1].session_uid, *hidden);

    store.rename_session("alice", hidden, "Renamed").await.unwrap();
    assert_eq!(store.session("alice", hidden).await.unwrap().title, "Renamed");

    let again = store.create_session_with_id("alice", "fixed-id", "Once").await.unwrap();
    let retried = store.create_session_with_id("alice", "fixed-id", "Once").await.unwrap();
    assert_eq!(again, retried, "a retried create returns the same session");
    assert!(matches!(store.create_session_with_id("bob", "fixed-id", "Mine").await, Err(StoreError::Conflict { .. })));
    assert!(matches!(
        store.recent_sessions("alice", 0, None).await,
        Err(StoreError::InvalidInput { field: "page_size", .. })
    ));
    test.drop().await;
}

#[tokio::test]
async fn the_sample_builds_branches_and_the_active_path() {
    let (test, store) = store("branches").await;
    let sample = write_sample(&store, "alice").await.unwrap();
    // Writing it again retries every write with the same ids: nothing is duplicated.
    write_sample(&store, "alice").await.unwrap();

    let trip = store.load_conversation("alice", &sample.trip_session).await.unwrap();
    let ids: Vec<&str> = trip.turns.iter().map(|turn| turn.turn.turn_uid.as_str()).collect();
    let t = |n: &str| format!("{}-{n}", sample.trip_session);
    assert_eq!(ids, [t("t1"), t("t2"), t("t3"), t("t4"), t("t5")], "chronological, no duplicates");
    assert!(trip.turns.windows(2).all(|pair| pair[0].turn.created_at <= pair[1].turn.created_at));
    assert_eq!(trip.active_path, [t("t1"), t("t2"), t("t3"), t("t5")], "the regenerated answer is active");
    let prompt = trip.turn(&t("t3")).unwrap();
    assert_eq!(prompt.children, [t("t4"), t("t5")]);
    let steps: Vec<i32> = trip.turn(&t("t4")).unwrap().steps.iter().map(|step| step.idx).collect();
    assert_eq!(steps, [0, 1, 2, 3]);
    assert!(trip.turn(&t("t1")).unwrap().steps.is_empty());

    let children = store.children("alice", &sample.trip_session, Some(&sample.regenerated_prompt)).await.unwrap();
    let child_ids: Vec<&str> = children.iter().map(|child| child.turn_uid.as_str()).collect();
    assert_eq!(child_ids, [t("t4"), t("t5")], "children in creation order");
    assert!(children.iter().all(|child| child.turn_type == TurnType::Agent));

    store.set_active_child("alice", &sample.trip_session, Some(&t("t3")), &t("t4")).await.unwrap();
    let trip = store.load_conversation("alice", &sample.trip_session).await.unwrap();
    assert_eq!(trip.active_path, [t("t1"), t("t2"), t("t3"), t("t4")]);
    assert!(matches!(
        store.set_active_child("alice", &sample.trip_session, Some(&t("t1")), &t("t4")).await,
        Err(StoreError::InvalidParent { .. })
    ));

    store.set_liked("alice", &sample.trip_session, &t("t4"), Some(true)).await.unwrap();
    let liked = store.load_conversation("alice", &sample.trip_session).await.unwrap();
    assert_eq!(liked.turn(&t("t4")).unwrap().turn.liked, Some(true));
    store.set_liked("alice", &sample.trip_session, &t("t4"), None).await.unwrap();
    let unliked = store.load_conversation("alice", &sample.trip_session).await.unwrap();
    assert_eq!(unliked.turn(&t("t4")).unwrap().turn.liked, None);

    // The edited session has two roots; the edit is active.
    let edited = store.load_conversation("alice", &sample.edited_session).await.unwrap();
    let e = |n: &str| format!("{}-{n}", sample.edited_session);
    let roots: Vec<&str> = edited.roots().map(|turn| turn.turn.turn_uid.as_str()).collect();
    assert_eq!(roots, [e("t1"), e("t3")]);
    assert_eq!(edited.active_path, [e("t3"), e("t4")]);
    let root_children = store.children("alice", &sample.edited_session, None).await.unwrap();
    assert_eq!(root_children.len(), 2);
    store.set_active_child("alice", &sample.edited_session, None, &e("t1")).await.unwrap();
    let edited = store.load_conversation("alice", &sample.edited_session).await.unwrap();
    assert_eq!(edited.active_path, [e("t1"), e("t2")]);

    let report = audit_sessions(store.tables(), &sample.sessions, Layout::default()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.violations);
    assert_eq!((report.sessions, report.turns), (3, 13));
    test.drop().await;
}

#[tokio::test]
async fn another_accounts_session_is_not_found_and_returns_nothing() {
    let (test, store) = store("access").await;
    let sample = write_sample(&store, "alice").await.unwrap();
    let session = &sample.trip_session;
    let turn = format!("{session}-t4");
    assert!(is_not_found(&store.load_conversation("mallory", session).await));
    assert!(is_not_found(&store.session("mallory", session).await));
    assert!(is_not_found(&store.children("mallory", session, None).await));
    assert!(is_not_found(&store.rename_session("mallory", session, "mine").await));
    assert!(is_not_found(&store.delete_session("mallory", session).await));
    assert!(is_not_found(&store.append_human_turn("mallory", session, Some(&turn), "hi", None).await));
    assert!(is_not_found(&store.append_step("mallory", session, &turn, 4, 1, "x").await));
    assert!(is_not_found(&store.set_liked("mallory", session, &turn, Some(false)).await));
    assert!(is_not_found(&store.regenerate("mallory", session, &turn, None).await));
    assert!(store.recent_sessions("mallory", 20, None).await.unwrap().sessions.is_empty());
    // Nothing mallory tried changed alice's data.
    let trip = store.load_conversation("alice", session).await.unwrap();
    assert_eq!(trip.turns.len(), 5);
    assert_eq!(trip.session.title, "Trip to Lisbon");
    assert_eq!(trip.turn(&turn).unwrap().turn.liked, None);
    test.drop().await;
}

#[tokio::test]
async fn bad_input_gets_a_typed_error_and_writes_nothing() {
    let (test, store) = store("bad_input").await;
    let sample = write_sample(&store, "alice").await.unwrap();
    let other = write_sample(&store, "bob").await.unwrap();
    let session = &sample.trip_session;
    let t = |n: &str| format!("{session}-{n}");
    let before = store.load_conversation("alice", session).await.unwrap();

    let empty = store.append_human_turn("alice", session, Some(&t("t5")), "   ", None).await;
    assert!(matches!(empty, Err(StoreError::InvalidInput { field: "prompt", .. })), "{empty:?}");
    let huge = "x".repeat(conversation_store::limits::MAX_PROMPT_BYTES + 1);
    let oversized = store.append_human_turn("alice", session, Some(&t("t5")), &huge, None).await;
    assert!(matches!(oversized, Err(StoreError::InvalidInput { field: "prompt", .. })), "{oversized:?}");
    let empty_step = store.append_step("alice", session, &t("t5"), 2, 3, "").await;
    assert!(matches!(empty_step, Err(StoreError::InvalidInput { field: "content", .. })), "{empty_step:?}");
    let huge_step = "x".repeat(conversation_store::limits::MAX_STEP_CONTENT_BYTES + 1);
    let oversized_step = store.append_step("alice", session, &t("t5"), 2, 3, &huge_step).await;
    assert!(matches!(oversized_step, Err(StoreError::InvalidInput { field: "content", .. })));
    assert!(matches!(store.create_session("alice", "").await, Err(StoreError::InvalidInput { field: "title", .. })));

    assert!(is_not_found(&store.load_conversation("alice", "no-such-session").await));
    assert!(is_not_found(&store.append_human_turn("alice", "no-such-session", None, "hi", None).await));
    assert!(is_not_found(&store.append_agent_turn("alice", session, "no-such-turn", None).await));

    // A parent from another session (bob's, or alice's other one).
    let foreign = format!("{}-t2", other.trip_session);
    let cross = store.append_human_turn("alice", session, Some(&foreign), "hi", None).await;
    assert!(matches!(cross, Err(StoreError::InvalidParent { .. })), "{cross:?}");
    let sibling_session = format!("{}-t2", sample.edited_session);
    let cross = store.append_human_turn("alice", session, Some(&sibling_session), "hi", None).await;
    assert!(matches!(cross, Err(StoreError::InvalidParent { .. })), "{cross:?}");
    // The wrong kind of parent: an agent turn must answer a human turn.
    let wrong_kind = store.append_agent_turn("alice", session, &t("t2"), None).await;
    assert!(matches!(wrong_kind, Err(StoreError::InvalidParent { .. })), "{wrong_kind:?}");

    // Steps: a gap, a conflicting repeat, and an idempotent repeat.
    let gap = store.append_step("alice", session, &t("t5"), 3, 3, "skipped idx 2").await;
    assert!(matches!(gap, Err(StoreError::StepGap { idx: 3, missing: 2, .. })), "{gap:?}");
    let conflict = store.append_step("alice", session, &t("t5"), 1, 3, "different text").await;
    assert!(matches!(conflict, Err(StoreError::Conflict { .. })), "{conflict:?}");
    let human_steps = store.append_step("alice", session, &t("t1"), 0, 1, "x").await;
    assert!(matches!(human_steps, Err(StoreError::InvalidInput { field: "turn_uid", .. })));

    let after = store.load_conversation("alice", session).await.unwrap();
    assert_eq!(after, before, "no bad request changed the conversation");
    let branches = test.db.table::<conversation_store::TurnByParent>();
    let root = branches
        .partition_vec(&TurnByParentPartitionKey { parent_uid: conversation_store::root_parent_key(session) })
        .await
        .unwrap();
    assert_eq!(root.len(), 1, "no stray root turn");
    let report = audit_sessions(store.tables(), std::slice::from_ref(session), Layout::default()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.violations);
    test.drop().await;
}

#[tokio::test]
async fn steps_streamed_concurrently_each_land_once_in_order() {
    let (test, store) = store("streaming").await;
    let session = store.create_session("alice", "Streaming").await.unwrap();
    let id = session.session_uid.as_str();
    let prompt = store.append_human_turn("alice", id, None, "Count to 20", None).await.unwrap();
    let answer = store.append_agent_turn("alice", id, &prompt.turn_uid, None).await.unwrap();
    // Two writers race to stream the same steps (a retrying worker); each idx is written once.
    let stream = |label: &'static str| {
        let store = store.clone();
        let turn = answer.turn_uid.clone();
        let id = id.to_owned();
        async move {
            for idx in 0..20 {
                store.append_step("alice", &id, &turn, idx, 1, &format!("step {idx}")).await.unwrap();
            }
            label
        }
    };
    let (first, second) = tokio::join!(tokio::spawn(stream("a")), tokio::spawn(stream("b")));
    first.unwrap();
    second.unwrap();
    let conversation = store.load_conversation("alice", id).await.unwrap();
    let steps = &conversation.turn(&answer.turn_uid).unwrap().steps;
    let indexes: Vec<i32> = steps.iter().map(|step| step.idx).collect();
    assert_eq!(indexes, (0..20).collect::<Vec<_>>());
    assert!(steps.iter().all(|step| step.content == format!("step {}", step.idx)));
    test.drop().await;
}

#[tokio::test]
async fn the_two_read_load_path_returns_the_same_conversations_as_the_designs() {
    let (test, design) = store("two_read_load").await;
    let two_reads = design.clone().with_steps_by_session(true);
    // Written through the two-read store, so both step tables hold every step.
    let sample = write_sample(&two_reads, "carol").await.unwrap();
    let mut loaded = 0;
    for session_uid in &sample.sessions {
        let by_turn = design.load_conversation("carol", session_uid).await.unwrap();
        let by_session = two_reads.load_conversation("carol", session_uid).await.unwrap();
        assert_eq!(by_session, by_turn, "session {session_uid}");
        loaded += by_turn.turns.iter().map(|turn| turn.steps.len()).sum::<usize>();
    }
    assert!(loaded > 0, "the sample has steps");
    // A step written by a store without the new table is missing from it: the two paths differ,
    // which is why the option must only be turned on once steps_by_session is complete.
    let session = &sample.sessions[0];
    let agent = two_reads
        .load_conversation("carol", session)
        .await
        .unwrap()
        .turns
        .into_iter()
        .rev()
        .find(|turn| turn.turn.turn_type == TurnType::Agent)
        .expect("the sample session has an agent turn");
    design
        .append_step("carol", session, &agent.turn.turn_uid, agent.steps.len() as i32, 1, "only by turn")
        .await
        .unwrap();
    assert_ne!(
        design.load_conversation("carol", session).await.unwrap(),
        two_reads.load_conversation("carol", session).await.unwrap()
    );
    test.drop().await;
}

/// Tombstone cells the node reports (through query tracing) for reading a whole table.
async fn tombstones_read(db: &scylla_table::Database, table: &str) -> u64 {
    let mut statement = scylla::statement::Statement::new(format!("SELECT * FROM {}.{table}", db.keyspace()));
    statement.set_tracing(true);
    let result = db.session().query_unpaged(statement, ()).await.expect("the read runs");
    let tracing_id = result.tracing_id().expect("the read was traced");
    // The node writes a trace's events in the background: the session can be complete while the
    // event that counts the cells read is still on its way, on a busy node. Read it again until
    // that event is there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let trace = db.session().get_tracing_info(&tracing_id).await.expect("the trace is readable");
        let reads: Vec<String> = trace
            .events
            .iter()
            .filter_map(|event| event.activity.clone())
            .filter(|activity| activity.contains("tombstone cells"))
            .collect();
        if reads.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the trace of {table} reports what the read met: {:?}",
                trace.events
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        return reads
            .iter()
            .filter_map(|activity| activity.split(" and ").nth(1)?.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
    }
}

#[tokio::test]
async fn writing_a_conversation_leaves_no_tombstones() {
    let (test, store) = store("no_tombstones").await;
    let store = store.with_steps_by_session(true);
    // Every kind of new row, none of them with all columns set: a session, a root human turn
    // (no parent), agent turns (no prompt, no like, no active child yet), steps, a regenerated branch.
    let session = store.create_session("erin", "No tombstones").await.unwrap();
    let id = session.session_uid.as_str();
    let question = store.append_human_turn("erin", id, None, "Anything left behind?", None).await.unwrap();
    let answer = store.append_agent_turn("erin", id, &question.turn_uid, None).await.unwrap();
    store.append_step("erin", id, &answer.turn_uid, 0, 1, "Nothing.").await.unwrap();
    store.regenerate("erin", id, &answer.turn_uid, None).await.unwrap();
    for table in [
        "sessions_by_user",
        "session_owners",
        "turns_by_session",
        "turns_by_parent",
        "turns_by_uid",
        "steps_by_turn",
        "steps_by_session",
    ] {
        assert_eq!(tombstones_read(&test.db, table).await, 0, "{table} holds tombstones from null columns");
    }
    test.drop().await;
}
