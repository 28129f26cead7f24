//! The tables the `queries/` cases misuse, one of each shape a typed query checks: clustering
//! columns, a list, a static column, counters. A case includes this file with `#[path]`.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use scylla::value::Counter;
use scylla_table::ScyllaTable;

/// Two clustering columns, optional text and boolean columns.
#[derive(ScyllaTable)]
#[table(name = "turns_by_session")]
pub struct TurnBySession {
    #[table(partition_key)]
    pub session_uid: String,
    #[table(clustering)]
    pub created_at: DateTime<Utc>,
    #[table(clustering)]
    pub turn_uid: String,
    pub prompt: Option<String>,
    pub liked: Option<bool>,
}

/// One clustering column.
#[derive(ScyllaTable)]
#[table(name = "steps_by_turn")]
pub struct StepByTurn {
    #[table(partition_key)]
    pub turn_uid: String,
    #[table(clustering)]
    pub idx: i32,
    pub content: Option<String>,
}

/// A list column.
#[derive(ScyllaTable)]
#[table(name = "events")]
pub struct Event {
    #[table(partition_key)]
    pub stream: String,
    #[table(clustering)]
    pub seq: i32,
    pub tags: Vec<String>,
}

/// A static column: one value per partition.
#[derive(ScyllaTable)]
#[table(name = "teams")]
pub struct Team {
    #[table(partition_key)]
    pub team: String,
    #[table(clustering)]
    pub member: String,
    #[table(static)]
    pub owner: Option<String>,
}

/// A counter table.
#[derive(ScyllaTable)]
#[table(name = "page_views")]
pub struct PageViews {
    #[table(partition_key)]
    pub page: String,
    pub views: Counter,
}
