//! The store's errors. Each names what was wrong; none leaves a half-written change behind,
//! because every check runs before the first write.

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The session or turn does not exist, or belongs to another account. The two are
    /// deliberately indistinguishable, so a caller cannot probe for other accounts' ids.
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },

    /// A field is empty, too long or otherwise unusable.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },

    /// The parent is in another session, or is the wrong kind of turn.
    #[error("turn `{parent}` cannot be the parent here: {reason}")]
    InvalidParent { parent: String, reason: String },

    /// Steps must arrive as 0, 1, 2, ...
    #[error("step {idx} of turn `{turn_uid}` cannot be written before step {missing}")]
    StepGap { turn_uid: String, idx: i32, missing: i32 },

    /// A caller-supplied id is already used by something different.
    #[error("{what} `{id}` already exists with other contents; a retry must repeat the same request")]
    Conflict { what: &'static str, id: String },

    /// The migration's shared phase no longer sends this write to this store: it moved while the
    /// request was on its way. Nothing was written; a store that follows the phase retries it
    /// the new way.
    #[error("write refused: {reason}; retry it through the store that follows the phase")]
    WritesMoved { reason: String },

    /// The database failed; the message says what to do.
    #[error(transparent)]
    Database(#[from] scylla_table::Error),

    /// The relational database failed or could not be reached. Nothing of the change was kept:
    /// relational writes are transactions.
    #[error("PostgreSQL: {action} failed: {}", with_causes(source.as_ref()))]
    Relational { action: String, source: RelationalError },
}

/// What the relational database's client reported (tokio-postgres's error, for the PostgreSQL
/// store), boxed: this crate does not depend on any relational client. Its SQLSTATE is in
/// `conversation_pg::sqlstate`.
pub type RelationalError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error with what caused it: tokio-postgres shows a server's error as "db error", and the
/// server's own message is its cause.
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let more = error.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = error.source();
    }
    text
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The error for a caller-chosen session id that a purged session had: a purge forgets the
/// session for good, so its id is not given to another.
pub fn purged_session_id(session_uid: &str) -> StoreError {
    StoreError::InvalidInput {
        field: "session_uid",
        reason: format!("`{session_uid}` belonged to a purged session; the ids of purged sessions are not reused"),
    }
}
