use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Step {
    #[table(partition_key)]
    turn_uid: String,
    idx: u32,
    content: &'static str,
}

fn main() {}
