use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
struct Step {
    #[table(partition_key)]
    turn_uid: String,
    #[table(cql_type = "map<text>")]
    labels: std::collections::HashMap<String, String>,
}

fn main() {}
