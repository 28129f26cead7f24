//! The runtime's errors: each says what happened and what to do next.

use std::fmt;

use scylla::errors::{
    ConnectionPoolError, DbError, ExecutionError, NextPageError, NextRowError, PagerExecutionError,
    RequestAttemptError, RequestError,
};
use scylla::statement::Consistency;

use crate::live_schema::SchemaMismatch;
use crate::migration::RefusedChange;

/// A boxed driver error.
pub type DriverError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything the runtime can fail with. Each message says what happened and what to do next.
///
/// ```no_run
/// use scylla_table::{Error, Table, ScyllaTable};
///
/// # async fn run<T: ScyllaTable>(table: Table<T>, row: T) -> scylla_table::Result<()> {
/// match table.insert(&row).await {
///     Ok(()) => {}
///     // Nothing was written: too few replicas are up. Try again later.
///     Err(Error::Unavailable { cause, .. }) => println!("not now: {cause}"),
///     // Perhaps written. A whole-row INSERT is idempotent, so repeating it is safe.
///     Err(Error::OutcomeUnknown { .. }) => table.insert(&row).await?,
///     Err(other) => return Err(other),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No node answered. The address list is what was tried.
    #[error(
        "cannot connect to {addresses}: {source}. Is a node running there, and do the contact points \
         (SCYLLA_URI, for `ConnectionConfig::from_env`) name it?"
    )]
    Connect {
        /// The contact points, comma-separated.
        addresses: String,
        /// The driver's error.
        source: DriverError,
    },

    /// A configuration value from code or the environment is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A statement failed on the server or on the way there.
    #[error("{action} failed: {source}")]
    Query {
        /// What was being done, such as "INSERT on turns_by_session".
        action: String,
        /// The driver's or the server's error.
        source: DriverError,
    },

    /// The cluster could not take the statement: its last attempt was refused before it ran,
    /// for too few live replicas or for no connection to any node it could go to. The refused
    /// attempt applied nothing; an earlier attempt of an idempotent statement (a retry, a
    /// hedge) may have, which repeating it makes no worse.
    #[error("{action} refused: {cause}. Retry once the down nodes are back")]
    Unavailable {
        /// What was being done.
        action: String,
        /// Why the cluster could not take it.
        cause: Unavailability,
    },

    /// The statement may or may not have been applied: its reply was lost (the connection broke,
    /// or no reply came within the request timeout), or the coordinator gave up waiting for
    /// replicas that may still apply it. Only reading the row tells which. Repeating an
    /// idempotent write is safe; a lightweight transaction, a counter update or a list append
    /// must not be repeated blindly ([`crate::Table::insert_if_not_exists`] resolves its own case
    /// by reading).
    #[error(
        "{action}: outcome unknown, it may or may not have been applied ({source}). Read the row to learn \
         which; repeat only an idempotent write"
    )]
    OutcomeUnknown {
        /// What was being done.
        action: String,
        /// How the reply was lost, or the coordinator's timeout.
        source: DriverError,
    },

    /// A row did not match the struct it was read into.
    #[error(
        "cannot read a row of `{table}`: {source}. Run `validate_schema` to compare the live table with the struct"
    )]
    RowMapping {
        /// The table the row came from.
        table: String,
        /// Which column failed, and why.
        source: DriverError,
    },

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
}

/// Why the cluster could not take a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailability {
    /// The coordinator knows too few live replicas for the consistency level.
    Replicas {
        /// The consistency level of the statement.
        consistency: Consistency,
        /// Live replicas that level needs.
        required: i32,
        /// Live replicas the coordinator knows of.
        alive: i32,
        /// For a level local to a datacenter (LOCAL_QUORUM, LOCAL_ONE, LOCAL_SERIAL), the one
        /// it was counted in: the client's [`crate::ConnectionConfig::local_datacenter`].
        datacenter: Option<String>,
    },
    /// No node the statement could go to had a connection: for a token-aware statement, its
    /// replicas.
    NoConnection {
        /// The driver's account of its connection pools.
        detail: String,
        /// The client's [`crate::ConnectionConfig::local_datacenter`], when set: the only one
        /// requests go to.
        datacenter: Option<String>,
    },
}

