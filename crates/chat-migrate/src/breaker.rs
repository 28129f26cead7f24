//! The circuit breaker in front of ScyllaDB.
//!
//! Closed: requests try ScyllaDB. It opens after `consecutive_failures` failures in a row, or
//! when at least `min_calls` requests within `window` failed at `failure_rate` or more. Open:
//! requests go straight to PostgreSQL. After `open_for` it may turn half-open, but only for
//! probes: a prober off the users' path (see [`CircuitBreaker::next_probe`]) sends up to
//! `probes` probes, one after another; when that many succeed it closes, and any
//! failure opens it again. A user's request never waits on a ScyllaDB that may still be down:
//! until the breaker is closed, [`CircuitBreaker::admit`] sends it to PostgreSQL. A probe whose
//! task goes away before it reports gives its place back through [`Pending`]'s drop, so the
//! breaker never waits for a report that cannot come.
//!
//! A small state machine of our own: the breaker crates at hand count only one of the two
//! opening conditions, or let any number of requests through while half-open. Time is passed in,
//! so every transition is tested without sleeping.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When the breaker opens and how it recovers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    pub consecutive_failures: u32,
    pub failure_rate: f64,
    pub min_calls: usize,
    pub window: Duration,
    pub open_for: Duration,
    pub probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            consecutive_failures: 5,
            failure_rate: 0.5,
            min_calls: 20,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
            probes: 3,
        }
    }
}

/// The breaker's state, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }

    /// The state as the `chat_migrate_breaker_state` gauge shows it: 0 closed, 1 half-open, 2
    /// open, so a graph rises as ScyllaDB is skipped more.
    pub fn gauge_level(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a read may try ScyllaDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Try ScyllaDB, then report the outcome with [`CircuitBreaker::record`].
    Try,
    /// A half-open probe of round `n`: try ScyllaDB, and report the outcome. The round tells a
    /// probe of an earlier half-open spell from one of the current.
    Probe(u64),
    /// The breaker is open (or its probes are taken): go to PostgreSQL.
    Skip,
}

#[derive(Debug)]
enum Inner {
    Closed { in_a_row: u32, recent: VecDeque<(Instant, bool)> },
    Open { until: Instant },
    HalfOpen { round: u64, started: u32, succeeded: u32 },
}

