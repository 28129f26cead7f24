use scylla_table::{ScyllaTable, UserType};

#[derive(UserType, Debug, Clone)]
struct Address {
    street: String,
}

type Addresses = Vec<Address>;

// The alias hides where `address` sits, so the table could not find the type to create.
#[derive(ScyllaTable, Debug)]
struct Customer {
    #[table(partition_key)]
    id: i64,
    #[table(cql_type = "list<frozen<address>>")]
    addresses: Addresses,
}

fn main() {}
