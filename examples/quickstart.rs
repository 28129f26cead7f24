//! Declare a table, print its DDL and statements. Run: `cargo run -p examples --example quickstart`.
use chrono::{DateTime, Utc};
use scylla_table::ScyllaTable;

#[derive(ScyllaTable, Debug, Clone)]
#[table(name = "sessions_by_user", comment = "A user's sessions, newest first")]
pub struct SessionByUser {
    #[table(partition_key)]
    pub account_uid: String,
    #[table(clustering, order = "desc")]
    pub created_at: DateTime<Utc>,
    #[table(clustering)]
    pub session_uid: String,
    pub title: String,
    pub deleted_at: Option<DateTime<Utc>>,
}

fn main() {
    print!("{}", SessionByUser::CREATE_TABLE);
    println!("{}", SessionByUser::STATEMENTS.select_partition);
    let key = SessionByUserPartitionKey { account_uid: "user789".into() };
    println!("{key:?}");
}