impl fmt::Display for Unavailability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailability::Replicas { consistency, required, alive, datacenter: Some(datacenter) } => write!(
                f,
                "consistency {consistency:?} needs {required} live replica(s) in datacenter {datacenter}, it has \
                 {alive}. A level that other datacenters count toward (QUORUM) must be set on every instance \
                 together: LOCAL_SERIAL and SERIAL transactions on one row do not exclude each other"
            ),
            Unavailability::Replicas { consistency, required, alive, datacenter: None } => write!(
                f,
                "consistency {consistency:?} needs {required} live replica(s), the cluster has {alive} \
                 (or use a lower consistency)"
            ),
            Unavailability::NoConnection { detail, datacenter: None } => {
                write!(f, "no connection to the replicas the statement can go to ({detail})")
            }
            Unavailability::NoConnection { detail, datacenter: Some(datacenter) } => write!(
                f,
                "no connection to the replicas the statement can go to in datacenter {datacenter}, the only one \
                 this client uses ({detail})"
            ),
        }
    }
}

/// Finds an unavailable cluster in a driver error from any kind of request: single, batch, or
/// paged (where it comes wrapped in the pager's errors).
fn unavailability(error: &(dyn std::error::Error + 'static)) -> Option<Unavailability> {
    let attempt = |attempt: &RequestAttemptError| match attempt {
        RequestAttemptError::DbError(DbError::Unavailable { consistency, required, alive }, _) => {
            Some(Unavailability::Replicas {
                consistency: *consistency,
                required: *required,
                alive: *alive,
                datacenter: None,
            })
        }
        _ => None,
    };
    let no_connection =
        |pool: &ConnectionPoolError| Some(Unavailability::NoConnection { detail: pool.to_string(), datacenter: None });
    let request = |request: &RequestError| match request {
        RequestError::LastAttemptError(last) => attempt(last),
        RequestError::ConnectionPoolError(pool) => no_connection(pool),
        _ => None,
    };
    let page = |page: &NextPageError| match page {
        NextPageError::RequestFailure(failure) => request(failure),
        _ => None,
    };
    if let Some(execution) = error.downcast_ref::<ExecutionError>() {
        return match execution {
            ExecutionError::LastAttemptError(last) => attempt(last),
            ExecutionError::ConnectionPoolError(pool) => no_connection(pool),
            _ => None,
        };
    }
    if let Some(PagerExecutionError::NextPageError(failure)) = error.downcast_ref::<PagerExecutionError>() {
        return page(failure);
    }
    if let Some(NextRowError::NextPageError(failure)) = error.downcast_ref::<NextRowError>() {
        return page(failure);
    }
    None
}

/// True when a failed request may still have been applied: the reply was lost with its
/// connection, it did not come within the client's timeout, or the coordinator timed out (or
/// failed) waiting for the replicas' acknowledgements of a write.
fn outcome_unknown(error: &(dyn std::error::Error + 'static)) -> bool {
    match error.downcast_ref::<ExecutionError>() {
        Some(ExecutionError::RequestTimeout(_)) => true,
        Some(ExecutionError::LastAttemptError(last)) => matches!(
            last,
            RequestAttemptError::BrokenConnectionError(_)
                | RequestAttemptError::DbError(DbError::WriteTimeout { .. } | DbError::WriteFailure { .. }, _)
        ),
        _ => false,
    }
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
    /// A failed statement, typed where the caller can act on the kind: an unavailable cluster
    /// says how many replicas were missing, and a write that may have been applied says so.
    pub(crate) fn query(action: impl Into<String>, source: impl Into<DriverError>) -> Error {
        let source = source.into();
        if let Some(cause) = unavailability(source.as_ref()) {
            return Error::Unavailable { action: action.into(), cause };
        }
        if outcome_unknown(source.as_ref()) {
            return Error::OutcomeUnknown { action: action.into(), source };
        }
        Error::Query { action: action.into(), source }
    }

    /// Names `local`, the client's datacenter, where it is the one that lacked replicas: for a
    /// local consistency level (LOCAL_QUORUM and its kin count the coordinator's datacenter, and
    /// requests go only to the local one), and for replicas without a connection. A coordinator
    /// that refuses a write for too few replicas has it retried on the next replica, so when
    /// that one is down the refusal comes back as no connection in that datacenter.
    pub(crate) fn in_datacenter(mut self, local: Option<&str>) -> Error {
        match &mut self {
            Error::Unavailable { cause: Unavailability::Replicas { consistency, datacenter, .. }, .. }
                if is_local(*consistency) =>
            {
                *datacenter = local.map(str::to_owned);
            }
            Error::Unavailable { cause: Unavailability::NoConnection { datacenter, .. }, .. } => {
                *datacenter = local.map(str::to_owned);
            }
            _ => {}
        }
        self
    }

    /// True for failures of reaching or running on the cluster (no connection, timeouts,
    /// unavailable replicas, and the server's other errors), false for this crate's own
    /// checks and row mapping: the first kind may pass when tried again later.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::Query { .. } | Error::Unavailable { .. } | Error::OutcomeUnknown { .. }
        )
    }
}

