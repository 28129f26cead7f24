use scylla::{DeserializeValue, SerializeValue};
use scylla_table::ScyllaTable;

// Mapped with the driver's derives: the table cannot know how to create the type.
#[derive(SerializeValue, DeserializeValue, Debug)]
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
