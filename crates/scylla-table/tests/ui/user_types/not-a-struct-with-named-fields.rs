use scylla_table::UserType;

#[derive(UserType)]
struct Pair(i32, i32);

#[derive(UserType)]
enum Shape {
    Circle,
}

#[derive(UserType)]
struct Label {
    #[table(skip)]
    cache: Option<String>,
    #[table(rename = "bad name")]
    label: String,
    named: u32,
}

fn main() {}
