//! The rehearsal's live load. Reads run at fixed rates (open loop), each timed from its
//! scheduled start, so a stall shows as latency and is not hidden by requests never sent.
//! Writes come from writers that each play a conversation's whole life, one write at a time as a
//! user would: a session, turns, steps, likes, renames, regenerate and edit branches, active
//! children, a soft delete and a restore, and for some sessions a purge or a final delete. A
//! write that fails is retried, the same request again (ids chosen up front make that safe),
//! until it is acknowledged; every outcome goes to the [`Ledger`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_dataset::rng::Rng;
use chat_dataset::Scale;
use conversation_store::{ConversationApi, StoreError};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::ledger::{
    deleted_value, liked_value, turn_value, Field, Ledger, SessionAddress, Value, WriteKind, EXISTS, GONE,
};
use chat_migrate::migrating::MigratingStore;
use chat_migrate::phase::Phase;

/// Requests per second of each kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadRates {
    /// Writes of every kind, across all writers.
    pub writes: f64,
    pub loads: f64,
    pub recent_sessions: f64,
    pub children: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Write,
    LoadConversation,
    RecentSessions,
    Children,
}

impl Op {
    pub fn is_read(self) -> bool {
        self != Op::Write
    }
}

/// One request: when it was due (since the load began), how long it took from then, and
/// whether it failed.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Duration,
    pub op: Op,
    pub latency: Duration,
    pub error: Option<String>,
}

/// What the requests aim at: the data set's sessions, their accounts and their parent turns.
pub struct Targets {
    sessions: Vec<(String, String, Vec<String>)>,
    accounts: Vec<String>,
}

impl Targets {
    pub fn of(scale: &Scale, seed: u64) -> Targets {
        let sessions: Vec<(String, String, Vec<String>)> = (0..scale.sessions)
            .map(|index| {
                let session = chat_dataset::session(scale, seed, index);
                let parents = session
                    .turns
                    .iter()
                    .filter(|turn| turn.active_child.is_some())
                    .map(|turn| turn.uid.clone())
                    .collect();
                (session.account_uid, session.uid, parents)
            })
            .collect();
        let mut accounts: Vec<String> = sessions.iter().map(|(account, _, _)| account.clone()).collect();
        accounts.sort();
        accounts.dedup();
        Targets { sessions, accounts }
    }
}

/// Requests in flight at most; beyond it a request waits, and its wait counts in its latency.
const MAX_IN_FLIGHT: usize = 512;

/// Writers, each playing one conversation at a time.
pub(super) const WRITERS: usize = 8;

/// How long a writer keeps retrying its last write once the load stops.
const FINAL_RETRIES: Duration = Duration::from_secs(90);

/// A running load.
pub struct Load {
    started: Instant,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    tasks: Vec<JoinHandle<()>>,
    in_flight: Arc<Semaphore>,
}

impl Load {
    /// Starts the load on `stores` (the application's instances, used in turn), recording every
    /// write in `ledger`.
    pub fn start(stores: Vec<MigratingStore>, targets: Arc<Targets>, rates: LoadRates, ledger: Arc<Ledger>) -> Load {
        let load = Load {
            started: Instant::now(),
            stop: Arc::new(AtomicBool::new(false)),
            samples: Arc::new(Mutex::new(Vec::new())),
            tasks: Vec::new(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        };
        let stores = Arc::new(stores);
        let reads = [
            (Op::LoadConversation, rates.loads),
            (Op::RecentSessions, rates.recent_sessions),
            (Op::Children, rates.children),
        ];
        let mut tasks: Vec<JoinHandle<()>> = reads
            .into_iter()
            .filter(|(_, rate)| *rate > 0.0)
            .enumerate()
            .map(|(seed, (op, rate))| load.schedule(stores.clone(), targets.clone(), op, rate, seed as u64))
            .collect();
        if rates.writes > 0.0 {
            let interval = Duration::from_secs_f64(WRITERS as f64 / rates.writes);
            let run = conversation_store::new_id()[..6].to_owned();
            for writer in 0..WRITERS {
                let context = Writer {
                    name: format!("rehearsal-{run}-w{writer}"),
                    index: writer,
                    stores: stores.clone(),
                    targets: targets.clone(),
                    ledger: ledger.clone(),
                    stop: load.stop.clone(),
                    samples: load.samples.clone(),
                    started: load.started,
                    interval,
                };
                tasks.push(tokio::spawn(context.run()));
            }
        }
        Load { tasks, ..load }
    }

    fn schedule(
        &self,
        stores: Arc<Vec<MigratingStore>>,
        targets: Arc<Targets>,
        op: Op,
        rate: f64,
        seed: u64,
    ) -> JoinHandle<()> {
        let (started, stop, samples, in_flight) =
            (self.started, self.stop.clone(), self.samples.clone(), self.in_flight.clone());
        tokio::spawn(async move {
            let interval = Duration::from_secs_f64(1.0 / rate);
            let mut rng = Rng::new(0x5EED ^ seed);
            let mut due = started;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep_until(due.into()).await;
                let (stores, targets, samples) = (stores.clone(), targets.clone(), samples.clone());
                let pick = rng.next_u64();
                let scheduled = due;
                // The slot is taken before the request is spawned, so once this scheduler has
                // ended, `stop` waiting for every slot also waits for the last request it spawned.
                let slot = in_flight.clone().acquire_owned().await;
                tokio::spawn(async move {
                    let _slot = slot;
                    let store = &stores[(pick % stores.len() as u64) as usize];
                    let result = read(store, &targets, op, pick).await;
                    let sample = Sample {
                        at: scheduled.duration_since(started),
                        op,
                        latency: scheduled.elapsed(),
                        error: result.err(),
                    };
                    samples.lock().unwrap_or_else(|poison| poison.into_inner()).push(sample);
                });
                due += interval;
            }
        })
    }

