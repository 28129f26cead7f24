//! The table model behind `#[derive(ScyllaTable)]`.
//!
//! A [`TableSchema`] describes one CQL query table: its columns with their [`CqlType`]s and
//! [`ColumnKind`]s, its [`TableOptions`], and the [`UserTypeSchema`]s its columns use. From it this crate renders the `CREATE TABLE`
//! statement and every prepared statement ([`StatementKind`]). The derive macro builds the model
//! at compile time, the runtime uses it to prepare statements and validate a live schema, and
//! `cargo xtask gen-cql` writes it to `schema/`. It has no dependency on the driver or on `syn`,
//! so it is tested on its own.

mod cql_type;
mod ddl;
mod identifier;
mod schema_files;
mod statements;
mod table;
mod user_type;

pub use cql_type::{CqlType, CqlTypeError, NativeType};
pub use ddl::create_keyspace_cql;
pub use identifier::{
    is_reserved_word, quote_if_needed, validate_column_name, validate_name, IdentifierError, MAX_NAME_LENGTH,
};
pub use schema_files::{render_schema_files, schema_drift, write_schema_folder, SchemaDrift, GENERATED_HEADER};
pub use statements::{BoundKind, StatementError, StatementKind};
pub use table::{ClusteringOrder, Column, ColumnKind, Compaction, TableOptions, TableSchema};
pub use user_type::{creation_order, UserTypeField, UserTypeSchema};
