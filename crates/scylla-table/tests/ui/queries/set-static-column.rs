// `owner` is static: one value for the whole partition, so it is not set through a row's key.
#[path = "../fixtures.rs"]
mod fixtures;

use scylla_table::Table;
use fixtures::{teams, Team, TeamPrimaryKey};

async fn hand_over(table: Table<Team>, key: TeamPrimaryKey) {
    let _ = table.set(&key, teams::owner, &Some("ops".to_owned())).await;
}

fn main() {}
