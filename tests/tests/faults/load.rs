//! A steady load of conversation writes, each retried with its own ids until acknowledged, the
//! ledger of what was acknowledged, and the check that all of it reads back once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_migrate::audit_all;
use chat_migrate::projection::Layout;
use conversation_store::{new_id, ConversationStore, StoreError, TurnType};
use scylla::statement::Consistency;
use scylla_table::ConsistencyLevels;

use crate::cluster::FaultKeyspace;

const WRITERS: usize = 4;
/// Between two writes of one writer: about WRITERS / WRITE_EVERY writes per second in all.
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// A write that fails is repeated with the same ids, as a client would (the store makes that
/// safe), for up to this long: longer than the nodes take to convict a dead peer, during which a
/// logged batch can time out writing its batchlog to that peer.
const RETRY_FOR: Duration = Duration::from_secs(40);
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// What the writers were told succeeded, and every id they tried.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// session → (turn uid, type) acknowledged, in order.
    turns: BTreeMap<String, Vec<(String, TurnType)>>,
    /// agent turn → step contents acknowledged, by idx.
    steps: BTreeMap<String, Vec<String>>,
    /// Every turn id a writer sent, acknowledged or not.
    attempted_turns: BTreeSet<String>,
    sessions: Vec<String>,
    /// session → the writer account that owns it.
    pub(crate) owners: BTreeMap<String, String>,
    pub(crate) acked: usize,
    /// Writes that failed at least once before they were acknowledged.
    retried: usize,
    /// The longest time from a write's first attempt to its acknowledgement.
    slowest: Duration,
    /// Attempts that failed (each then repeated), and the longest one took to fail.
    pub(crate) failed_attempts: usize,
    pub(crate) slowest_failed_attempt: Duration,
    /// Writes that failed every attempt: the caller was told they failed.
    pub(crate) failed: Vec<String>,
}

impl Ledger {
    pub(crate) fn merge(&mut self, other: Ledger) {
        self.turns.extend(other.turns);
        self.steps.extend(other.steps);
        self.attempted_turns.extend(other.attempted_turns);
        self.sessions.extend(other.sessions);
        self.owners.extend(other.owners);
        self.failed_attempts += other.failed_attempts;
        self.slowest_failed_attempt = self.slowest_failed_attempt.max(other.slowest_failed_attempt);
        self.acked += other.acked;
        self.retried += other.retried;
        self.slowest = self.slowest.max(other.slowest);
        self.failed.extend(other.failed);
    }
}

/// Counts one write's outcome; true when it was acknowledged.
fn record(ledger: &mut Ledger, what: String, outcome: Result<Attempts, StoreError>) -> bool {
    match outcome {
        Ok(attempts) => {
            ledger.acked += 1;
            ledger.retried += usize::from(attempts.count > 1);
            ledger.slowest = ledger.slowest.max(attempts.took);
            true
        }
        Err(error) => {
            ledger.failed.push(format!("{what}: {error}"));
            false
        }
    }
}

/// How an acknowledged write got there.
struct Attempts {
    count: usize,
    took: Duration,
}

/// Repeats `write` until it succeeds, for up to RETRY_FOR, counting each failed attempt in
/// `ledger`. Returns how many attempts it took, or the last error.
async fn with_retries<T, F, Fut>(ledger: &mut Ledger, mut write: F) -> Result<Attempts, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let started = Instant::now();
    let mut count = 0;
    loop {
        count += 1;
        let attempt_started = Instant::now();
        let outcome = write().await;
        if outcome.is_err() {
            ledger.failed_attempts += 1;
            ledger.slowest_failed_attempt = ledger.slowest_failed_attempt.max(attempt_started.elapsed());
        }
        match outcome {
            Ok(_) => return Ok(Attempts { count, took: started.elapsed() }),
            Err(error) if started.elapsed() >= RETRY_FOR => return Err(error),
            Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
        }
    }
}

/// One writer: sessions of a human turn, an agent turn and two steps, one write every
/// WRITE_EVERY, until `stop`. Every write carries its own ids, so a retry is safe.
async fn write_steadily(store: ConversationStore, account: String, stop: Arc<AtomicBool>) -> Ledger {
    let mut ledger = Ledger::default();
    let mut ticks = tokio::time::interval(WRITE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let session_uid = new_id();
        let created =
            with_retries(&mut ledger, || store.create_session_with_id(&account, &session_uid, "faults")).await;
        if !record(&mut ledger, format!("create session {session_uid}"), created) {
            continue;
        }
        ledger.sessions.push(session_uid.clone());
        ledger.owners.insert(session_uid.clone(), account.clone());
        ledger.turns.insert(session_uid.clone(), Vec::new());

        ticks.tick().await;
        let human = new_id();
        ledger.attempted_turns.insert(human.clone());
        let appended = with_retries(&mut ledger, || {
            store.append_human_turn(&account, &session_uid, None, "node down?", Some(&human))
        })
        .await;
        if !record(&mut ledger, format!("human turn {human}"), appended) {
            continue;
        }
        ledger.turns.get_mut(&session_uid).unwrap().push((human.clone(), TurnType::Human));

        ticks.tick().await;
        let agent = new_id();
        ledger.attempted_turns.insert(agent.clone());
        let appended =
            with_retries(&mut ledger, || store.append_agent_turn(&account, &session_uid, &human, Some(&agent))).await;
        if !record(&mut ledger, format!("agent turn {agent}"), appended) {
            continue;
        }
        ledger.turns.get_mut(&session_uid).unwrap().push((agent.clone(), TurnType::Agent));

        for idx in 0..2 {
            ticks.tick().await;
            let content = format!("step {idx} of {agent}");
            let appended =
                with_retries(&mut ledger, || store.append_step(&account, &session_uid, &agent, idx, 1, &content)).await;
            if !record(&mut ledger, format!("step {idx} of {agent}"), appended) {
                break;
            }
            ledger.steps.entry(agent.clone()).or_default().push(content);
        }
    }
    ledger
}