    /// The latencies of the reads scheduled from `from` to `to` (times since the load began)
    /// that have finished so far.
    pub fn read_latencies(&self, from: Duration, to: Duration) -> Vec<Duration> {
        super::report::read_latencies(&self.samples.lock().unwrap_or_else(|poison| poison.into_inner()), from, to)
    }

    /// Time since the load began.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops scheduling, lets each writer finish (retry until acknowledged) the write it is on,
    /// waits for the requests in flight, and returns every sample.
    pub async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        let all = u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX);
        drop(self.in_flight.acquire_many(all).await);
        let mut samples = std::mem::take(&mut *self.samples.lock().unwrap_or_else(|poison| poison.into_inner()));
        samples.sort_by_key(|sample| sample.at);
        samples
    }
}

async fn read(store: &MigratingStore, targets: &Targets, op: Op, pick: u64) -> Result<(), String> {
    let mut rng = Rng::new(pick);
    let (account, session, parents) = &targets.sessions[rng.below(targets.sessions.len())];
    let result = match op {
        Op::Write => Ok(()),
        Op::LoadConversation => store.load_conversation(account, session).await.map(drop),
        Op::RecentSessions => {
            let account = &targets.accounts[rng.skewed_index(targets.accounts.len())];
            store.recent_sessions(account, 20, None).await.map(drop)
        }
        Op::Children => {
            let parent = (!parents.is_empty()).then(|| parents[rng.below(parents.len())].as_str());
            store.children(account, session, parent).await.map(drop)
        }
    };
    result.map_err(|error| error.to_string())
}

/// One write of a conversation's life, with the ids it creates chosen up front.
#[derive(Debug, Clone)]
enum Action {
    Create { title: String },
    Human { turn: String, parent: Option<String>, prompt: String },
    Agent { turn: String, parent: String },
    Step { turn: String, idx: i32, content: String },
    Like { turn: String, liked: Option<bool> },
    Rename { title: String },
    Regenerate { turn: String, of: String, parent: String },
    Edit { turn: String, of: String, parent: Option<String>, prompt: String },
    ActiveChild { parent: Option<String>, child: String },
    SoftDelete,
    Restore,
    Purge,
}

impl Action {
    fn kind(&self) -> WriteKind {
        match self {
            Action::Create { .. } => WriteKind::CreateSession,
            Action::Human { .. } => WriteKind::HumanTurn,
            Action::Agent { .. } => WriteKind::AgentTurn,
            Action::Step { .. } => WriteKind::Step,
            Action::Like { .. } => WriteKind::Like,
            Action::Rename { .. } => WriteKind::Rename,
            Action::Regenerate { .. } => WriteKind::Regenerate,
            Action::Edit { .. } => WriteKind::Edit,
            Action::ActiveChild { .. } => WriteKind::ActiveChild,
            Action::SoftDelete => WriteKind::SoftDelete,
            Action::Restore => WriteKind::Restore,
            Action::Purge => WriteKind::Purge,
        }
    }

