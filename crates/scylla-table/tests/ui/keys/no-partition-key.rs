use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Orphan {
    #[table(clustering)]
    created_at: i64,
    title: String,
}

fn main() {}
