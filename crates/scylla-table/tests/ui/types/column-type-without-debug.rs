use scylla::{DeserializeValue, SerializeValue};
use scylla_table::ScyllaTable;

// A user-defined type that the driver maps but that cannot be written out for comparing rows.
#[derive(SerializeValue, DeserializeValue)]
#[scylla(crate = scylla)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(ScyllaTable)]
struct Place {
    #[table(partition_key)]
    id: String,
    #[table(cql_type = "frozen<point>")]
    at: Point,
}

fn main() {}
