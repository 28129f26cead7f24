// `tags` is a list: it takes appends, not set additions.
#[path = "../fixtures.rs"]
mod fixtures;

use scylla_table::Table;
use fixtures::{events, Event, EventPrimaryKey};

async fn tag(events: Table<Event>, key: EventPrimaryKey) {
    let _ = events.add_to_set(&key, events::tags, &["urgent".to_owned()]).await;
}

fn main() {}
