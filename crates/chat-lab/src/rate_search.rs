//! The highest open-loop rate that keeps p99 within [`P99_TARGET_MS`], for several systems side
//! by side.
//!
//! The systems climb the rate ladder together: at each rate every system still climbing runs
//! its point in turn, and the bisection afterwards alternates the same way. The node's behaviour
//! drifts over minutes on a shared machine (its collector's pauses lengthen and shorten as the
//! heap settles), so ladders run one after another would each meet a different node, and their
//! ratio would say more about when each ran than about the systems.
//!
//! One ladder's answer rests on a few short points, and on a machine whose cores the node, the
//! client and PostgreSQL share, one stall of 100 ms fails a point: the same system's highest
//! rate differs by 2x from one ladder to the next. So the whole side-by-side ladder runs
//! [`BenchConfig::ladder_rounds`] times, and each system's figure is the median over the rounds.

use std::sync::Arc;
use std::time::Duration;

use crate::cpu_time::ServerCpu;
use crate::data_set::Targets;
use crate::driver::print_point;
use crate::driver::{open_loop, Measurement, Operation};
use crate::model::{BenchConfig, Pattern, System, MIN_RATE_POINT_REQUESTS, P99_TARGET_MS};
use crate::sides::Sides;

/// One system's result over all rounds.
#[derive(Default)]
pub struct HighestRate {
    /// The median over the rounds of each round's highest rate that passed; `None` if even the
    /// lowest rate missed in most rounds.
    pub rate_per_second: Option<f64>,
    /// Each round's highest rate that passed, in the order the rounds ran.
    pub rounds: Vec<Option<f64>>,
    /// Every point tried, by rate; a rate appears once for each round that tried it.
    pub tried: Vec<Measurement>,
}

/// Loading a conversation on each of `systems`, side by side (see [`highest_rates`]). Results
/// come back in the order of `systems`.
pub(crate) async fn highest_load_rates(
    sides: &Sides,
    systems: &[System],
    targets: &Arc<Targets>,
    config: &BenchConfig,
) -> Vec<HighestRate> {
    let climbers: Vec<Climber> = systems
        .iter()
        .map(|&system| Climber {
            label: system.label(),
            op: sides.operation(Pattern::LoadConversation, system, targets),
            server: sides.server_cpu(system).clone(),
        })
        .collect();
    highest_rates(&climbers, config).await
}

/// One system on the ladder: what it runs and the server whose CPU its points report.
struct Climber {
    label: &'static str,
    op: Operation,
    server: ServerCpu,
}

/// Runs the side-by-side ladder `config.ladder_rounds` times. Results come back in the order of
/// `systems`.
async fn highest_rates(systems: &[Climber], config: &BenchConfig) -> Vec<HighestRate> {
    let rounds = config.ladder_rounds.max(1);
    let mut results: Vec<HighestRate> = systems.iter().map(|_| HighestRate::default()).collect();
    for round in 1..=rounds {
        if rounds > 1 {
            println!("  round {round} of {rounds}");
        }
        for (result, climb) in results.iter_mut().zip(climb_side_by_side(systems, config).await) {
            result.rounds.push(climb.best);
            result.tried.extend(climb.tried);
        }
    }
    for result in &mut results {
        // A stable sort: within a rate, the rounds stay in the order they ran.
        result.tried.sort_by(|a, b| a.offered_rate.partial_cmp(&b.offered_rate).unwrap_or(std::cmp::Ordering::Equal));
        result.rate_per_second = median(&result.rounds);
    }
    results
}

/// The median of the rounds' highest rates, a round in which even the lowest rate missed
/// counting below every rate. With an even count, the lower of the middle two: the figure is
/// one that at least half of the rounds reached.
pub(crate) fn median(rounds: &[Option<f64>]) -> Option<f64> {
    let mut sorted = rounds.to_vec();
    // `None` orders below every `Some`.
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    sorted.get(sorted.len().checked_sub(1)? / 2).copied().flatten()
}

/// Climbs the config's rate ladder for every system at once and narrows each gap by bisection:
/// one round. Results come back in the order of `systems`.
async fn climb_side_by_side(systems: &[Climber], config: &BenchConfig) -> Vec<Climb> {
    let mut climbs: Vec<Climb> = systems.iter().map(|_| Climb::default()).collect();
    for &rate in &config.load_rate_ladder {
        if climbs.iter().all(|climb| climb.stopped) {
            break;
        }
        for (climb, climber) in climbs.iter_mut().zip(systems) {
            if !climb.stopped {
                let outcome = rate_point(climber, rate, config, &mut climb.tried).await;
                climb.climbed(rate, outcome);
            }
        }
    }
    for _ in 0..config.refinements {
        for (climb, climber) in climbs.iter_mut().zip(systems) {
            if let Some(rate) = climb.next_refinement() {
                let outcome = rate_point(climber, rate, config, &mut climb.tried).await;
                climb.refined(rate, outcome);
            }
        }
    }
    climbs
}

/// One system's progress up the ladder.
#[derive(Default)]
struct Climb {
    /// The highest rate that passed.
    best: Option<f64>,
    /// The lowest rate above `best` that did not pass.
    failed: Option<f64>,
    failures_in_a_row: u32,
    stopped: bool,
    tried: Vec<Measurement>,
}

