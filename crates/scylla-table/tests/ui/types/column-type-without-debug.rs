use scylla_table::{ScyllaTable, UserType};

// A user-defined type that cannot be written out for comparing rows.
#[derive(UserType)]
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
