// An equality after a range.
#[path = "../fixtures.rs"]
mod fixtures;

use chrono::{DateTime, Utc};
use fixtures::{turns_by_session, TurnBySession, TurnBySessionPartitionKey};
use scylla_table::Table;

async fn turns(turns: Table<TurnBySession>, session: TurnBySessionPartitionKey, since: DateTime<Utc>, turn_uid: String) {
    let _ = turns
        .slice(&session)
        .range(turns_by_session::created_at, &since..)
        .eq(turns_by_session::turn_uid, &turn_uid)
        .fetch()
        .await;
}

fn main() {}
