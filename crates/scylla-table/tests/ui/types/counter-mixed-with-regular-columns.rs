use scylla_table::ScyllaTable;
use scylla::value::Counter;

#[derive(ScyllaTable)]
struct PageViews {
    #[table(partition_key)]
    page: String,
    views: Counter,
    title: String,
}

fn main() {}
