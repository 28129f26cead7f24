// A range on the second clustering column while the first is free: CQL refuses it.
#[path = "../fixtures.rs"]
mod fixtures;

use fixtures::{turns_by_session, TurnBySession, TurnBySessionPartitionKey};
use scylla_table::Table;

async fn turns_after(turns: Table<TurnBySession>, session: TurnBySessionPartitionKey, after: String) {
    let _ = turns.slice(&session).range(turns_by_session::turn_uid, &after..).fetch().await;
}

fn main() {}
