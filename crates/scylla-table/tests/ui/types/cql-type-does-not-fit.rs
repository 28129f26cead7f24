use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Step {
    #[table(partition_key)]
    turn_uid: String,
    #[table(cql_type = "int")]
    content: String,
}

fn main() {}
