use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Account {
    #[table(partition_key)]
    account_uid: String,
    #[table(static)]
    plan: String,
}

fn main() {}
