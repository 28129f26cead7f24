use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Session {
    #[table(partition_key)]
    account_uid: String,
    #[table(rename = "account_uid")]
    owner: String,
}

fn main() {}