impl Climb {
    fn climbed(&mut self, rate: f64, outcome: RatePoint) {
        match outcome {
            RatePoint::Passed => {
                self.best = Some(rate);
                self.failed = None;
                self.failures_in_a_row = 0;
            }
            // One failed rate can be a single pause (a collection, a compaction) in a short
            // point, so the climb stops only after two failed rates in a row.
            RatePoint::Missed => {
                self.failed = self.failed.or(Some(rate));
                self.failures_in_a_row += 1;
                self.stopped = self.failures_in_a_row == 2;
            }
            // Past saturation every higher rate fails too; no need to try them.
            RatePoint::Overloaded => {
                self.failed = self.failed.or(Some(rate));
                self.stopped = true;
            }
        }
    }

    /// The middle of the gap between the highest rate that passed and the failed rate above it.
    /// Below the ladder's lowest rate there is nothing worth narrowing: that rate is the bound.
    fn next_refinement(&self) -> Option<f64> {
        let (low, high) = (self.best?, self.failed?);
        let rate = ((low + high) / 2.0).round();
        (rate > low && rate < high).then_some(rate)
    }

    fn refined(&mut self, rate: f64, outcome: RatePoint) {
        if outcome == RatePoint::Passed {
            self.best = Some(rate);
        } else {
            self.failed = Some(rate);
        }
    }
}

/// How one point of the rate search went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RatePoint {
    /// p99 within the target, the rate kept up with, no errors.
    Passed,
    /// p99 over the target, but the server kept up: possibly one pause.
    Missed,
    /// The server fell behind the rate, p99 was far over the target, or requests failed.
    Overloaded,
}

/// Runs one open-loop point of the rate search.
async fn rate_point(climber: &Climber, rate: f64, config: &BenchConfig, tried: &mut Vec<Measurement>) -> RatePoint {
    // At low rates a short point holds too few requests for a meaningful p99 (at 75 requests
    // p99 is the maximum), so each point runs long enough for MIN_RATE_POINT_REQUESTS, within
    // four times the usual point.
    let needed = Duration::from_secs_f64(MIN_RATE_POINT_REQUESTS / rate.max(0.001));
    let duration = needed.clamp(config.point, config.point * 4);
    let measurement = open_loop(climber.op.clone(), &climber.server, rate, config.warmup, duration, config.seed).await;
    print_point(&format!("{}, open {rate:>6.0}/s", climber.label), &measurement);
    let outcome = judge(&measurement);
    tried.push(measurement);
    outcome
}

/// How an open-loop point went, against the rate it was offered.
fn judge(measurement: &Measurement) -> RatePoint {
    let rate = measurement.offered_rate.unwrap_or(0.0);
    let kept_up = measurement.throughput() >= 0.95 * rate;
    // Far over the target is saturation too, not a pause.
    let saturated = measurement.percentile_ms(99.0) > 5.0 * P99_TARGET_MS;
    if measurement.errors > 0 || !kept_up || saturated {
        RatePoint::Overloaded
    } else if measurement.percentile_ms(99.0) <= P99_TARGET_MS {
        RatePoint::Passed
    } else {
        RatePoint::Missed
    }
}

/// Whether an open-loop point of the search passed: p99 within the target, the rate kept up
/// with, no errors.
pub(crate) fn passed(measurement: &Measurement) -> bool {
    judge(measurement) == RatePoint::Passed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_misses_in_a_row_stop_the_climb_and_the_gap_is_bisected() {
        let mut climb = Climb::default();
        climb.climbed(100.0, RatePoint::Passed);
        climb.climbed(200.0, RatePoint::Missed);
        assert!(!climb.stopped, "one miss can be a single pause");
        climb.climbed(400.0, RatePoint::Passed);
        climb.climbed(800.0, RatePoint::Missed);
        climb.climbed(1600.0, RatePoint::Missed);
        assert!(climb.stopped);
        assert_eq!(climb.next_refinement(), Some(600.0));
        climb.refined(600.0, RatePoint::Passed);
        assert_eq!(climb.next_refinement(), Some(700.0));
        climb.refined(700.0, RatePoint::Missed);
        assert_eq!((climb.best, climb.failed), (Some(600.0), Some(700.0)));
    }

    #[test]
    fn a_system_that_misses_the_lowest_rate_has_no_highest_rate_and_nothing_to_narrow() {
        let mut climb = Climb::default();
        climb.climbed(25.0, RatePoint::Overloaded);
        assert!(climb.stopped);
        assert_eq!(climb.best, None);
        assert_eq!(climb.next_refinement(), None);
    }

    #[test]
    fn the_figure_is_the_median_round_and_a_round_below_the_ladder_counts_lowest() {
        assert_eq!(median(&[Some(400.0), Some(200.0), Some(550.0)]), Some(400.0));
        assert_eq!(median(&[None, Some(800.0), Some(300.0)]), Some(300.0));
        assert_eq!(median(&[None, None, Some(300.0)]), None);
        assert_eq!(median(&[Some(300.0), Some(500.0)]), Some(300.0), "the lower middle: half the rounds reached it");
        assert_eq!(median(&[Some(250.0)]), Some(250.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn the_bisection_stops_when_the_gap_is_one_rate_wide() {
        let climb = Climb { best: Some(450.0), failed: Some(451.0), ..Climb::default() };
        assert_eq!(climb.next_refinement(), None);
    }
}