/// A state change, for the caller to log and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
    /// Half-open spells so far, to number the probes of each.
    rounds: std::sync::atomic::AtomicU64,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> CircuitBreaker {
        CircuitBreaker {
            config,
            inner: Mutex::new(Inner::Closed { in_a_row: 0, recent: VecDeque::new() }),
            rounds: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    pub fn state(&self) -> BreakerState {
        state_of(&self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Asks, for a user's request, to try ScyllaDB: only a closed breaker lets it.
    pub fn admit(&self, _now: Instant) -> (Admission, Option<Transition>) {
        match &*self.lock() {
            Inner::Closed { .. } => (Admission::Try, None),
            Inner::Open { .. } | Inner::HalfOpen { .. } => (Admission::Skip, None),
        }
    }

    /// Asks, for the prober, to probe ScyllaDB at `now`. An open breaker whose time is up turns
    /// half-open here; a closed one needs no probe.
    pub fn admit_probe(&self, now: Instant) -> (Admission, Option<Transition>) {
        let mut inner = self.lock();
        match &mut *inner {
            Inner::Closed { .. } => (Admission::Skip, None),
            Inner::Open { until } if now < *until => (Admission::Skip, None),
            Inner::Open { .. } => {
                let round = self.rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                *inner = Inner::HalfOpen { round, started: 1, succeeded: 0 };
                (Admission::Probe(round), Some(Transition { from: BreakerState::Open, to: BreakerState::HalfOpen }))
            }
            Inner::HalfOpen { round, started, .. } if *started < self.config.probes => {
                *started += 1;
                (Admission::Probe(*round), None)
            }
            Inner::HalfOpen { .. } => (Admission::Skip, None),
        }
    }

    /// When an open breaker may be probed next; `None` unless it is open.
    pub fn probe_due(&self) -> Option<Instant> {
        match &*self.lock() {
            Inner::Open { until } => Some(*until),
            _ => None,
        }
    }

    /// Reports how an admitted read went.
    pub fn record(&self, admission: Admission, success: bool, now: Instant) -> Option<Transition> {
        let mut inner = self.lock();
        let from = state_of(&inner);
        match (&mut *inner, admission) {
            (Inner::Closed { in_a_row, recent }, Admission::Try) => {
                *in_a_row = if success { 0 } else { *in_a_row + 1 };
                recent.push_back((now, success));
                while recent.front().is_some_and(|(at, _)| now.duration_since(*at) > self.config.window) {
                    recent.pop_front();
                }
                let failures = recent.iter().filter(|(_, ok)| !ok).count();
                let rate_tripped = recent.len() >= self.config.min_calls
                    && failures as f64 >= self.config.failure_rate * recent.len() as f64;
                if *in_a_row >= self.config.consecutive_failures || rate_tripped {
                    *inner = Inner::Open { until: now + self.config.open_for };
                }
            }
            (Inner::HalfOpen { round, succeeded, .. }, Admission::Probe(probe_round)) if *round == probe_round => {
                if !success {
                    *inner = Inner::Open { until: now + self.config.open_for };
                } else {
                    *succeeded += 1;
                    if *succeeded >= self.config.probes {
                        *inner = Inner::Closed { in_a_row: 0, recent: VecDeque::new() };
                    }
                }
            }
            // A read admitted before the state changed reports late: it no longer counts.
            _ => {}
        }
        let to = state_of(&inner);
        (from != to).then_some(Transition { from, to })
    }

    /// Takes back an admission that will never report: a probe of the current half-open spell
    /// frees its place for another read. Other admissions hold no place.
    fn abandon(&self, admission: Admission) {
        let mut inner = self.lock();
        if let (Inner::HalfOpen { round, started, succeeded }, Admission::Probe(probe_round)) = (&mut *inner, admission)
        {
            if *round == probe_round && *started > *succeeded {
                *started -= 1;
            }
        }
    }

    /// [`CircuitBreaker::admit_probe`], with the duty to report as a value: report through
    /// [`Pending::record`]; dropped unreported, the admission is taken back.
    pub fn admit_pending(&self, now: Instant) -> (Pending<'_>, Option<Transition>) {
        let (admission, transition) = self.admit_probe(now);
        (Pending { breaker: self, admission: Some(admission) }, transition)
    }
}

/// What a prober does next, from [`CircuitBreaker::next_probe`].
#[derive(Debug)]
pub enum ProbeNext<'a> {
    /// Send a probe and report how it went.
    Probe(Pending<'a>),
    /// Nothing to send before this instant: the breaker is open, or every probe place is taken.
    WaitUntil(Instant),
    /// The breaker is closed: nothing to probe.
    Done,
}

impl CircuitBreaker {
    /// The prober's next step at `now`.
    pub fn next_probe(&self, now: Instant) -> (ProbeNext<'_>, Option<Transition>) {
        let (pending, transition) = self.admit_pending(now);
        let next = match pending.admission() {
            Admission::Probe(_) => ProbeNext::Probe(pending),
            _ => match self.probe_due() {
                Some(due) => ProbeNext::WaitUntil(due.max(now)),
                None if self.state() == BreakerState::Closed => ProbeNext::Done,
                // Half-open, with every place taken by probes still out.
                None => ProbeNext::WaitUntil(now + HALF_OPEN_RECHECK),
            },
        };
        (next, transition)
    }
}

/// How soon a prober looks again at a half-open breaker whose probe places are all taken.
const HALF_OPEN_RECHECK: Duration = Duration::from_millis(20);

/// An admitted probe that still owes its report. The probe's future holds it; if that future is
/// dropped mid-request (its task was cancelled), the drop hands a half-open probe's place back,
/// so a cancelled probe cannot leave the breaker half-open with every place taken for good.
#[derive(Debug)]
pub struct Pending<'a> {
    breaker: &'a CircuitBreaker,
    admission: Option<Admission>,
}

impl Pending<'_> {
    pub fn admission(&self) -> Admission {
        self.admission.unwrap_or(Admission::Skip)
    }

    /// Reports how the read went.
    pub fn record(mut self, success: bool, now: Instant) -> Option<Transition> {
        let admission = self.admission.take()?;
        self.breaker.record(admission, success, now)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            self.breaker.abandon(admission);
        }
    }
}

