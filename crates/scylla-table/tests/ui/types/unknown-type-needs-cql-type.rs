use scylla_table::ScyllaTable;

enum TurnType {
    Human,
    Agent,
}

#[derive(ScyllaTable)]
struct Turn {
    #[table(partition_key)]
    turn_uid: String,
    turn_type: TurnType,
}

fn main() {}