/// The writers, running until `stop` is called.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<Ledger>>,
}

impl Load {
    pub(crate) fn start(store: &ConversationStore, test: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let writers = (0..WRITERS)
            .map(|writer| {
                let account = format!("{test}-writer-{writer}");
                tokio::spawn(write_steadily(store.clone(), account, stop.clone()))
            })
            .collect();
        Load { stop, writers }
    }

    pub(crate) async fn stop(self) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        let mut ledger = Ledger::default();
        for writer in self.writers {
            ledger.merge(writer.await.expect("a writer does not panic"));
        }
        ledger
    }
}

/// What a read-back found against the ledger.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ReadBack {
    pub(crate) lost: Vec<String>,
    pub(crate) duplicated: Vec<String>,
}

/// Loads every acknowledged session at `read` and compares it with the ledger: every
/// acknowledged turn and step must be there (else lost), and every stored turn must be one a
/// writer sent, once (else duplicated).
pub(crate) async fn read_back(keyspace: &FaultKeyspace, ledger: &Ledger, read: Consistency) -> ReadBack {
    let store = keyspace.store().with_consistency(ConsistencyLevels { read, write: Consistency::Quorum });
    read_back_through(&store, ledger).await
}

/// [`read_back`] through `store`, at its read consistency: from another client, another
/// datacenter.
pub(crate) async fn read_back_through(store: &ConversationStore, ledger: &Ledger) -> ReadBack {
    let mut found = ReadBack::default();
    for (session_uid, turns) in &ledger.turns {
        let account = &ledger.owners[session_uid];
        let conversation = match store.load_conversation(account, session_uid).await {
            Ok(conversation) => conversation,
            Err(error) => {
                found.lost.push(format!("session {session_uid}: {error}"));
                continue;
            }
        };
        let mut seen = BTreeSet::new();
        for turn in &conversation.turns {
            let uid = &turn.turn.turn_uid;
            if !seen.insert(uid.clone()) || !ledger.attempted_turns.contains(uid) {
                found.duplicated.push(format!("turn {uid} of session {session_uid}"));
            }
        }
        for (turn_uid, turn_type) in turns {
            let Some(stored) = conversation.turn(turn_uid) else {
                found.lost.push(format!("turn {turn_uid} of session {session_uid}"));
                continue;
            };
            if stored.turn.turn_type != *turn_type {
                found.lost.push(format!("turn {turn_uid} reads back as {:?}", stored.turn.turn_type));
            }
            let acked_steps = ledger.steps.get(turn_uid).map(Vec::as_slice).unwrap_or_default();
            let stored_steps: Vec<&str> = stored.steps.iter().map(|step| step.content.as_str()).collect();
            if !stored_steps.starts_with(&acked_steps.iter().map(String::as_str).collect::<Vec<_>>()) {
                found.lost.push(format!("steps of turn {turn_uid}: acked {acked_steps:?}, stored {stored_steps:?}"));
            }
        }
    }
    found
}

/// After a fault is over: every acknowledged write reads back at ALL (every replica answers, and
/// the read repairs any that missed a write), nothing was stored twice, and every session of the
/// keyspace, including those of writes that failed, passes the audit, so no turn is
/// half-denormalized. A session whose rows went missing cannot load, so it counts as lost.
pub(crate) async fn assert_nothing_lost(fault: &str, keyspace: &FaultKeyspace, ledger: &Ledger) {
    let after = read_back(keyspace, ledger, Consistency::All).await;
    let audited =
        audit_all(&keyspace.tables(Consistency::All), Layout::default()).await.expect("the audit scans the keyspace");
    println!(
        "{fault}: acked {}, lost {}, duplicated {}, acked after a retry {} (slowest {:.1} s), failed {}; {}",
        ledger.acked,
        after.lost.len(),
        after.duplicated.len(),
        ledger.retried,
        ledger.slowest.as_secs_f64(),
        ledger.failed.len(),
        audited.summary()
    );
    assert!(after.lost.is_empty(), "{fault}: lost: {:?}", after.lost);
    assert!(after.duplicated.is_empty(), "{fault}: duplicated: {:?}", after.duplicated);
    assert!(audited.is_clean(), "{fault}: a turn is half-denormalized or inconsistent: {:?}", audited.violations);
}
