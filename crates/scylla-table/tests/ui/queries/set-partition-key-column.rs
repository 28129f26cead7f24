// A key column cannot be set: it identifies the row.
#[path = "../fixtures.rs"]
mod fixtures;

use fixtures::{turns_by_session, TurnBySession, TurnBySessionPrimaryKey};
use scylla_table::Table;

async fn move_turn(turns: Table<TurnBySession>, key: TurnBySessionPrimaryKey) {
    let _ = turns.set(&key, turns_by_session::session_uid, &"another-session".to_owned()).await;
}

fn main() {}
