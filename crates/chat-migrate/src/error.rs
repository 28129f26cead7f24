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

/// What kind of failure an error is, for an operator (and `chat-migrate`'s exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A flag, setting or request is unusable, or a phase change was refused; nothing was written.
    BadInput,
    /// PostgreSQL answered with an error of its own (SQL, a constraint, a permission): running
    /// the same step again will meet it again.
    Sql,
    /// A database could not be reached or did not answer in time: run the step again later.
    Unavailable,
}

impl MigrateError {
    pub fn failure(&self) -> Failure {
        match self {
            MigrateError::Scylla(error) if error.is_unavailable() => Failure::Unavailable,
            MigrateError::Store(StoreError::Database(error)) if error.is_unavailable() => Failure::Unavailable,
            MigrateError::Scylla(_) | MigrateError::Store(StoreError::Database(_)) => Failure::Unavailable,
            MigrateError::Store(error @ StoreError::Relational { .. }) => match conversation_pg::sqlstate(error) {
                // Connection exceptions (08), the server shutting down (57P), too many
                // connections (53300): the server is not there for this work.
                Some(code) if code.starts_with("08") || code.starts_with("57P") || code == "53300" => {
                    Failure::Unavailable
                }
                Some(_) => Failure::Sql,
                None => Failure::Unavailable,
            },
            _ => Failure::BadInput,
        }
    }

    /// True when the cause is a database that could not be reached or did not answer in time,
    /// rather than bad input: such a step can simply be run again later.
    pub fn is_unavailable(&self) -> bool {
        self.failure() == Failure::Unavailable
    }
}

pub type MigrateResult<T> = Result<T, MigrateError>;

/// Maps a PostgreSQL error from the migration's own SQL, naming what was being done.
pub(crate) fn pg_error(action: &'static str) -> impl FnOnce(tokio_postgres::Error) -> MigrateError {
    move |source| MigrateError::Store(StoreError::Relational { action: action.into(), source: Box::new(source) })
}
