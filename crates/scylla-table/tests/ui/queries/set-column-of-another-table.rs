// A handle of `steps_by_turn` on the `turns_by_session` table.
#[path = "../fixtures.rs"]
mod fixtures;

use fixtures::{steps_by_turn, TurnBySession, TurnBySessionPrimaryKey};
use scylla_table::Table;

async fn edit(turns: Table<TurnBySession>, key: TurnBySessionPrimaryKey) {
    let _ = turns.set(&key, steps_by_turn::content, &Some("edited".to_owned())).await;
}

fn main() {}
