//! Times and ids: the one precision every store keeps, and new ids.

use chrono::{DateTime, Utc};

/// The current time at the precision every store keeps (milliseconds): see [`cql_millis`].
pub fn now_millis() -> DateTime<Utc> {
    cql_millis(Utc::now())
}

/// A time at CQL's precision, milliseconds, rounded down: the one rule for every timestamp a
/// store keeps. What is written then compares equal to what is read back, in every store, and a
/// relational row that other code wrote with microseconds is seen as its ScyllaDB copy is.
/// PostgreSQL's `cql_ms()` applies the same rule in SQL.
///
/// ```
/// let at = chrono::DateTime::from_timestamp_micros(1_700_000_000_123_999).unwrap();
/// assert_eq!(conversation_store::cql_millis(at).timestamp_micros(), 1_700_000_000_123_000);
/// let before_1970 = chrono::DateTime::from_timestamp_micros(-1_500).unwrap();
/// assert_eq!(conversation_store::cql_millis(before_1970).timestamp_millis(), -2);
/// ```
pub fn cql_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// A new random id for a session or turn.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
