// `tags` is a list of text.
#[path = "../fixtures.rs"]
mod fixtures;

use scylla_table::Table;
use fixtures::{events, Event, EventPrimaryKey};

async fn tag(events: Table<Event>, key: EventPrimaryKey) {
    let _ = events.append_to_list(&key, events::tags, &[1, 2]).await;
}

fn main() {}
