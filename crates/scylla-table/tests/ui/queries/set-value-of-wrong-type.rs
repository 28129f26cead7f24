// `liked` is an optional boolean.
#[path = "../fixtures.rs"]
mod fixtures;

use fixtures::{turns_by_session, TurnBySession, TurnBySessionPrimaryKey};
use scylla_table::Table;

async fn like(turns: Table<TurnBySession>, key: TurnBySessionPrimaryKey) {
    let _ = turns.set(&key, turns_by_session::liked, &"yes").await;
}

fn main() {}
