// Only a counter column can be incremented.
#[path = "../fixtures.rs"]
mod fixtures;

use fixtures::{turns_by_session, TurnBySession, TurnBySessionPrimaryKey};
use scylla_table::Table;

async fn bump(turns: Table<TurnBySession>, key: TurnBySessionPrimaryKey) {
    let _ = turns.increment(&key, turns_by_session::liked, 1).await;
}

fn main() {}
