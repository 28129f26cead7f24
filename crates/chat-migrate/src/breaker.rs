//! The circuit breaker in front of ScyllaDB reads.
//!
//! Closed: reads try ScyllaDB. It opens after `consecutive_failures` failures in a row, or when
//! at least `min_calls` reads within `window` failed at `failure_rate` or more. Open: reads go
//! straight to PostgreSQL for `open_for`. Then half-open: up to `probes` reads try ScyllaDB; when
//! that many succeed it closes, and any failure opens it again.
//!
//! A small state machine of our own: the breaker crates at hand count only one of the two
//! opening conditions, or let any number of reads through while half-open. Time is passed in,
//! so every transition is tested without sleeping.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
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
    /// A half-open probe: try ScyllaDB, and report the outcome.
    Probe,
    /// The breaker is open (or its probes are taken): go to PostgreSQL.
    Skip,
}

#[derive(Debug)]
enum Inner {
    Closed { in_a_row: u32, recent: VecDeque<(Instant, bool)> },
    Open { until: Instant },
    HalfOpen { started: u32, succeeded: u32 },
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
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> CircuitBreaker {
        CircuitBreaker { config, inner: Mutex::new(Inner::Closed { in_a_row: 0, recent: VecDeque::new() }) }
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

    /// Asks to try ScyllaDB at `now`. An open breaker whose time is up turns half-open here.
    pub fn admit(&self, now: Instant) -> (Admission, Option<Transition>) {
        let mut inner = self.lock();
        match &mut *inner {
            Inner::Closed { .. } => (Admission::Try, None),
            Inner::Open { until } if now < *until => (Admission::Skip, None),
            Inner::Open { .. } => {
                *inner = Inner::HalfOpen { started: 1, succeeded: 0 };
                (Admission::Probe, Some(Transition { from: BreakerState::Open, to: BreakerState::HalfOpen }))
            }
            Inner::HalfOpen { started, .. } if *started < self.config.probes => {
                *started += 1;
                (Admission::Probe, None)
            }
            Inner::HalfOpen { .. } => (Admission::Skip, None),
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
            (Inner::HalfOpen { succeeded, .. }, Admission::Probe) => {
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
        let (first, transition) = breaker.admit(later);
        assert_eq!(first, Admission::Probe);
        assert_eq!(transition, Some(Transition { from: BreakerState::Open, to: BreakerState::HalfOpen }));
        let (second, _) = breaker.admit(later);
        assert_eq!(second, Admission::Probe);
        assert_eq!(breaker.admit(later).0, Admission::Skip, "only `probes` reads try while half-open");
        assert_eq!(breaker.record(first, true, later), None);
        assert_eq!(
            breaker.record(second, true, later),
            Some(Transition { from: BreakerState::HalfOpen, to: BreakerState::Closed })
        );
        assert_eq!(breaker.admit(later).0, Admission::Try);

        for _ in 0..3 {
            call(&breaker, false, later);
        }
        let again = later + Duration::from_secs(5);
        let (probe, _) = breaker.admit(again);
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
}
