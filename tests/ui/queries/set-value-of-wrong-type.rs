// `liked` is an optional boolean.
use conversation_store::{turns_by_session, TurnBySession, TurnBySessionPrimaryKey};
use scylla_table::Table;

async fn like(turns: Table<TurnBySession>, key: TurnBySessionPrimaryKey) {
    let _ = turns.set(&key, turns_by_session::liked, &"yes").await;
}

fn main() {}