    /// The fields the write sets, with their values: what both databases must show after it.
    fn effects(&self) -> Vec<(Field, Value)> {
        fn child_of(parent: &Option<String>, child: &str) -> (Field, Value) {
            match parent {
                None => (Field::ActiveRoot, Some(child.to_owned())),
                Some(parent) => (Field::ActiveChild(parent.clone()), Some(child.to_owned())),
            }
        }
        fn human(turn: &str, parent: &Option<String>, prompt: &str) -> Vec<(Field, Value)> {
            vec![
                (Field::Turn(turn.to_owned()), turn_value("human", parent.as_deref(), Some(prompt))),
                (Field::ActiveChild(turn.to_owned()), None),
                child_of(parent, turn),
            ]
        }
        fn agent(turn: &str, parent: &str) -> Vec<(Field, Value)> {
            vec![
                (Field::Turn(turn.to_owned()), turn_value("agent", Some(parent), None)),
                (Field::ActiveChild(turn.to_owned()), None),
                (Field::Liked(turn.to_owned()), None),
                child_of(&Some(parent.to_owned()), turn),
            ]
        }
        match self {
            Action::Create { title } => vec![
                (Field::Session, Some(EXISTS.to_owned())),
                (Field::Title, Some(title.clone())),
                (Field::Deleted, deleted_value(false)),
                (Field::ActiveRoot, None),
            ],
            Action::Human { turn, parent, prompt } | Action::Edit { turn, parent, prompt, .. } => {
                human(turn, parent, prompt)
            }
            Action::Agent { turn, parent } | Action::Regenerate { turn, parent, .. } => agent(turn, parent),
            Action::Step { turn, idx, content } => vec![(Field::Step(turn.clone(), *idx), Some(content.clone()))],
            Action::Like { turn, liked } => vec![(Field::Liked(turn.clone()), liked_value(*liked))],
            Action::Rename { title } => vec![(Field::Title, Some(title.clone()))],
            Action::ActiveChild { parent, child } => vec![child_of(parent, child)],
            Action::SoftDelete => vec![(Field::Deleted, deleted_value(true))],
            Action::Restore => vec![(Field::Deleted, deleted_value(false))],
            Action::Purge => vec![(Field::Purged, Some(GONE.to_owned()))],
        }
    }

    /// Makes the write; for a new session, returns when it was created.
    async fn perform(
        &self,
        store: &MigratingStore,
        account: &str,
        session: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        match self {
            Action::Create { title } => {
                return Ok(Some(store.create_session_with_id(account, session, title).await?.created_at))
            }
            Action::Human { turn, parent, prompt } => {
                store.append_human_turn(account, session, parent.as_deref(), prompt, Some(turn)).await.map(drop)
            }
            Action::Agent { turn, parent } => {
                store.append_agent_turn(account, session, parent, Some(turn)).await.map(drop)
            }
            Action::Step { turn, idx, content } => {
                store.append_step(account, session, turn, *idx, 1, content).await.map(drop)
            }
            Action::Like { turn, liked } => store.set_liked(account, session, turn, *liked).await,
            Action::Rename { title } => store.rename_session(account, session, title).await,
            Action::Regenerate { turn, of, .. } => store.regenerate(account, session, of, Some(turn)).await.map(drop),
            Action::Edit { turn, of, prompt, .. } => {
                store.edit(account, session, of, prompt, Some(turn)).await.map(drop)
            }
            Action::ActiveChild { parent, child } => {
                store.set_active_child(account, session, parent.as_deref(), child).await
            }
            Action::SoftDelete => store.delete_session(account, session).await,
            Action::Restore => store.restore_session(account, session).await,
            Action::Purge => store.purge_session(account, session).await,
        }?;
        Ok(None)
    }
}

/// A conversation's whole life, `number` telling how it ends: purged, deleted, or kept.
fn conversation(session: &str, number: usize) -> Vec<Action> {
    let id = |name: &str| format!("{session}-{name}");
    let (h1, a1, a2, h2, a3, h3) = (id("h1"), id("a1"), id("a2"), id("h2"), id("a3"), id("h3"));
    let step =
        |turn: &str, idx: i32| Action::Step { turn: turn.to_owned(), idx, content: format!("step {idx} of {turn}") };
    let mut actions = vec![
        Action::Create { title: format!("chat {number}") },
        Action::Human { turn: h1.clone(), parent: None, prompt: format!("first question of {session}") },
        Action::Agent { turn: a1.clone(), parent: h1.clone() },
        step(&a1, 0),
        step(&a1, 1),
        step(&a1, 2),
        Action::Like { turn: a1.clone(), liked: Some(true) },
        Action::Rename { title: format!("chat {number}, renamed") },
        Action::Regenerate { turn: a2.clone(), of: a1.clone(), parent: h1.clone() },
        step(&a2, 0),
        Action::Like { turn: a1.clone(), liked: Some(false) },
        Action::Edit { turn: h2.clone(), of: h1.clone(), parent: None, prompt: "first question, edited".to_owned() },
        Action::Agent { turn: a3.clone(), parent: h2.clone() },
        step(&a3, 0),
        Action::ActiveChild { parent: None, child: h1.clone() },
        Action::ActiveChild { parent: Some(h1.clone()), child: a1.clone() },
        Action::Human { turn: h3, parent: Some(a1.clone()), prompt: format!("second question of {session}") },
        Action::Like { turn: a1, liked: None },
        Action::SoftDelete,
        Action::Restore,
        Action::Rename { title: format!("chat {number}, final") },
    ];
    match number % 4 {
        0 => actions.push(Action::Purge),
        1 => actions.push(Action::SoftDelete),
        _ => {}
    }
    actions
}

