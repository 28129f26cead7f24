//! Typed ScyllaDB and Cassandra tables from annotated Rust structs.
//!
//! `#[derive(ScyllaTable)]` turns a struct into one CQL query table: its `CREATE TABLE`
//! statement, its prepared statements, typed key structs and row mapping. A [`Database`] applies
//! and validates the schema, plans migrations, and runs typed operations through [`Table`], each
//! on a statement prepared once, at the design's default consistency (writes QUORUM, reads ONE).
//!
//! ```no_run
//! use scylla_table::{ConnectionConfig, Database, ScyllaTable};
//!
//! #[derive(ScyllaTable, Debug, Clone)]
//! #[table(name = "steps_by_turn")]
//! struct Step {
//!     #[table(partition_key)]
//!     turn_uid: String,
//!     #[table(clustering)]
//!     idx: i32,
//!     content: String,
//! }
//!
//! # async fn run() -> scylla_table::Result<()> {
//! let config = ConnectionConfig::from_env("chat")?;
//! let db = Database::connect(&config).await?;
//! db.apply_schema(&config.replication, &[Step::table_schema()]).await?;
//! db.validate_schema(&[Step::table_schema()]).await?;
//! let steps = db.table::<Step>();
//! steps.insert(&Step { turn_uid: "t1".into(), idx: 0, content: "Thinking".into() }).await?;
//! let all = steps.partition_vec(&StepPartitionKey { turn_uid: "t1".into() }).await?;
//! # let _ = all;
//! # Ok(())
//! # }
//! ```

// Every public item says what it is for; clippy's `-D warnings` in `cargo xtask test` holds it.
#![warn(missing_docs)]

// Bottom up; each module uses only those above it. The derive's contract, column handles, rows
// written out for comparing, and row encoding; then the schema comparison and migration planning
// (pure functions over data), errors and configuration, the connection, and the typed table
// operations on top: single statements, reads with write times, batches, and clustering slices.
mod table;
mod text_enum;

mod columns;
mod compare;
mod row;

mod live_schema;
mod migration;

mod error;

mod config;
#[cfg(feature = "tls")]
mod tls;

mod database;

mod table_ops;
mod timed;

mod batch;
pub mod slice;

pub use batch::Batch;
pub use columns::{ColumnOf, ColumnRole, CounterColumn, ListColumn, MapColumn, SetColumn, Settable, StaticColumn};
pub use compare::{differing_columns, ColumnDifference, RowText, UnorderedText};
pub use config::{ConnectionConfig, ConsistencyLevels, Replication, DEFAULT_REQUEST_TIMEOUT, LOCAL_NODE};
pub use database::{read_live_table, Database};
pub use error::{DriverError, Error, Result, Unavailability};
pub use live_schema::{LiveColumn, LiveTable, SchemaMismatch};
pub use migration::{plan_migration, MigrationPlan, MigrationStep, RefusedChange};
pub use row::{RowValues, TableRow};
pub use scylla;
pub use scylla::statement::Consistency;
pub use scylla_table_derive::{ScyllaTable, TextEnum};
pub use scylla_table_schema as schema;
pub use slice::Slice;
pub use table::{ColumnValue, RowKey, ScyllaTable, StatementTexts, TableKey};
pub use table_ops::{InsertOutcome, Pending, Table, WriteOptions, DEFAULT_PAGE_SIZE};
pub use text_enum::UnknownVariant;
pub use timed::Timed;

/// Items the generated code names. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::columns::{CollectionOf, ColumnOf, ColumnRole, CounterColumn, ListColumn, MapColumn, MapOf};
    pub use crate::columns::{SetColumn, Settable, StaticColumn};
    pub use crate::compare::UnorderedText;
    pub use crate::row::{column_count_mismatch, deserialize_cell, serialize_cell};
    pub use crate::slice::{ClusteringAt, Prefix};
    pub use crate::table::{ColumnValue, RowKey, ScyllaTable, StatementTexts, TableKey, UNSET};
    pub use crate::text_enum::UnknownVariant;
    pub use scylla;
    pub use scylla::deserialize::row::DeserializeRow;
    pub use scylla::deserialize::value::DeserializeValue;
    pub use scylla::serialize::value::SerializeValue;
    pub use scylla_table_schema as schema;
    pub use std::sync::OnceLock;
}
