//! Loading a conversation at saturation: every system in closed loop at the run's highest
//! concurrency, side by side in rounds, the order turned by one each round.
//!
//! The closed-loop series measure each system once, one after another. On a machine whose two
//! cores the node, the client and PostgreSQL share, 20 s closed loops of the same path, with
//! other paths between them, gave from 980 to 3,100 loads/s: one figure per system, each taken
//! at a different time, said little about one system against another. Here each round runs
//! every system once, the order turned by one each round so that no system always runs first,
//! each figure is the median over the rounds, and the ratio of two systems is taken round by
//! round. Where the closed loop keeps the cores busy, its throughput measures the work per
//! load, and the ratio of two systems is roughly what their rate ladder's ratio can reach once
//! the tails are tamed (roughly: a closed loop's ratio does not strictly bound an open loop's).

use std::sync::Arc;

use crate::data_set::Targets;
use crate::driver::print_point;
use crate::driver::{closed_loop, Measurement};
use crate::model::{BenchConfig, Pattern, System};
use crate::rate_search::median;
use crate::sides::Sides;

/// One system's closed-loop rounds.
pub struct SaturationRounds {
    pub system: System,
    /// Clients in each closed loop.
    pub clients: usize,
    /// Each round's measurement, in the order the rounds ran.
    pub rounds: Vec<Measurement>,
}

impl SaturationRounds {
    /// Each round's loads per second, in the order the rounds ran.
    pub fn throughputs(&self) -> Vec<Option<f64>> {
        self.rounds.iter().map(|m| (m.operations() > 0).then(|| m.throughput())).collect()
    }

    /// The median over the rounds of the loads per second.
    pub fn throughput(&self) -> Option<f64> {
        median(&self.throughputs())
    }

    /// The median of the server's CPU per load over the rounds that loaded anything and read
    /// the server's CPU, in µs.
    pub fn server_cpu_per_load_us(&self) -> Option<f64> {
        self.median_cost(|m| m.server_cpu_per_op_us())
    }

    /// The median of the client's CPU per load over the rounds that loaded anything, in µs.
    pub fn client_cpu_per_load_us(&self) -> Option<f64> {
        self.median_cost(|m| Some(m.cpu_per_op_us()))
    }

    /// A round without loads has no cost per load; unlike a rate that was not reached, it does
    /// not count as the lowest, so it is left out.
    fn median_cost(&self, cost: impl Fn(&Measurement) -> Option<f64>) -> Option<f64> {
        let costs: Vec<Option<f64>> =
            self.rounds.iter().filter(|m| m.operations() > 0).map(cost).filter(Option::is_some).collect();
        median(&costs)
    }
}

/// Loads conversations on each of `systems` in closed loop with `clients` clients,
/// `config.ladder_rounds` times. Results come back in the order of `systems`.
pub(crate) async fn load_at_saturation(
    sides: &Sides,
    systems: &[System],
    targets: &Arc<Targets>,
    clients: usize,
    config: &BenchConfig,
) -> Vec<SaturationRounds> {
    let rounds = config.ladder_rounds.max(1);
    let mut results: Vec<SaturationRounds> =
        systems.iter().map(|&system| SaturationRounds { system, clients, rounds: Vec::new() }).collect();
    for round in 0..rounds {
        if rounds > 1 {
            println!("  round {} of {rounds}", round + 1);
        }
        for index in round_order(systems.len(), round) {
            let system = systems[index];
            let op = sides.operation(Pattern::LoadConversation, system, targets);
            let seed = config.seed ^ (round as u64);
            let measurement =
                closed_loop(op, sides.server_cpu(system), clients, config.warmup, config.point, seed).await;
            print_point(&format!("{}, {clients} clients", system.label()), &measurement);
            results[index].rounds.push(measurement);
        }
    }
    results
}

/// The order in which round `round` runs `systems` systems: turned by one each round, so that
/// over as many rounds as systems each runs first once.
fn round_order(systems: usize, round: usize) -> Vec<usize> {
    (0..systems).map(|position| (position + round) % systems.max(1)).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{round_order, SaturationRounds};
    use crate::driver::Measurement;
    use crate::model::System;

    /// A one-second round of `loads` loads that cost the server `server_ms` in all.
    fn round(loads: u64, server_ms: u64) -> Measurement {
        let mut measurement = Measurement::empty(Duration::from_secs(1), None);
        for _ in 0..loads {
            measurement.histogram.record(1_000).expect("1 ms fits the histogram");
        }
        measurement.server_cpu = Some(Duration::from_millis(server_ms));
        measurement
    }

    #[test]
    fn a_round_without_loads_counts_lowest_for_throughput_and_is_left_out_of_costs() {
        let rounds = SaturationRounds {
            system: System::Scylla,
            clients: 64,
            rounds: vec![round(0, 500), round(1_000, 600), round(2_000, 1_000)],
        };
        assert_eq!(rounds.throughputs(), vec![None, Some(1_000.0), Some(2_000.0)]);
        assert_eq!(rounds.throughput(), Some(1_000.0), "the middle of none, 1,000 and 2,000");
        // 600 µs and 500 µs per load; the empty round's 500 ms is no cost per load. With two
        // rounds left, the lower middle.
        assert_eq!(rounds.server_cpu_per_load_us(), Some(500.0));
    }

    #[test]
    fn each_system_runs_first_once_over_as_many_rounds() {
        let firsts: Vec<usize> = (0..4).map(|round| round_order(4, round)[0]).collect();
        assert_eq!(firsts, vec![0, 1, 2, 3]);
        for round in 0..4 {
            let mut order = round_order(4, round);
            order.sort_unstable();
            assert_eq!(order, vec![0, 1, 2, 3], "round {round} runs every system exactly once");
        }
    }

    #[test]
    fn one_round_keeps_the_given_order() {
        assert_eq!(round_order(3, 0), vec![0, 1, 2]);
    }
}
