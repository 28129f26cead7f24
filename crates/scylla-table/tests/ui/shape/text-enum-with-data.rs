use scylla_table::TextEnum;

#[derive(TextEnum)]
enum TurnType {
    Human,
    Agent { model: String },
}

fn main() {}
