use scylla_table::UserType;

// Keys, order, keyspaces and table options belong to tables, not to a type's fields.
#[derive(UserType)]
#[table(keyspace = "shop", comment = "no")]
struct Address {
    #[table(partition_key)]
    street: String,
    lines: Vec<String>,
    #[table(order = "desc")]
    zip: i32,
}

fn main() {}
