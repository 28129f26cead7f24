// The partition key is given once, to `slice`; it is not a clustering restriction.
#[path = "../fixtures.rs"]
mod fixtures;

use fixtures::{turns_by_session, TurnBySession, TurnBySessionPartitionKey};
use scylla_table::Table;

async fn turns(turns: Table<TurnBySession>, session: TurnBySessionPartitionKey) {
    let _ = turns.slice(&session).eq(turns_by_session::session_uid, &session.session_uid).fetch().await;
}

fn main() {}
