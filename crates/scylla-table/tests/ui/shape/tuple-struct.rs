use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Session(String, i64);

fn main() {}
