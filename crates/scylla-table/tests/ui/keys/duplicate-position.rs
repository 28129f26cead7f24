use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Daily {
    #[table(partition_key, position = 0)]
    tenant: String,
    #[table(partition_key, position = 0)]
    day: i32,
    #[table(partition_key)]
    shard: i16,
}

fn main() {}