/// How a write came out once its writer stopped retrying it.
enum Settled {
    /// With the phase the instance served when the acknowledged try began.
    Acknowledged(Option<chrono::DateTime<chrono::Utc>>, Phase),
    /// It failed at least once in a way that may have written, and was not acknowledged since.
    Unknown(Phase),
    /// Refused at the first try: nothing was written.
    Refused(Phase, String),
}

/// A failure worth retrying: a database failed, or the phase moved under the write.
fn transient(error: &StoreError) -> bool {
    matches!(error, StoreError::Database(_) | StoreError::Relational { .. } | StoreError::WritesMoved { .. })
}

/// One writer: conversation after conversation, one write at a time, paced at `interval`.
struct Writer {
    name: String,
    index: usize,
    stores: Arc<Vec<MigratingStore>>,
    targets: Arc<Targets>,
    ledger: Arc<Ledger>,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    started: Instant,
    interval: Duration,
}

impl Writer {
    async fn run(self) {
        let mut due = Instant::now() + self.interval.mul_f64(self.index as f64 / WRITERS as f64);
        let mut next = 0;
        'conversations: while !self.stop.load(Ordering::Relaxed) {
            // Taken before the conversation begins: one abandoned half way is not begun again.
            let number = next;
            next += 1;
            let session = format!("{}-s{number}", self.name);
            let account = &self.targets.accounts[(self.index + number * WRITERS) % self.targets.accounts.len()];
            let store = &self.stores[(self.index + number) % self.stores.len()];
            for action in conversation(&session, number) {
                if self.stop.load(Ordering::Relaxed) {
                    break 'conversations;
                }
                tokio::time::sleep_until(due.into()).await;
                due = Instant::now().max(due) + self.interval;
                let effects = action.effects();
                match self.settle(store, account, &session, &action).await {
                    Settled::Acknowledged(created_at, phase) => {
                        if let Some(created_at) = created_at {
                            let address = SessionAddress { account_uid: account.clone(), created_at };
                            self.ledger.created(&session, address);
                        }
                        self.ledger.acknowledged(action.kind(), phase, &session, effects);
                    }
                    Settled::Unknown(phase) => {
                        self.ledger.unknown(action.kind(), phase, &session, effects);
                        continue 'conversations;
                    }
                    Settled::Refused(phase, error) => {
                        self.ledger.refused_write(action.kind(), phase, &session, &error);
                        continue 'conversations;
                    }
                }
            }
        }
    }

    /// Makes the write, and retries it while it fails for a passing reason, until acknowledged;
    /// once the load stops, for [`FINAL_RETRIES`] more at most.
    async fn settle(&self, store: &MigratingStore, account: &str, session: &str, action: &Action) -> Settled {
        let mut may_have_written = false;
        let mut backoff = Duration::from_millis(50);
        let mut stopped_at: Option<Instant> = None;
        loop {
            let attempt = Instant::now();
            let phase = store.routing().phase;
            let result = action.perform(store, account, session).await;
            let error = result.as_ref().err().map(ToString::to_string);
            let sample =
                Sample { at: attempt.duration_since(self.started), op: Op::Write, latency: attempt.elapsed(), error };
            self.samples.lock().unwrap_or_else(|poison| poison.into_inner()).push(sample);
            match result {
                Ok(created_at) => return Settled::Acknowledged(created_at, phase),
                // A purge retried after a failure that did purge finds nothing left.
                Err(StoreError::NotFound { .. }) if may_have_written && matches!(action, Action::Purge) => {
                    return Settled::Acknowledged(None, phase)
                }
                Err(error) if transient(&error) => {
                    may_have_written = true;
                    tracing::debug!(writer = self.name, %error, "write failed; retrying");
                }
                Err(error) => {
                    tracing::warn!(writer = self.name, session, ?action, %error, "write refused");
                    return if may_have_written {
                        Settled::Unknown(phase)
                    } else {
                        Settled::Refused(phase, error.to_string())
                    };
                }
            }
            if self.stop.load(Ordering::Relaxed)
                && stopped_at.get_or_insert_with(Instant::now).elapsed() > FINAL_RETRIES
            {
                return Settled::Unknown(phase);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }
}
