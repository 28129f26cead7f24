use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Step {
    #[table(partition_key)]
    turn_uid: String,
    #[table(frozen)]
    idx: i32,
}

fn main() {}
