//! `PgStore`: the pool, error mapping and the ownership checks every operation starts with.

use crate::typed;
use conversation_store::limits::check_id;
use conversation_store::{StoreError, StoreResult};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::GenericClient;

use std::sync::{Arc, Mutex};

use crate::config::PgConfig;
use crate::rows::{SessionRow, Written};

/// The conversation platform on PostgreSQL. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: Pool,
    pub(crate) config: PgConfig,
    pub(crate) recording: Recording,
    /// Where committed writes leave the rows they recorded, in a store made by
    /// [`PgStore::collecting_written`].
    pub(crate) written: Option<Arc<Mutex<Vec<Written>>>>,
}

/// Whether a write records its change in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recording {
    Never,
    Always,
    /// As the shared phase says, read in the write's own transaction (see [`crate::phase`]).
    AsThePhaseSays,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("config", &self.config).field("recording", &self.recording).finish()
    }
}

impl PgStore {
    /// Opens a pool and checks that the server answers, so a wrong address fails here, with the
    /// address in the message, rather than at the first request.
    pub async fn connect(config: &PgConfig) -> StoreResult<PgStore> {
        let (driver_config, tls) = config.driver_config()?;
        let manager = Manager::from_config(
            driver_config,
            tokio_postgres_rustls::MakeRustlsConnect::new(crate::tls::client_config(&tls)?),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager).max_size(config.pool_size).build().map_err(|error| {
            StoreError::Relational { action: "building the connection pool".into(), source: Box::new(error) }
        })?;
        let store = PgStore { pool, config: config.clone(), recording: Recording::Never, written: None };
        drop(store.client().await?);
        Ok(store)
    }

    /// The same store, recording every change in the outbox (`true`) or not.
    pub fn with_outbox(mut self, enabled: bool) -> PgStore {
        self.recording = if enabled { Recording::Always } else { Recording::Never };
        self
    }

    /// The same store, doing with each write what the shared phase asks (see [`crate::phase`]):
    /// record it in the outbox, or not, or refuse it with [`StoreError::WritesMoved`] once
    /// ScyllaDB is written first. Every application instance of a migration uses this, so no
    /// instance that is a moment behind a phase change writes the old way.
    pub fn following_the_phase(mut self) -> PgStore {
        self.recording = Recording::AsThePhaseSays;
        self
    }

    /// A store for one request that keeps the rows its committed writes recorded in the outbox,
    /// for [`PgStore::take_written`]: dual-write copies them to ScyllaDB without reading them
    /// again. A write that fails, or whose commit fails, leaves nothing (its rows, if it did
    /// commit, wait in the outbox for a relay).
    pub fn collecting_written(&self) -> PgStore {
        PgStore { written: Some(Arc::default()), ..self.clone() }
    }

    /// The rows collected so far (see [`PgStore::collecting_written`]), oldest first.
    pub fn take_written(&self) -> Vec<Written> {
        match &self.written {
            Some(written) => std::mem::take(&mut *written.lock().unwrap_or_else(|poisoned| poisoned.into_inner())),
            None => Vec::new(),
        }
    }

    /// Hands a committed transaction's rows to the collector, if this store has one.
    pub(crate) fn collect_written(&self, rows: Vec<Written>) {
        if let Some(written) = &self.written {
            written.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend(rows);
        }
    }

    pub fn config(&self) -> &PgConfig {
        &self.config
    }

    /// The connection pool, for code that runs its own SQL on the store's schema.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A pooled connection, with a message that says what to do when there is none.
    pub async fn client(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(|error| StoreError::Relational {
            action: format!(
                "connecting to `{}` (is PostgreSQL running? Start the local one with `cargo xtask db up`, \
                 or set POSTGRES_URL)",
                crate::config::redacted(&self.config.url)
            ),
            source: Box::new(error),
        })
    }
}

/// Maps a driver error to the store's error, naming what was being done.
pub(crate) fn pg(action: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |source| StoreError::Relational { action: action.to_owned(), source: Box::new(source) }
}

/// The SQLSTATE PostgreSQL answered a failed statement with, if the store's error carries one
/// (also through the connection pool's error): `23505` for a unique violation, `08006` for a
/// lost connection, and so on.
pub fn sqlstate(error: &StoreError) -> Option<String> {
    let StoreError::Relational { source, .. } = error else { return None };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
    while let Some(error) = cause {
        if let Some(postgres) = error.downcast_ref::<tokio_postgres::Error>() {
            return postgres.code().map(|code| code.code().to_owned());
        }
        cause = error.source();
    }
    None
}

pub(crate) fn not_found(what: &'static str, id: &str) -> StoreError {
    StoreError::NotFound { what, id: id.to_owned() }
}

/// The session, if `account_uid` owns it; otherwise NotFound, exactly as if it did not exist.
/// With `lock`, the row stays locked until the transaction ends: writes to one session are
/// serialized, so versions and active-child pointers change in order.
/// A transaction at READ COMMITTED, whatever the server's default: every write here relies on
/// each statement seeing what committed before it started (a phase change or a purge that
/// committed while the transaction waited for a lock).
pub(crate) async fn read_committed(client: &mut Object) -> StoreResult<deadpool_postgres::Transaction<'_>> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(pg("starting a transaction"))
}

pub(crate) async fn owned_session(
    client: &(impl GenericClient + Sync),
    account_uid: &str,
    session_uid: &str,
    lock: bool,
) -> StoreResult<SessionRow> {
    check_id("account_uid", account_uid)?;
    check_id("session_uid", session_uid)?;
    let query = if lock {
        "SELECT uid, account_uid, title, created_at, deleted_at, active_root, version FROM sessions
         WHERE uid = $1 FOR UPDATE"
    } else {
        "SELECT uid, account_uid, title, created_at, deleted_at, active_root, version FROM sessions WHERE uid = $1"
    };
    let row = client.query_typed_opt(query, typed![&session_uid]).await.map_err(pg("reading the session"))?;
    match row.map(|row| SessionRow::from_row(&row)) {
        Some(session) if session.account_uid == account_uid => Ok(session),
        _ => Err(not_found("session", session_uid)),
    }
}
