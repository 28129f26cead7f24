//! One script of calls, run against every store that implements `ConversationApi`: the ScyllaDB
//! store, the relational store and the dual-writing store must answer it identically.
//!
//! The transcript records what a caller sees, with the store's own clock readings left out
//! (each store stamps `created_at` itself); ids, order, contents, trees and errors are all kept.

use std::time::Duration;

use chat_migrate::{scan, DualWriteStore, RelayConfig, ScanOptions, ScyllaCopier, ScyllaRelay, Selection};
use conversation_store::sample::write_sample;
use conversation_store::{
    Conversation, ConversationApi, ConversationStore, Session, SessionPage, StoreError, StoreResult, TurnByParent,
    TurnBySession,
};
use tests::live::{TestKeyspace, TestSchema};

/// A result as a caller compares it, without clock readings.
trait Observed {
    fn observed(&self) -> String;
}

impl Observed for Session {
    fn observed(&self) -> String {
        format!(
            "session {} of {}: {:?}, deleted {}",
            self.session_uid,
            self.account_uid,
            self.title,
            self.deleted_at.is_some()
        )
    }
}

impl Observed for TurnBySession {
    fn observed(&self) -> String {
        format!(
            "turn {} ({}) parent {:?} active {:?} prompt {:?} liked {:?}",
            self.turn_uid, self.turn_type, self.parent_uid, self.active_child, self.prompt, self.liked
        )
    }
}

impl Observed for TurnByParent {
    fn observed(&self) -> String {
        format!("child {} of {} ({}, session {})", self.turn_uid, self.parent_uid, self.turn_type, self.session_uid)
    }
}

impl Observed for SessionPage {
    fn observed(&self) -> String {
        let sessions: Vec<String> = self.sessions.iter().map(Observed::observed).collect();
        format!("page {sessions:?}, more: {}", self.next.is_some())
    }
}

impl Observed for Conversation {
    fn observed(&self) -> String {
        let mut text = format!("{}\n", self.session.observed());
        for turn in &self.turns {
            let steps: Vec<String> =
                turn.steps.iter().map(|step| format!("{}:{}:{}", step.idx, step.tpe, step.content)).collect();
            text.push_str(&format!("  {} steps {steps:?} children {:?}\n", turn.turn.observed(), turn.children));
        }
        text.push_str(&format!("  active path {:?}", self.active_path));
        text
    }
}

impl Observed for conversation_store::StepByTurn {
    fn observed(&self) -> String {
        format!("step {}#{} {} {:?}", self.turn_uid, self.idx, self.tpe, self.content)
    }
}

impl Observed for () {
    fn observed(&self) -> String {
        "ok".into()
    }
}

impl<T: Observed> Observed for Vec<T> {
    fn observed(&self) -> String {
        format!("{:?}", self.iter().map(Observed::observed).collect::<Vec<_>>())
    }
}

fn record<T: Observed>(transcript: &mut Vec<String>, call: &str, result: StoreResult<T>) {
    let line = match result {
        Ok(value) => value.observed(),
        Err(error @ (StoreError::Database(_) | StoreError::Relational { .. })) => {
            panic!("{call}: the database failed: {error}")
        }
        Err(error) => format!("error {error:?}"),
    };
    transcript.push(format!("{call} -> {line}"));
}

