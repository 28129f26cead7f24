use scylla_table::ScyllaTable;
use scylla::value::Counter;

#[derive(ScyllaTable)]
struct Views {
    #[table(partition_key)]
    views: Counter,
}

fn main() {}