/// Lowers the breaker's `probing` flag when its prober's task ends in any way, while the task
/// holds the flag.
struct ProbingFlag {
    breaker: std::sync::Weak<ProbedBreaker>,
    held: bool,
}

impl Drop for ProbingFlag {
    fn drop(&mut self) {
        if let (true, Some(breaker)) = (self.held, self.breaker.upgrade()) {
            breaker.probing.store(false, Ordering::SeqCst);
        }
    }
}

/// A request a prober repeats on ScyllaDB: `true` when ScyllaDB served it.
pub type Probe = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// A breaker with its own prober: while it is open, a background task (started when it opens)
/// waits out each open spell and repeats the latest probe it was given until it closes. Users'
/// requests only ever ask [`ProbedBreaker::admit`], which lets them try ScyllaDB while it is
/// closed. Transitions are logged and counted.
pub struct ProbedBreaker {
    breaker: CircuitBreaker,
    /// What it guards, for logs and metrics: "reads" or "inline copies".
    guards: &'static str,
    probing: AtomicBool,
    probe: Mutex<Option<Probe>>,
    opened: AtomicU64,
    closed: AtomicU64,
    skipped: AtomicU64,
}

/// What a breaker did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BreakerCounts {
    /// Times it opened (a failed probe opens it again too).
    pub opened: u64,
    /// Times it closed again.
    pub closed: u64,
    /// Users' requests it kept off ScyllaDB.
    pub skipped: u64,
}

impl ProbedBreaker {
    pub fn new(config: BreakerConfig, guards: &'static str) -> Arc<ProbedBreaker> {
        crate::monitoring::breaker_state(guards, BreakerState::Closed.gauge_level());
        Arc::new(ProbedBreaker {
            breaker: CircuitBreaker::new(config),
            guards,
            probing: AtomicBool::new(false),
            probe: Mutex::new(None),
            opened: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        })
    }

    pub fn state(&self) -> BreakerState {
        self.breaker.state()
    }

    pub fn counts(&self) -> BreakerCounts {
        BreakerCounts {
            opened: self.opened.load(Ordering::Relaxed),
            closed: self.closed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
        }
    }

    /// Whether a user's request may try ScyllaDB now. A breaker that is not closed and has no
    /// prober (its task died with a runtime, say) gets one here.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let admission = self.breaker.admit(Instant::now()).0;
        if admission == Admission::Skip {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            if !self.probing.load(Ordering::SeqCst) {
                self.probe_in_background();
            }
        }
        admission
    }

    /// Reports how an admitted request went. Give the probe first when it failed
    /// ([`ProbedBreaker::set_probe`]): this report may open the breaker and start the prober.
    pub fn record(self: &Arc<Self>, admission: Admission, succeeded: bool) {
        let transition = self.breaker.record(admission, succeeded, Instant::now());
        self.changed(transition);
    }

    /// What the prober repeats from now on: the request that failed last, say.
    pub fn set_probe(&self, probe: Probe) {
        *self.probe.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(probe);
    }

    fn changed(self: &Arc<Self>, transition: Option<Transition>) {
        let Some(Transition { from, to }) = transition else { return };
        let guards = self.guards;
        match to {
            BreakerState::Open => {
                self.opened.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(breaker = guards, %from, %to, "circuit breaker opened: {guards} skip ScyllaDB");
                self.probe_in_background();
            }
            BreakerState::Closed => {
                self.closed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(breaker = guards, %from, %to, "circuit breaker closed: {guards} try ScyllaDB again");
            }
            BreakerState::HalfOpen => {
                tracing::info!(breaker = guards, %from, %to, "circuit breaker half-open: probing")
            }
        }
        crate::monitoring::breaker_transition(guards, to.name(), to.gauge_level());
    }

    /// Starts the prober, unless one runs. It holds the breaker weakly: a breaker dropped while
    /// ScyllaDB is down leaves no task behind.
    fn probe_in_background(self: &Arc<Self>) {
        if self.probing.swap(true, Ordering::SeqCst) {
            return;
        }
        let breaker = Arc::downgrade(self);
        tokio::spawn(async move {
            // However the task ends (a panicking probe, a runtime shutting down), the next
            // user's request finds no prober and starts one.
            let mut flag = ProbingFlag { breaker: breaker.clone(), held: true };
            loop {
                let Some(this) = breaker.upgrade() else { return };
                let wait = {
                    let (next, transition) = this.breaker.next_probe(Instant::now());
                    this.changed(transition);
                    match next {
                        ProbeNext::Probe(pending) => {
                            let probe = this.probe.lock().unwrap_or_else(|poison| poison.into_inner()).clone();
                            let served = match probe {
                                Some(probe) => probe().await,
                                None => false,
                            };
                            this.changed(pending.record(served, Instant::now()));
                            None
                        }
                        ProbeNext::WaitUntil(at) => Some(at),
                        ProbeNext::Done => {
                            flag.held = false;
                            this.probing.store(false, Ordering::SeqCst);
                            // Requests may have opened it again before the flag fell: then this
                            // prober goes on, unless another has started.
                            if this.breaker.state() == BreakerState::Closed || this.probing.swap(true, Ordering::SeqCst)
                            {
                                return;
                            }
                            flag.held = true;
                            None
                        }
                    }
                };
                if let Some(at) = wait {
                    drop(this);
                    tokio::time::sleep_until(at.into()).await;
                }
            }
        });
    }
}

