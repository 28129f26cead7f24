//! The rehearsal's live load: new turns and the three reads, each at a fixed rate (open loop),
//! each request timed from its scheduled start, so a stall shows as latency and is not hidden
//! by requests that were never sent.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_dataset::rng::Rng;
use chat_dataset::Scale;
use conversation_store::ConversationApi;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::migrating::MigratingStore;

/// Requests per second of each kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadRates {
    /// New turns (a human turn appended to a session).
    pub writes: f64,
    pub loads: f64,
    pub histories: f64,
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

/// A running load.
pub struct Load {
    started: Instant,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    acknowledged_turns: Arc<AtomicU64>,
    schedulers: Vec<JoinHandle<()>>,
    in_flight: Arc<Semaphore>,
}

impl Load {
    pub fn start(store: MigratingStore, targets: Arc<Targets>, rates: LoadRates) -> Load {
        let load = Load {
            started: Instant::now(),
            stop: Arc::new(AtomicBool::new(false)),
            samples: Arc::new(Mutex::new(Vec::new())),
            acknowledged_turns: Arc::new(AtomicU64::new(0)),
            schedulers: Vec::new(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        };
        let kinds = [
            (Op::Write, rates.writes),
            (Op::LoadConversation, rates.loads),
            (Op::RecentSessions, rates.histories),
            (Op::Children, rates.children),
        ];
        let schedulers = kinds
            .into_iter()
            .filter(|(_, rate)| *rate > 0.0)
            .enumerate()
            .map(|(seed, (op, rate))| load.schedule(store.clone(), targets.clone(), op, rate, seed as u64))
            .collect();
        Load { schedulers, ..load }
    }

    fn schedule(&self, store: MigratingStore, targets: Arc<Targets>, op: Op, rate: f64, seed: u64) -> JoinHandle<()> {
        let (started, stop, samples, acknowledged, in_flight) = (
            self.started,
            self.stop.clone(),
            self.samples.clone(),
            self.acknowledged_turns.clone(),
            self.in_flight.clone(),
        );
        tokio::spawn(async move {
            let interval = Duration::from_secs_f64(1.0 / rate);
            let mut rng = Rng::new(0x5EED ^ seed);
            let mut due = started;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep_until(due.into()).await;
                let (store, targets, samples, acknowledged, in_flight) =
                    (store.clone(), targets.clone(), samples.clone(), acknowledged.clone(), in_flight.clone());
                let pick = rng.next_u64();
                let scheduled = due;
                // The slot is taken before the request is spawned, so once this scheduler has
                // ended, `stop` waiting for every slot also waits for the last request it spawned
                // (taken inside the task, a request not yet polled could write after the count).
                let slot = in_flight.acquire_owned().await;
                tokio::spawn(async move {
                    let _slot = slot;
                    let result = run(&store, &targets, op, pick).await;
                    if op == Op::Write && result.is_ok() {
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                    }
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

    /// Time since the load began.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops scheduling, waits for the requests in flight, and returns every sample and the
    /// number of acknowledged new turns.
    pub async fn stop(self) -> (Vec<Sample>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for scheduler in self.schedulers {
            let _ = scheduler.await;
        }
        let all = u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX);
        drop(self.in_flight.acquire_many(all).await);
        let mut samples = std::mem::take(&mut *self.samples.lock().unwrap_or_else(|poison| poison.into_inner()));
        samples.sort_by_key(|sample| sample.at);
        (samples, self.acknowledged_turns.load(Ordering::Relaxed))
    }
}

async fn run(store: &MigratingStore, targets: &Targets, op: Op, pick: u64) -> Result<(), String> {
    let mut rng = Rng::new(pick);
    let (account, session, parents) = &targets.sessions[rng.below(targets.sessions.len())];
    let result = match op {
        Op::Write => store
            .append_human_turn(account, session, None, "a question asked during the rehearsal", None)
            .await
            .map(drop),
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
