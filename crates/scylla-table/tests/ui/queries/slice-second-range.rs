// Two ranges in one slice.
#[path = "../fixtures.rs"]
mod fixtures;

use chrono::{DateTime, Utc};
use fixtures::{turns_by_session, TurnBySession, TurnBySessionPartitionKey};
use scylla_table::Table;

async fn turns(turns: Table<TurnBySession>, session: TurnBySessionPartitionKey, since: DateTime<Utc>, after: String) {
    let _ = turns
        .slice(&session)
        .range(turns_by_session::created_at, &since..)
        .range(turns_by_session::turn_uid, &after..)
        .fetch()
        .await;
}

fn main() {}
