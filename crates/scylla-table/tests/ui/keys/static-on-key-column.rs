use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Session {
    #[table(partition_key, static)]
    account_uid: String,
    #[table(clustering)]
    session_uid: String,
}

fn main() {}
