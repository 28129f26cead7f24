// A clustering column is part of the primary key too.
#[path = "../fixtures.rs"]
mod fixtures;

use chrono::Utc;
use fixtures::{turns_by_session, TurnBySession, TurnBySessionPrimaryKey};
use scylla_table::Table;

async fn touch(turns: Table<TurnBySession>, key: TurnBySessionPrimaryKey) {
    let _ = turns.set(&key, turns_by_session::created_at, &Utc::now()).await;
}

fn main() {}
