//! The migration's shared phase, as the relational store sees it: what the phase asks of a write
//! that reaches PostgreSQL first. The phase itself (which phases there are, how one moves between
//! them) belongs to the migration; here is only the row every write transaction reads.
//!
//! A write transaction of a store [following the phase](crate::PgStore::following_the_phase)
//! takes [`PHASE_LOCK`] shared, then reads `migration_phase.relational_writes`. A phase change
//! takes the same lock exclusively while it updates the row. So a write either commits wholly
//! before a change or reads the new phase; none records its change the old way after it.

use conversation_store::{StoreError, StoreResult};
use tokio_postgres::GenericClient;

use crate::store::{pg, PgStore};

/// The advisory lock between write transactions (shared) and phase changes (exclusive). Taken
/// per transaction, so it works through PgBouncer in transaction mode.
pub const PHASE_LOCK: i64 = 0x6368_6174_5f70_6801;

/// What the shared phase asks of a relational write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationalWrites {
    /// Write PostgreSQL only (`postgres`).
    Plain,
    /// Record each change in the outbox, for ScyllaDB (`dual-write`, `shadow`, `scylla-reads`).
    Recorded,
    /// Refuse: ScyllaDB is written first (`scylla-primary`).
    Refused,
}

impl RelationalWrites {
    pub fn name(self) -> &'static str {
        match self {
            RelationalWrites::Plain => "plain",
            RelationalWrites::Recorded => "recorded",
            RelationalWrites::Refused => "refused",
        }
    }

    fn parse(text: &str) -> StoreResult<RelationalWrites> {
        [RelationalWrites::Plain, RelationalWrites::Recorded, RelationalWrites::Refused]
            .into_iter()
            .find(|writes| writes.name() == text)
            .ok_or_else(|| StoreError::InvalidInput {
                field: "migration_phase.relational_writes",
                reason: format!("`{text}` is none of plain, recorded, refused"),
            })
    }
}

/// Takes the phase lock (shared, until the transaction ends) and reads what the phase asks of
/// writes. The two statements go out together, and the read starts only once the lock is held,
/// so it sees a phase change that held the lock before.
pub(crate) async fn writes_in(tx: &tokio_postgres::Transaction<'_>) -> StoreResult<RelationalWrites> {
    let lock = tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&PHASE_LOCK]);
    let read = tx.query_one("SELECT relational_writes FROM migration_phase", &[]);
    let (locked, row) = futures::join!(lock, read);
    locked.map_err(pg("taking the phase lock"))?;
    RelationalWrites::parse(row.map_err(pg("reading the shared phase"))?.get(0))
}

/// The error of a write the phase refuses.
pub(crate) fn refused() -> StoreError {
    StoreError::WritesMoved {
        reason: "the shared phase is scylla-primary: ScyllaDB is written first, and PostgreSQL gets its copy \
                 from the relay"
            .into(),
    }
}

impl PgStore {
    /// What the shared phase asks of relational writes now (no lock: for relays and tools).
    pub async fn relational_writes(&self) -> StoreResult<RelationalWrites> {
        let client = self.client().await?;
        read(&**client).await
    }
}

async fn read(client: &(impl GenericClient + Sync)) -> StoreResult<RelationalWrites> {
    let row = client
        .query_one("SELECT relational_writes FROM migration_phase", &[])
        .await
        .map_err(pg("reading the shared phase"))?;
    RelationalWrites::parse(row.get(0))
}
