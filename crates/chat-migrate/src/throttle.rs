//! The backfill's adaptive throttle (`--max-live-p99`): it holds the latency of live reads under a
//! target, as gh-ost holds replica lag, by slowing the backfill while the target is missed and
//! speeding it up again once it holds.
//!
//! Live reads are measured by probes that read as the application does, in the background: a
//! conversation load from each database the phase reads from. A probe runs every
//! [`PROBE_EVERY`], timed from when it was due (or from the end of the one before, if that ran
//! late), as an open-loop client times its requests. Once a second the throttle takes the p99 of
//! the last [`WINDOW`] of readings, once it has at least [`MIN_READINGS`] of them, so that the p99
//! is not the single slowest reading; readings due before its last slowdown do not count.
//! Missed, the allowed rate halves (from what the backfill has been writing, when that is less);
//! held, it grows by a fifth. It never falls below [`MIN_ROWS_PER_SECOND`], so a target the
//! servers miss even when idle slows the backfill down but never stops it, and `--rate` stays a
//! hard cap on top.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::breaker::Probe;

/// How often each probe reads.
pub const PROBE_EVERY: Duration = Duration::from_millis(25);
/// The probes one decision looks at.
pub const WINDOW: Duration = Duration::from_secs(5);
/// Readings a decision needs: with fewer, a p99 is only the slowest one.
pub const MIN_READINGS: usize = 100;
/// Probe readings kept for the report at most (a day at the probes' pace).
const REPORTED_READINGS_AT_MOST: usize = 4_000_000;
/// How often the allowed rate is decided again.
const ADJUST_EVERY: Duration = Duration::from_secs(1);
/// The backfill's rate never goes below this.
pub const MIN_ROWS_PER_SECOND: f64 = 100.0;
/// A held target raises the rate by this factor.
const SPEED_UP: f64 = 1.2;
/// A missed target cuts the rate by this factor.
const SLOW_DOWN: f64 = 0.5;

/// What the throttle did in a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleReport {
    /// The live reads' p99 it held to.
    pub target: Duration,
    /// Probe reads made, and the p99 of all of them.
    pub probes: u64,
    pub probe_p99: Duration,
    /// Decisions made, and those that found the target missed and slowed down.
    pub decisions: u64,
    pub slowdowns: u64,
    /// The lowest rate it allowed, in rows per second (`None`: it never had to limit).
    pub lowest_limit: Option<f64>,
}

/// The rate decision, kept apart from time and I/O so it can be tested on its own.
#[derive(Debug, Clone, PartialEq)]
struct Controller {
    target: Duration,
    cap: Option<f64>,
    /// Rows per second allowed; `None` while nothing has been missed (only the cap holds).
    limit: Option<f64>,
    /// Rows per second the backfill has been admitted lately (half the last second's, half
    /// what came before): batches are admitted in lumps, so one second alone says little.
    recent: Option<f64>,
    decisions: u64,
    slowdowns: u64,
    lowest_limit: Option<f64>,
}

impl Controller {
    fn new(target: Duration, cap: Option<f64>) -> Controller {
        Controller { target, cap, limit: None, recent: None, decisions: 0, slowdowns: 0, lowest_limit: None }
    }

    /// Decides the next limit from the window's p99 and the rows per second admitted since the
    /// last decision. With too few readings (just after a slowdown, say), nothing is known: the
    /// limit stays. Returns whether it slowed down.
    fn decide(&mut self, p99: Option<Duration>, admitted_per_second: f64) -> bool {
        let recent = match self.recent {
            Some(recent) => (recent + admitted_per_second) / 2.0,
            None => admitted_per_second,
        };
        self.recent = Some(recent);
        let Some(p99) = p99 else { return false };
        self.decisions += 1;
        let cap = self.cap.unwrap_or(f64::MAX);
        if p99 > self.target {
            self.slowdowns += 1;
            // From what was really admitted, when less than the limit: a limit far above the
            // backfill's own speed would take many halvings to bite.
            let from = self.limit.unwrap_or(f64::MAX).min(cap);
            let from = if recent >= MIN_ROWS_PER_SECOND { from.min(recent) } else { from };
            let limit =
                if from == f64::MAX { MIN_ROWS_PER_SECOND } else { (from * SLOW_DOWN).max(MIN_ROWS_PER_SECOND) };
            self.limit = Some(limit);
            self.lowest_limit = Some(self.lowest_limit.map_or(limit, |lowest| lowest.min(limit)));
            true
        } else {
            if let Some(limit) = self.limit {
                // Growing past four times what the backfill manages would only store up a burst.
                let ceiling = (recent.max(MIN_ROWS_PER_SECOND) * 4.0).max(limit);
                self.limit = Some((limit * SPEED_UP).min(ceiling).min(cap));
            }
            false
        }
    }
}

/// Spaces the admitted rows at the current limit: each request is given the moment the previous
/// one's rows are paid for, so tasks running at once share the limit.
#[derive(Debug)]
struct Pacer {
    next_free: Instant,
}

