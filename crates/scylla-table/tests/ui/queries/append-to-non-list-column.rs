// `prompt` is text, not a list.
#[path = "../fixtures.rs"]
mod fixtures;

use fixtures::{turns_by_session, TurnBySession, TurnBySessionPrimaryKey};
use scylla_table::Table;

async fn append(turns: Table<TurnBySession>, key: TurnBySessionPrimaryKey) {
    let _ = turns.append_to_list(&key, turns_by_session::prompt, &["more".to_owned()]).await;
}

fn main() {}
