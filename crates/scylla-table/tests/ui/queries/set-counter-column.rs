// A counter is never set, only incremented.
#[path = "../fixtures.rs"]
mod fixtures;

use scylla::value::Counter;
use scylla_table::Table;
use fixtures::{page_views, PageViews, PageViewsPrimaryKey};

async fn reset(views: Table<PageViews>, key: PageViewsPrimaryKey) {
    let _ = views.set(&key, page_views::views, &Counter(0)).await;
}

fn main() {}
