// `owner` is static: one value for the whole partition, so it is not set through a row's key.
use scylla_table::Table;
use tests::fixtures::{every_type, EveryType, EveryTypePrimaryKey};

async fn hand_over(table: Table<EveryType>, key: EveryTypePrimaryKey) {
    let _ = table.set(&key, every_type::owner, &Some("ops".to_owned())).await;
}

fn main() {}