/// The script: every operation, the rules each enforces, and the errors of bad calls.
async fn script(store: &impl ConversationApi) -> Vec<String> {
    let mut t = Vec::new();
    let sample = write_sample(store, "alice").await.expect("the sample writes");
    for session in &sample.sessions {
        record(&mut t, "load", store.load_conversation("alice", session).await);
    }
    let trip = sample.trip_session.as_str();
    let turn = |n: &str| format!("{trip}-{n}");
    // Sessions, with a pause so that creation times differ and order does not hang on ties.
    for n in 0..5 {
        record(&mut t, "create", store.create_session_with_id("bob", &format!("bob-{n}"), &format!("Bob {n}")).await);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    record(&mut t, "retry create", store.create_session_with_id("bob", "bob-1", "Other title").await);
    record(&mut t, "create taken id", store.create_session_with_id("carol", "bob-1", "Mine").await);
    record(&mut t, "page 1", store.recent_sessions("bob", 2, None).await);
    let first = store.recent_sessions("bob", 2, None).await.unwrap();
    record(&mut t, "page 2", store.recent_sessions("bob", 2, first.next.as_ref()).await);
    record(&mut t, "page of 5", store.recent_sessions("bob", 5, None).await);
    record(&mut t, "page size 0", store.recent_sessions("bob", 0, None).await);
    record(&mut t, "page size 101", store.recent_sessions("bob", 101, None).await);
    record(&mut t, "rename", store.rename_session("bob", "bob-2", "Renamed").await);
    record(&mut t, "rename empty", store.rename_session("bob", "bob-2", "  ").await);
    record(&mut t, "rename long", store.rename_session("bob", "bob-2", &"x".repeat(201)).await);
    record(&mut t, "delete", store.delete_session("bob", "bob-3").await);
    record(&mut t, "page after delete", store.recent_sessions("bob", 5, None).await);
    record(&mut t, "deleted session", store.session("bob", "bob-3").await);
    record(&mut t, "load deleted", store.load_conversation("bob", "bob-3").await);
    record(&mut t, "restore", store.restore_session("bob", "bob-3").await);
    record(&mut t, "page after restore", store.recent_sessions("bob", 5, None).await);
    // Turns and branches.
    record(&mut t, "children of t3", store.children("alice", trip, Some(&turn("t3"))).await);
    record(&mut t, "roots", store.children("alice", trip, None).await);
    record(&mut t, "activate t4", store.set_active_child("alice", trip, Some(&turn("t3")), &turn("t4")).await);
    record(&mut t, "activate non-child", store.set_active_child("alice", trip, Some(&turn("t1")), &turn("t4")).await);
    record(&mut t, "like", store.set_liked("alice", trip, &turn("t4"), Some(false)).await);
    record(&mut t, "like a human turn", store.set_liked("alice", trip, &turn("t3"), Some(true)).await);
    record(&mut t, "regenerate", store.regenerate("alice", trip, &turn("t2"), Some(&turn("t6"))).await);
    record(&mut t, "regenerate a human turn", store.regenerate("alice", trip, &turn("t3"), None).await);
    record(&mut t, "edit", store.edit("alice", trip, &turn("t3"), "Make day 2 Cascais.", Some(&turn("t7"))).await);
    record(&mut t, "edit with empty prompt", store.edit("alice", trip, &turn("t3"), "", None).await);
    record(
        &mut t,
        "retry edit",
        store.edit("alice", trip, &turn("t3"), "Make day 2 Cascais.", Some(&turn("t7"))).await,
    );
    record(
        &mut t,
        "turn id of another kind",
        store.append_agent_turn("alice", trip, &turn("t7"), Some(&turn("t1"))).await,
    );
    record(&mut t, "human under human", store.append_human_turn("alice", trip, Some(&turn("t7")), "Hi", None).await);
    record(&mut t, "agent answers", store.append_agent_turn("alice", trip, &turn("t7"), Some(&turn("t8"))).await);
    record(&mut t, "step 0", store.append_step("alice", trip, &turn("t8"), 0, 1, "Cascais is 40 min away.").await);
    record(
        &mut t,
        "step 0 again",
        store.append_step("alice", trip, &turn("t8"), 0, 1, "Cascais is 40 min away.").await,
    );
    record(&mut t, "step 0 changed", store.append_step("alice", trip, &turn("t8"), 0, 2, "Something else").await);
    record(&mut t, "step gap", store.append_step("alice", trip, &turn("t8"), 2, 1, "Too early").await);
    record(&mut t, "step -1", store.append_step("alice", trip, &turn("t8"), -1, 1, "Negative").await);
    record(&mut t, "step empty", store.append_step("alice", trip, &turn("t8"), 1, 1, "").await);
    record(&mut t, "step on a human turn", store.append_step("alice", trip, &turn("t7"), 0, 1, "No").await);
    // Text one store would keep and the other refuse is refused by both, up front.
    record(
        &mut t,
        "prompt with a NUL",
        store.append_human_turn("alice", trip, Some(&turn("t8")), "before\0after", None).await,
    );
    record(&mut t, "step with a NUL", store.append_step("alice", trip, &turn("t8"), 1, 1, "a\0b").await);
    record(
        &mut t,
        "turn id with the root prefix",
        store.append_human_turn("alice", trip, Some(&turn("t8")), "Hi", Some(&format!("root:{trip}"))).await,
    );
    // A retry that arrives after the turn got a child and feedback keeps both.
    record(
        &mut t,
        "child of t8",
        store.append_human_turn("alice", trip, Some(&turn("t8")), "And day 3?", Some(&turn("t9"))).await,
    );
    record(&mut t, "like t8", store.set_liked("alice", trip, &turn("t8"), Some(true)).await);
    record(&mut t, "late retry of t8", store.append_agent_turn("alice", trip, &turn("t7"), Some(&turn("t8"))).await);
    record(
        &mut t,
        "late retry of the edit",
        store.edit("alice", trip, &turn("t3"), "Make day 2 Cascais.", Some(&turn("t7"))).await,
    );
    record(&mut t, "load after late retries", store.load_conversation("alice", trip).await);
    record(
        &mut t,
        "prompt too long",
        store.append_human_turn("alice", trip, Some(&turn("t8")), &"p".repeat(32 * 1024 + 1), None).await,
    );
    record(&mut t, "unknown turn", store.append_agent_turn("alice", trip, "no-such-turn", None).await);
    record(
        &mut t,
        "parent from another session",
        store.append_human_turn("alice", &sample.edited_session, Some(&turn("t2")), "Hi", None).await,
    );
    record(
        &mut t,
        "root activation",
        store.set_active_child("alice", &sample.edited_session, None, &format!("{}-t1", sample.edited_session)).await,
    );
    // Access control: another account's session is NotFound, like a missing one.
    record(&mut t, "other account load", store.load_conversation("mallory", trip).await);
    record(&mut t, "other account children", store.children("mallory", trip, None).await);
    record(&mut t, "other account rename", store.rename_session("mallory", trip, "Mine").await);
    record(&mut t, "other account step", store.append_step("mallory", trip, &turn("t8"), 1, 1, "x").await);
    record(&mut t, "missing session", store.session("alice", "no-such-session").await);
    record(&mut t, "empty account", store.recent_sessions("", 5, None).await);
    for session in &sample.sessions {
        record(&mut t, "final load", store.load_conversation("alice", session).await);
    }
    t
}

fn assert_same(expected_name: &str, expected: &[String], actual_name: &str, actual: &[String]) {
    assert_eq!(expected.len(), actual.len(), "{expected_name} and {actual_name} ran the same calls");
    for (want, got) in expected.iter().zip(actual) {
        assert_eq!(want, got, "{actual_name} answers differently from {expected_name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_answers_the_conformance_script_identically() {
    let keyspace = TestKeyspace::new("conformance").await;
    let scylla = ConversationStore::new(keyspace.db.clone());
    scylla.apply_schema(keyspace.replication()).await.unwrap();
    let scylla_transcript = script(&scylla).await;
    assert!(scylla_transcript.len() > 50, "{} calls", scylla_transcript.len());
    assert!(scylla_transcript.iter().any(|line| line.contains("error StepGap")), "the script reaches its error cases");
    let after_retries = scylla_transcript.iter().find(|line| line.starts_with("load after late retries")).unwrap();
    assert!(
        after_retries.contains("active Some(\"alice-lisbon-t9\") prompt None liked Some(true)"),
        "a late retry keeps the turn's active child and feedback: {after_retries}"
    );
    for refused in ["prompt with a NUL", "step with a NUL", "turn id with the root prefix"] {
        let line = scylla_transcript.iter().find(|line| line.starts_with(refused)).unwrap();
        assert!(line.contains("error InvalidInput"), "{line}");
    }

    let relational = TestSchema::new("conformance").await;
    let pg_transcript = script(&relational.store).await;
    assert_same("the ScyllaDB store", &scylla_transcript, "the relational store", &pg_transcript);

    // The dual-writing store answers the same, and its ScyllaDB copies answer it too.
    let copies = TestKeyspace::new("conformance_copies").await;
    let copy_reader = ConversationStore::new(copies.db.clone());
    copy_reader.apply_schema(copies.replication()).await.unwrap();
    let dual_schema = TestSchema::new("conformance_dual").await;
    let relay =
        ScyllaRelay::new(dual_schema.store.clone(), ScyllaCopier::new(copies.db.clone()), RelayConfig::default());
    let dual = DualWriteStore::new(relay);
    let dual_transcript = script(&dual).await;
    assert_same("the ScyllaDB store", &scylla_transcript, "the dual-writing store", &dual_transcript);
    assert_eq!(dual.lag().await.unwrap().depth, 0, "every change was copied inline");
    // The inline copies wrote the rows as the writes returned them: each copy equals its
    // relational row and carries the row's version as write time (a late retry keeps the turn's
    // active child and feedback in the copy too).
    let copier = ScyllaCopier::new(copies.db.clone());
    let verified = scan(&dual_schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!(verified.divergences(), 0, "{}", verified.summary());
    let copied: Vec<String> = dual_transcript.iter().filter(|line| line.starts_with("final load")).cloned().collect();
    let mut read_back = Vec::new();
    for session in ["alice-weekly-report", "alice-borrow-error", "alice-lisbon"] {
        record(&mut read_back, "final load", copy_reader.load_conversation("alice", session).await);
    }
    assert_eq!(copied, read_back, "the ScyllaDB copies load as the relational rows do");

    keyspace.drop().await;
    copies.drop().await;
    relational.drop().await;
    dual_schema.drop().await;
}
