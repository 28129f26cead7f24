//! The runtime's errors: each says what happened and what to do next.

use std::fmt;

use crate::live_schema::SchemaMismatch;
use crate::migration::RefusedChange;

/// A boxed driver error.
pub type DriverError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No node answered. The address list is what was tried.
    #[error(
        "cannot connect to {addresses}: {source}. Is the node running? Start a local one with \
         `cargo xtask db up`, or point SCYLLA_URI at a cluster"
    )]
    Connect { addresses: String, source: DriverError },

    /// A configuration value from code or the environment is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A statement failed on the server or on the way there.
    #[error("{action} failed: {source}")]
    Query { action: String, source: DriverError },

    /// A row did not match the struct it was read into.
    #[error(
        "cannot read a row of `{table}`: {source}. Run `validate_schema` to compare the live table with the struct"
    )]
    RowMapping { table: String, source: DriverError },

    /// The live schema differs from the derived one.
    #[error("{}", Mismatches(.0))]
    SchemaMismatch(Vec<SchemaMismatch>),

    /// A migration would lose data or cannot be done in place.
    #[error("{}", Refusals(.0))]
    MigrationRefused(Vec<RefusedChange>),

    /// The table cannot run this statement, such as INSERT on a counter table.
    #[error("{0}")]
    Unsupported(#[from] scylla_table_schema::StatementError),

    /// A batch breaks a CQL batch rule.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),

    #[error("`{table}` has no column `{column}`")]
    UnknownColumn { table: String, column: String },

    /// A clustering slice asks for more than the table has.
    #[error("invalid clustering slice on `{table}`: {reason}")]
    InvalidSlice { table: String, reason: String },
}

struct Mismatches<'a>(&'a [SchemaMismatch]);

impl fmt::Display for Mismatches<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the live schema differs from the code in {} place(s):", self.0.len())?;
        for mismatch in self.0 {
            write!(f, "\n  - {mismatch}")?;
        }
        Ok(())
    }
}

struct Refusals<'a>(&'a [RefusedChange]);

impl fmt::Display for Refusals<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the migration is refused: {} change(s) cannot be applied in place:", self.0.len())?;
        for refusal in self.0 {
            write!(f, "\n  - {refusal}")?;
        }
        Ok(())
    }
}

impl Error {
    pub(crate) fn query(action: impl Into<String>, source: impl Into<DriverError>) -> Error {
        Error::Query { action: action.into(), source: source.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
