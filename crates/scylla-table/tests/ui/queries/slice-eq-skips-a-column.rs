// Equality on the second clustering column without the first.
#[path = "../fixtures.rs"]
mod fixtures;

use fixtures::{turns_by_session, TurnBySession, TurnBySessionPartitionKey};
use scylla_table::Table;

async fn one_turn(turns: Table<TurnBySession>, session: TurnBySessionPartitionKey, turn_uid: String) {
    let _ = turns.slice(&session).eq(turns_by_session::turn_uid, &turn_uid).fetch().await;
}

fn main() {}