fn state_of(inner: &Inner) -> BreakerState {
    match inner {
        Inner::Closed { .. } => BreakerState::Closed,
        Inner::Open { .. } => BreakerState::Open,
        Inner::HalfOpen { .. } => BreakerState::HalfOpen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            consecutive_failures: 3,
            failure_rate: 0.5,
            min_calls: 6,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
            probes: 2,
        })
    }

    fn call(breaker: &CircuitBreaker, success: bool, now: Instant) -> Option<Transition> {
        let (admission, _) = breaker.admit(now);
        assert_ne!(admission, Admission::Skip);
        breaker.record(admission, success, now)
    }

    #[test]
    fn opens_after_failures_in_a_row_and_skips_while_open() {
        let breaker = breaker();
        let now = Instant::now();
        assert_eq!(call(&breaker, false, now), None);
        assert_eq!(call(&breaker, true, now), None, "a success resets the run");
        assert_eq!(call(&breaker, false, now), None);
        assert_eq!(call(&breaker, false, now), None);
        let opened = call(&breaker, false, now);
        assert_eq!(opened, Some(Transition { from: BreakerState::Closed, to: BreakerState::Open }));
        assert_eq!(breaker.admit(now + Duration::from_secs(4)).0, Admission::Skip);
    }

    #[test]
    fn opens_on_the_failure_rate_within_the_window_only() {
        let breaker = breaker();
        let start = Instant::now();
        // Alternating results never make 3 failures in a row; 3 of 6 is the 50% rate.
        for (index, success) in [true, false, true, false, true].into_iter().enumerate() {
            assert_eq!(call(&breaker, success, start + Duration::from_secs(index as u64)), None);
        }
        assert_eq!(breaker.state(), BreakerState::Closed, "5 calls are below min_calls");
        call(&breaker, false, start + Duration::from_secs(5));
        assert_eq!(breaker.state(), BreakerState::Open);

        // The same pattern spread wider than the window never reaches min_calls within it.
        let breaker = self::breaker();
        for index in 0..12u64 {
            call(&breaker, index % 2 == 0, start + Duration::from_secs(index * 3));
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn half_open_probes_close_it_or_open_it_again() {
        let breaker = breaker();
        let now = Instant::now();
        for _ in 0..3 {
            call(&breaker, false, now);
        }
        let later = now + Duration::from_secs(5);
        assert_eq!(breaker.admit(later).0, Admission::Skip, "a user's request is never a probe");
        assert_eq!(breaker.state(), BreakerState::Open, "and turns nothing half-open");
        let (first, transition) = breaker.admit_probe(later);
        assert!(matches!(first, Admission::Probe(_)));
        assert_eq!(transition, Some(Transition { from: BreakerState::Open, to: BreakerState::HalfOpen }));
        let (second, _) = breaker.admit_probe(later);
        assert_eq!(second, first, "probes of one half-open spell share its round");
        assert_eq!(breaker.admit_probe(later).0, Admission::Skip, "only `probes` probes try while half-open");
        assert_eq!(breaker.admit(later).0, Admission::Skip, "users wait for the probes' verdict");
        assert_eq!(breaker.record(first, true, later), None);
        assert_eq!(
            breaker.record(second, true, later),
            Some(Transition { from: BreakerState::HalfOpen, to: BreakerState::Closed })
        );
        assert_eq!(breaker.admit(later).0, Admission::Try);
        assert_eq!(breaker.admit_probe(later).0, Admission::Skip, "a closed breaker needs no probe");

        for _ in 0..3 {
            call(&breaker, false, later);
        }
        let again = later + Duration::from_secs(5);
        assert_eq!(breaker.probe_due(), Some(again));
        let (probe, _) = breaker.admit_probe(again);
        assert_eq!(
            breaker.record(probe, false, again),
            Some(Transition { from: BreakerState::HalfOpen, to: BreakerState::Open })
        );
        assert_eq!(breaker.admit(again + Duration::from_secs(1)).0, Admission::Skip);
    }

    #[test]
    fn a_late_report_from_before_the_change_does_not_count() {
        let breaker = breaker();
        let now = Instant::now();
        let (early, _) = breaker.admit(now);
        for _ in 0..3 {
            call(&breaker, false, now);
        }
        assert_eq!(breaker.record(early, true, now), None);
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    /// Opens the breaker and waits out `open_for`: the next admission is the first probe.
    fn opened_and_due(breaker: &CircuitBreaker, now: Instant) -> Instant {
        for _ in 0..3 {
            call(breaker, false, now);
        }
        now + Duration::from_secs(5)
    }

    #[test]
    fn cancelled_probes_give_their_places_back() {
        let breaker = breaker();
        let due = opened_and_due(&breaker, Instant::now());
        // Both probes are taken, and both callers go away before ScyllaDB answers.
        let (first, _) = breaker.admit_pending(due);
        let (second, _) = breaker.admit_pending(due);
        assert!(matches!(first.admission(), Admission::Probe(_)));
        assert_eq!(breaker.admit_probe(due).0, Admission::Skip, "every place is taken");
        drop(first);
        drop(second);
        // New reads probe again, and their successes close the breaker.
        let (third, _) = breaker.admit_pending(due);
        let (fourth, _) = breaker.admit_pending(due);
        assert!(matches!(third.admission(), Admission::Probe(_)), "a cancelled probe freed its place");
        assert_eq!(third.record(true, due), None);
        assert_eq!(
            fourth.record(true, due),
            Some(Transition { from: BreakerState::HalfOpen, to: BreakerState::Closed })
        );
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_probe_from_an_earlier_half_open_spell_neither_counts_nor_frees_a_place() {
        let breaker = breaker();
        let due = opened_and_due(&breaker, Instant::now());
        let (stale, _) = breaker.admit_pending(due);
        let (failed, _) = breaker.admit_pending(due);
        assert!(failed.record(false, due).is_some(), "a failed probe opens it again");
        let due = due + Duration::from_secs(5);
        let (current, _) = breaker.admit_pending(due);
        let (other, _) = breaker.admit_pending(due);
        drop(stale);
        assert_eq!(breaker.admit_probe(due).0, Admission::Skip, "the stale probe freed nothing of this spell");
        assert_eq!(current.record(true, due), None, "one success of two");
        assert!(other.record(true, due).is_some(), "the spell's own probes close it");
    }

    #[test]
    fn a_prober_waits_out_the_open_spell_then_probes_until_closed() {
        let breaker = breaker();
        let now = Instant::now();
        assert!(matches!(breaker.next_probe(now).0, ProbeNext::Done), "closed: nothing to probe");
        let due = opened_and_due(&breaker, now);
        assert!(matches!(breaker.next_probe(now).0, ProbeNext::WaitUntil(at) if at == due));
        let (first, transition) = breaker.next_probe(due);
        assert_eq!(transition, Some(Transition { from: BreakerState::Open, to: BreakerState::HalfOpen }));
        let ProbeNext::Probe(first) = first else { panic!("the first probe is due") };
        assert_eq!(first.record(true, due), None);
        let ProbeNext::Probe(second) = breaker.next_probe(due).0 else { panic!("the second probe is due") };
        assert!(second.record(true, due).is_some(), "two successes close it");
        assert!(matches!(breaker.next_probe(due).0, ProbeNext::Done));
    }
}
