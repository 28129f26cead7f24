//! Typed ScyllaDB and Cassandra tables from annotated Rust structs.
//!
//! `#[derive(ScyllaTable)]` turns a struct into one CQL query table: its `CREATE TABLE`
//! statement, its prepared statements, typed key structs and row mapping. See the repository
//! README for the attribute reference and the type table.

mod table;
mod text_enum;

pub use scylla_table_derive::{ScyllaTable, TextEnum};
pub use scylla_table_schema as schema;
pub use table::{ScyllaTable, StatementTexts, TableKey};
pub use text_enum::UnknownVariant;

/// Items the generated code names. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::table::{ScyllaTable, StatementTexts, TableKey};
    pub use crate::text_enum::UnknownVariant;
    pub use scylla;
    pub use scylla::deserialize::row::DeserializeRow;
    pub use scylla::deserialize::value::DeserializeValue;
    pub use scylla::serialize::value::SerializeValue;
    pub use scylla_table_schema as schema;
    pub use std::sync::OnceLock;
}
