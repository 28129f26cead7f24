// `steps_by_turn` has one clustering column; a slice cannot restrict a second one.
#[path = "../fixtures.rs"]
mod fixtures;

use fixtures::{steps_by_turn, StepByTurn, StepByTurnPartitionKey};
use scylla_table::Table;

async fn steps(steps: Table<StepByTurn>, turn: StepByTurnPartitionKey) {
    let _ = steps.slice(&turn).eq(steps_by_turn::idx, &0).range(steps_by_turn::idx, &1..).fetch().await;
}

fn main() {}
