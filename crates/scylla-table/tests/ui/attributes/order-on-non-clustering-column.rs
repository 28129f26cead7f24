use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Session {
    #[table(partition_key, order = "desc")]
    account_uid: String,
    #[table(order = "asc")]
    title: String,
}

fn main() {}
