use scylla_table::{ScyllaTable, UserType};

#[derive(UserType, Debug)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(ScyllaTable)]
struct Place {
    #[table(partition_key)]
    id: String,
    // The type is called `point`: the column names another one.
    #[table(cql_type = "frozen<spot>")]
    at: Point,
}

fn main() {}
