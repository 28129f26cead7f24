// The crate's documentation is its README: the reference for the attributes, the types and what
// the derives generate, with examples that run as doctests.
#![doc = include_str!("../README.md")]
// Every public item says what it is for; clippy's `-D warnings` in `cargo xtask test` holds it.
#![warn(missing_docs)]

// Bottom up; each module uses only those above it. The derive's contract, column handles, rows
// written out for comparing, and row encoding; then the schema comparison and migration planning
// (pure functions over data), errors and configuration, the connection, and the typed table
// operations on top: single statements, reads with write times, batches, and clustering slices.
mod table;
mod text_enum;
mod user_type;

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
pub use database::{read_live_table, read_live_user_type, Database};
pub use error::{DriverError, Error, Result, Unavailability};
pub use live_schema::{LiveColumn, LiveTable, LiveUserType, SchemaMismatch};
pub use migration::{plan_migration, plan_user_type_migration, MigrationPlan, MigrationStep, RefusedChange};
pub use row::{RowValues, TableRow};
pub use scylla;
pub use scylla::statement::Consistency;
pub use scylla_table_derive::{ScyllaTable, TextEnum, UserType};
pub use scylla_table_schema as schema;
pub use slice::Slice;
pub use table::{ColumnValue, RowKey, ScyllaTable, StatementTexts, TableKey};
pub use table_ops::{InsertOutcome, Pending, Table, WriteOptions, DEFAULT_PAGE_SIZE};
pub use text_enum::UnknownVariant;
pub use timed::Timed;
pub use user_type::UserType;

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
    pub use crate::user_type::{
        deserialize_user_type_field, names_the_type, serialize_user_type, type_check_user_type,
    };
    pub use crate::user_type::{user_type_cells, user_type_field_present, TypeCheck, UserType};
    pub use scylla;
    pub use scylla::deserialize::row::DeserializeRow;
    pub use scylla::deserialize::value::DeserializeValue;
    pub use scylla::serialize::value::SerializeValue;
    pub use scylla_table_schema as schema;
    pub use std::sync::OnceLock;
}
