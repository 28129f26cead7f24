use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Turn {
    #[table(partition_key)]
    session_uid: String,
    #[table(clustering)]
    parent_uid: Option<String>,
}

fn main() {}
