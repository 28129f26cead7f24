// `created_at` is a timestamp: a string does not bind to it.
#[path = "../fixtures.rs"]
mod fixtures;

use fixtures::{turns_by_session, TurnBySession, TurnBySessionPartitionKey};
use scylla_table::Table;

async fn turns(turns: Table<TurnBySession>, session: TurnBySessionPartitionKey) {
    let since = "2026-11-27T00:00:00Z".to_owned();
    let _ = turns.slice(&session).range(turns_by_session::created_at, &since..).fetch().await;
}

fn main() {}
