use scylla::value::Counter;
use scylla_table::UserType;

// A counter, the type itself, and a name that is already a CQL type.
#[derive(UserType, Debug)]
struct Node {
    visits: Counter,
    #[table(cql_type = "list<frozen<node>>")]
    children: Vec<Node>,
}

#[derive(UserType, Debug)]
struct Date {
    day: i32,
}

fn main() {}
