// The key says the row is in `steps_by_turn`; the column is of `turns_by_session`.
#[path = "../fixtures.rs"]
mod fixtures;

use fixtures::{turns_by_session, StepByTurnPrimaryKey};
use scylla_table::Database;

async fn like(db: Database, step: StepByTurnPrimaryKey) {
    let mut batch = db.logged_batch();
    let _ = batch.set(&step, turns_by_session::liked, &Some(true)).await;
}

fn main() {}
