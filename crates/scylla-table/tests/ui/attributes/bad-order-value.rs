use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Session {
    #[table(partition_key)]
    account_uid: String,
    #[table(clustering, order = "newest-first")]
    created_at: i64,
}

fn main() {}
