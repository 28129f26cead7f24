use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
#[table(name = "sessions", replication = 3)]
struct Session {
    #[table(partition_key, indexed)]
    account_uid: String,
    #[table(clustering, order = "desc", ttl = 60)]
    created_at: i64,
}

fn main() {}
