use scylla_table::ScyllaTable;

#[derive(ScyllaTable)]
enum TurnType {
    Human,
    Agent,
}

fn main() {}
