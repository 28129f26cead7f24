//! The tables and the type of the `own_tables` example, shared with `own_xtask`: what a team's
//! own crate of tables looks like.
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use scylla_table::schema::TableSchema;
use scylla_table::scylla::value::Counter;
use scylla_table::{ScyllaTable, TextEnum, UserType};

/// Stored as one word per variant: `low`, `normal`, `urgent`.
#[derive(TextEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Low,
    Normal,
    Urgent,
}

/// A user-defined type: `CREATE TYPE contact` comes from here, and is created before the table.
#[derive(UserType, Debug, Clone, PartialEq)]
pub struct Contact {
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
}

/// One tenant's tickets of one day, newest first.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "tickets_by_day", comment = "A tenant's tickets per day, newest first")]
pub struct TicketByDay {
    // A composite partition key: one partition per tenant and day.
    #[table(partition_key)]
    pub tenant: String,
    #[table(partition_key)]
    pub day: NaiveDate,
    #[table(clustering, order = "desc")]
    pub opened_at: DateTime<Utc>,
    #[table(clustering)]
    pub ticket_id: String,
    /// One value for the whole partition: the day's note from the on-call engineer.
    #[table(static)]
    pub day_note: Option<String>,
    pub subject: String,
    #[table(cql_type = "text")]
    pub priority: Priority,
    pub tags: Vec<String>,
    pub fields: BTreeMap<String, String>,
    #[table(cql_type = "frozen<contact>")]
    pub reporter: Contact,
}

/// Tickets opened per tenant and day: a counter table holds only keys and counters.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "ticket_counts")]
pub struct TicketCount {
    #[table(partition_key)]
    pub tenant: String,
    #[table(clustering)]
    pub day: NaiveDate,
    pub opened: Counter,
    pub urgent: Counter,
}

/// Every table, for applying, validating, migrating and writing the schema files.
pub fn all_tables() -> Vec<&'static TableSchema> {
    vec![TicketByDay::table_schema(), TicketCount::table_schema()]
}