impl Pacer {
    /// When `rows` may start at `limit` rows per second, seen at `now`.
    fn admit(&mut self, rows: usize, limit: Option<f64>, now: Instant) -> Instant {
        let Some(limit) = limit else {
            self.next_free = now;
            return now;
        };
        let start = self.next_free.max(now);
        self.next_free = start + Duration::from_secs_f64(rows as f64 / limit.max(MIN_ROWS_PER_SECOND));
        start
    }
}

/// One probe reading: when it was due, and how long it took (a failed read counts as the probe
/// timeout).
type Reading = (Instant, Duration);

struct Shared {
    controller: Mutex<Controller>,
    pacer: Mutex<Pacer>,
    readings: Mutex<VecDeque<Reading>>,
    /// Every reading, in microseconds, for the report.
    all_readings: Mutex<Vec<u32>>,
    probes: AtomicU64,
    admitted_rows: AtomicU64,
}

/// The throttle of one backfill. Its probes and decisions run in a background task that ends
/// when the throttle is dropped.
pub struct AdaptiveThrottle {
    shared: Arc<Shared>,
}

impl AdaptiveThrottle {
    /// Starts probing with `probes` and deciding every second. `cap` is `--rate`, if any.
    pub fn start(target: Duration, cap: Option<NonZeroU32>, probes: Vec<Probe>) -> AdaptiveThrottle {
        let shared = Arc::new(Shared {
            controller: Mutex::new(Controller::new(target, cap.map(|cap| f64::from(cap.get())))),
            pacer: Mutex::new(Pacer { next_free: Instant::now() }),
            readings: Mutex::new(VecDeque::new()),
            all_readings: Mutex::new(Vec::new()),
            probes: AtomicU64::new(0),
            admitted_rows: AtomicU64::new(0),
        });
        // A probe that hangs counts as this slow, and does not hold up the next.
        let probe_timeout = (target * 4).max(Duration::from_millis(200));
        for probe in probes {
            tokio::spawn(run_probe(Arc::downgrade(&shared), probe, probe_timeout));
        }
        tokio::spawn(decide_every_second(Arc::downgrade(&shared)));
        AdaptiveThrottle { shared }
    }

    /// Waits until `rows` more rows may be written.
    pub async fn wait_for(&self, rows: usize) {
        self.shared.admitted_rows.fetch_add(rows as u64, Ordering::Relaxed);
        let limit = lock(&self.shared.controller).limit;
        let start = lock(&self.shared.pacer).admit(rows, limit, Instant::now());
        tokio::time::sleep_until(start.into()).await;
    }

    /// The rows per second allowed now (`None`: no limit but the cap).
    pub fn limit(&self) -> Option<f64> {
        lock(&self.shared.controller).limit
    }

