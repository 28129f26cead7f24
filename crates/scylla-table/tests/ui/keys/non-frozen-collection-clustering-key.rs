use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Tagged {
    #[table(partition_key)]
    id: i64,
    #[table(clustering)]
    tags: Vec<String>,
}

fn main() {}