/// True for the levels counted within the coordinator's datacenter.
pub(crate) fn is_local(consistency: Consistency) -> bool {
    matches!(consistency, Consistency::LocalOne | Consistency::LocalQuorum | Consistency::LocalSerial)
}

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_cluster_is_its_own_error_that_says_how_many_replicas_were_alive() {
        let refused = ExecutionError::LastAttemptError(RequestAttemptError::DbError(
            DbError::Unavailable { consistency: Consistency::Quorum, required: 2, alive: 1 },
            "Cannot achieve consistency level QUORUM".into(),
        ));
        let error = Error::query("Logged batch", refused);
        let Error::Unavailable { cause, .. } = &error else { panic!("{error:?}") };
        assert_eq!(
            *cause,
            Unavailability::Replicas { consistency: Consistency::Quorum, required: 2, alive: 1, datacenter: None }
        );
        assert!(error.is_unavailable());
        let message = error.to_string();
        assert!(message.contains("needs 2 live replica(s), the cluster has 1"), "{message}");
        assert!(message.contains("Retry once the down nodes are back"), "{message}");
        let error = error.in_datacenter(Some("dc1"));
        assert!(error.to_string().contains("the cluster has 1"), "QUORUM counts every datacenter: {error}");
    }

    #[test]
    fn an_unavailable_local_level_names_the_datacenter_it_was_counted_in() {
        let refused = ExecutionError::LastAttemptError(RequestAttemptError::DbError(
            DbError::Unavailable { consistency: Consistency::LocalQuorum, required: 2, alive: 1 },
            "Cannot achieve consistency level LOCAL_QUORUM".into(),
        ));
        let error = Error::query("INSERT on sessions_by_account", refused).in_datacenter(Some("dc1"));
        let Error::Unavailable { cause: Unavailability::Replicas { datacenter, .. }, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(datacenter.as_deref(), Some("dc1"));
        let message = error.to_string();
        assert!(message.contains("LocalQuorum needs 2 live replica(s) in datacenter dc1, it has 1"), "{message}");
    }

    #[test]
    fn no_connection_to_the_only_node_a_statement_may_use_is_unavailable_too() {
        let refused = ExecutionError::ConnectionPoolError(scylla::errors::ConnectionPoolError::Initializing);
        let error = Error::query("INSERT IF NOT EXISTS on session_owners", refused);
        assert!(matches!(&error, Error::Unavailable { cause: Unavailability::NoConnection { .. }, .. }), "{error:?}");
        assert!(error.to_string().contains("no connection to the replicas"), "{error}");
        let error = error.in_datacenter(Some("dc1"));
        assert!(error.to_string().contains("in datacenter dc1, the only one"), "{error}");
    }

    #[test]
    fn an_unavailable_cluster_met_while_paging_is_the_same_error() {
        let refused = RequestError::LastAttemptError(RequestAttemptError::DbError(
            DbError::Unavailable { consistency: Consistency::All, required: 3, alive: 2 },
            "Cannot achieve consistency level ALL".into(),
        ));
        let next_page = NextRowError::NextPageError(NextPageError::RequestFailure(refused));
        let error = Error::query("SELECT all on session_owners", next_page);
        assert!(matches!(&error, Error::Unavailable { cause: Unavailability::Replicas { required: 3, .. }, .. }));
    }

    #[test]
    fn a_lost_reply_or_a_write_timeout_leaves_the_outcome_unknown() {
        let client_timeout = ExecutionError::RequestTimeout(std::time::Duration::from_secs(2));
        let write_timeout = ExecutionError::LastAttemptError(RequestAttemptError::DbError(
            DbError::WriteTimeout {
                consistency: Consistency::Quorum,
                received: 1,
                required: 2,
                write_type: scylla::errors::WriteType::Cas,
            },
            "Operation timed out".into(),
        ));
        for lost in [client_timeout, write_timeout] {
            let error = Error::query("INSERT IF NOT EXISTS on t", lost);
            assert!(matches!(&error, Error::OutcomeUnknown { .. }), "{error:?}");
            assert!(error.to_string().contains("may or may not have been applied"), "{error}");
            assert!(error.is_unavailable());
        }
    }

    #[test]
    fn other_server_errors_stay_query_errors() {
        for refused in [
            DbError::Overloaded,
            DbError::ReadTimeout { consistency: Consistency::One, received: 0, required: 1, data_present: false },
        ] {
            let error = ExecutionError::LastAttemptError(RequestAttemptError::DbError(refused, String::new()));
            assert!(matches!(Error::query("SELECT row on t", error), Error::Query { .. }));
        }
    }
}
