// A batch checks its updates as a table does.
#[path = "../fixtures.rs"]
mod fixtures;

use fixtures::{turns_by_session, TurnBySessionPrimaryKey};
use scylla_table::Database;

async fn rename(db: Database, key: TurnBySessionPrimaryKey, turn_uid: String) {
    let mut batch = db.logged_batch();
    let _ = batch.set(&key, turns_by_session::turn_uid, &turn_uid).await;
}

fn main() {}
