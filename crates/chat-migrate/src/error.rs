//! What a migration step can fail with; each message says what to do next.

use conversation_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// PostgreSQL, or a domain rule, refused.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// ScyllaDB refused or did not answer.
    #[error(transparent)]
    Scylla(#[from] scylla_table::Error),

    /// A flag or setting is unusable; nothing was written.
    #[error("{0}")]
    InvalidInput(String),

    /// A phase change whose preconditions do not hold (or that the fleet did not follow);
    /// the phase is as it was.
    #[error("{0}")]
    Refused(String),
}

impl MigrateError {
    /// True when the cause is a database that could not be reached or did not answer in time,
    /// rather than bad input: such a step can simply be run again later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            MigrateError::Scylla(error) => error.is_unavailable(),
            MigrateError::Store(StoreError::Relational { .. } | StoreError::Database(_)) => true,
            _ => false,
        }
    }
}

pub type MigrateResult<T> = Result<T, MigrateError>;

/// Maps a PostgreSQL error from the migration's own SQL, naming what was being done.
pub(crate) fn pg_error(action: &'static str) -> impl FnOnce(tokio_postgres::Error) -> MigrateError {
    move |source| MigrateError::Store(StoreError::Relational { action: action.into(), source: Box::new(source) })
}
