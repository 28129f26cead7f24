use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Session {
    #[table(partition_key, clustering)]
    account_uid: String,
    #[table(skip, rename = "cache")]
    cached: Option<String>,
    #[table(position = 2)]
    title: String,
}

fn main() {}
