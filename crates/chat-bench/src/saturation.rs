//! Loading a conversation at saturation: every system in closed loop at the run's highest
//! concurrency, side by side in rounds, the order turned by one each round.
//!
//! The closed-loop series measure each system once, one after another. On a machine whose two
//! cores the node, the client and PostgreSQL share, 20 s closed loops of the same path, with
//! other paths between them, gave from 980 to 3,100 loads/s, the lowest right after a switch
//! from another path: one system's figure against another's said as much about the order as
//! about the systems. Here each round runs every system once, no system always first,
//! and each figure is the median over the rounds. This is the work per load the rate ladder's
//! tails sit on: a path whose loads cost the node and the client half as much can sustain about
//! twice the rate, and no more, once the tails are tamed.

use std::sync::Arc;

use crate::driver::{closed_loop, Measurement};
use crate::rate_search::median;
use crate::{print_point, BenchConfig, Pattern, Sides, System, Targets};

/// One system's closed-loop rounds.
pub struct SaturationRounds {
    pub system: System,
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

    /// The median over the rounds of the server's CPU per load, in µs.
    pub fn server_cpu_per_load_us(&self) -> Option<f64> {
        let per_round: Vec<Option<f64>> = self.rounds.iter().map(Measurement::server_cpu_per_op_us).collect();
        median(&per_round)
    }

    /// The median over the rounds of the client's CPU per load, in µs.
    pub fn client_cpu_per_load_us(&self) -> Option<f64> {
        let per_round: Vec<Option<f64>> =
            self.rounds.iter().map(|m| (m.operations() > 0).then(|| m.cpu_per_op_us())).collect();
        median(&per_round)
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
        systems.iter().map(|&system| SaturationRounds { system, rounds: Vec::new() }).collect();
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
/// over as many rounds as systems each runs first once, and each follows a different one.
fn round_order(systems: usize, round: usize) -> Vec<usize> {
    (0..systems).map(|position| (position + round) % systems.max(1)).collect()
}

#[cfg(test)]
mod tests {
    use super::round_order;

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