    pub fn report(&self) -> ThrottleReport {
        let controller = lock(&self.shared.controller).clone();
        let mut all: Vec<Duration> =
            lock(&self.shared.all_readings).iter().map(|micros| Duration::from_micros(u64::from(*micros))).collect();
        all.sort_unstable();
        ThrottleReport {
            target: controller.target,
            probes: self.shared.probes.load(Ordering::Relaxed),
            probe_p99: p99(&all).unwrap_or_default(),
            decisions: controller.decisions,
            slowdowns: controller.slowdowns,
            lowest_limit: controller.lowest_limit,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The nearest-rank 99th percentile of sorted readings.
fn p99(sorted: &[Duration]) -> Option<Duration> {
    let rank = (sorted.len() * 99).div_ceil(100);
    sorted.get(rank.checked_sub(1)?).copied()
}

async fn run_probe(shared: Weak<Shared>, probe: Probe, timeout: Duration) {
    let mut every = tokio::time::interval(PROBE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous_end = Instant::now();
    loop {
        // Timed from when the read was due, as an open-loop client times its requests: a
        // runtime too busy to start it on time is part of what live reads see. A reading that
        // was due while the one before still ran starts when that one ended: its own slowness
        // was counted once already.
        let due = every.tick().await.into_std().max(previous_end);
        if shared.strong_count() == 0 {
            return;
        }
        let answered = matches!(tokio::time::timeout(timeout, probe()).await, Ok(true));
        let took = if answered { due.elapsed() } else { timeout.max(due.elapsed()) };
        previous_end = Instant::now();
        let Some(shared) = shared.upgrade() else { return };
        lock(&shared.readings).push_back((due, took));
        shared.probes.fetch_add(1, Ordering::Relaxed);
        let mut all = lock(&shared.all_readings);
        if all.len() < REPORTED_READINGS_AT_MOST {
            all.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
        }
    }
}

async fn decide_every_second(shared: Weak<Shared>) {
    let mut every = tokio::time::interval(ADJUST_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    let mut last = Instant::now();
    // Readings due before the last slowdown measured the old rate.
    let mut counted_from = last;
    loop {
        every.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        let now = Instant::now();
        let window: Vec<Duration> = {
            let mut readings = lock(&shared.readings);
            while readings.front().is_some_and(|(due, _)| now.duration_since(*due) > WINDOW) {
                readings.pop_front();
            }
            let mut window: Vec<Duration> =
                readings.iter().filter(|(due, _)| *due >= counted_from).map(|(_, took)| *took).collect();
            window.sort_unstable();
            window
        };
        let admitted = shared.admitted_rows.swap(0, Ordering::Relaxed) as f64;
        let per_second = admitted / now.duration_since(last).as_secs_f64().max(1e-3);
        last = now;
        let p99 = if window.len() >= MIN_READINGS { p99(&window) } else { None };
        let (limit, slowed) = {
            let mut controller = lock(&shared.controller);
            let slowed = controller.decide(p99, per_second);
            (controller.limit, slowed)
        };
        if slowed {
            counted_from = now;
        }
        crate::monitoring::throttle(limit, p99);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: Duration = Duration::from_millis(20);

    #[test]
    fn a_missed_target_halves_from_what_was_written_and_a_held_one_grows_back() {
        let mut controller = Controller::new(TARGET, None);
        controller.decide(Some(Duration::from_millis(5)), 30_000.0);
        assert_eq!(controller.limit, None, "nothing missed yet: no limit");
        controller.decide(Some(Duration::from_millis(40)), 30_000.0);
        assert_eq!(controller.limit, Some(15_000.0));
        controller.decide(Some(Duration::from_millis(40)), 15_000.0);
        assert_eq!(controller.limit, Some(7_500.0));
        controller.decide(Some(Duration::from_millis(10)), 7_500.0);
        assert_eq!(controller.limit, Some(9_000.0));
        assert_eq!((controller.decisions, controller.slowdowns), (4, 2));
        assert_eq!(controller.lowest_limit, Some(7_500.0));
    }

    #[test]
    fn the_rate_stays_between_the_floor_and_the_cap() {
        let mut controller = Controller::new(TARGET, Some(10_000.0));
        for _ in 0..30 {
            controller.decide(Some(Duration::from_secs(1)), 50.0);
        }
        assert_eq!(controller.limit, Some(MIN_ROWS_PER_SECOND), "a hopeless target slows, never stops");
        for _ in 0..60 {
            let admitted = controller.limit.unwrap();
            controller.decide(Some(Duration::from_millis(1)), admitted);
        }
        assert_eq!(controller.limit, Some(10_000.0), "never past --rate");
    }

    #[test]
    fn a_limit_the_backfill_does_not_reach_stops_growing() {
        let mut controller = Controller::new(TARGET, None);
        controller.decide(Some(Duration::from_millis(40)), 2_000.0);
        for _ in 0..20 {
            controller.decide(Some(Duration::from_millis(1)), 2_000.0);
        }
        assert_eq!(controller.limit, Some(8_000.0), "four times what it writes at most");
        controller.decide(Some(Duration::from_millis(40)), 2_000.0);
        assert_eq!(controller.limit, Some(1_000.0), "the next miss halves what it wrote, not the limit");
    }

    #[test]
    fn no_reading_changes_no_limit() {
        let mut controller = Controller::new(TARGET, None);
        controller.decide(Some(Duration::from_millis(40)), 1_000.0);
        assert!(!controller.decide(None, 0.0));
        assert_eq!((controller.limit, controller.decisions, controller.slowdowns), (Some(500.0), 1, 1));
    }

    #[test]
    fn a_miss_in_a_second_that_admitted_nothing_halves_rather_than_drops_to_the_floor() {
        let mut controller = Controller::new(TARGET, None);
        controller.decide(Some(Duration::from_millis(40)), 8_000.0);
        assert_eq!(controller.limit, Some(4_000.0));
        controller.decide(Some(Duration::from_millis(40)), 0.0);
        assert_eq!(controller.limit, Some(2_000.0), "one batch in flight the whole second is no sign of 0 rows/s");
    }

    #[test]
    fn a_slowdown_starts_under_the_cap() {
        let mut controller = Controller::new(TARGET, Some(1_000.0));
        assert!(controller.decide(Some(Duration::from_millis(40)), 30_000.0));
        assert_eq!(controller.limit, Some(500.0));
    }

    #[test]
    fn the_pacer_spaces_requests_at_the_limit() {
        let now = Instant::now();
        let mut pacer = Pacer { next_free: now };
        assert_eq!(pacer.admit(1_000, None, now), now, "no limit: at once");
        assert_eq!(pacer.admit(1_000, Some(1_000.0), now), now);
        assert_eq!(pacer.admit(500, Some(1_000.0), now), now + Duration::from_secs(1));
        assert_eq!(pacer.admit(1, Some(1_000.0), now), now + Duration::from_millis(1_500));
        let later = now + Duration::from_secs(10);
        assert_eq!(pacer.admit(1, Some(1_000.0), later), later, "time not used is not stored up");
    }

    #[test]
    fn p99_is_the_nearest_rank() {
        assert_eq!(p99(&[]), None);
        let ms = |n: u64| Duration::from_millis(n);
        assert_eq!(p99(&[ms(3)]), Some(ms(3)));
        let hundred: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(p99(&hundred), Some(ms(99)));
        let forty: Vec<Duration> = (1..=40).map(ms).collect();
        assert_eq!(p99(&forty), Some(ms(40)));
    }
}
