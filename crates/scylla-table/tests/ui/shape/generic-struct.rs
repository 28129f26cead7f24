use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Envelope<T> {
    #[table(partition_key)]
    id: String,
    payload: T,
}

fn main() {}
