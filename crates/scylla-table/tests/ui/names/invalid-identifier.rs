use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
#[table(name = "sessions-by-user", keyspace = "9chat")]
struct Session {
    #[table(partition_key)]
    account_uid: String,
    #[table(rename = "")]
    title: String,
}

fn main() {}
