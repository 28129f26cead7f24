//! The migration's shared phase, as the relational store sees it: what the phase asks of a write
//! that reaches PostgreSQL first. The phase itself (which phases there are, how one moves between
//! them) belongs to the migration; here is only the row every write transaction reads.
//!
//! A write transaction of a store [following the phase](crate::PgStore::following_the_phase)
//! takes [`PHASE_LOCK`] shared, then reads `migration_phase.relational_writes`. A phase change
//! takes the same lock exclusively while it updates the row. So a write either commits wholly
//! before a change or reads the new phase; none records its change the old way after it.

use crate::typed;
use conversation_store::{StoreError, StoreResult};
use deadpool_postgres::Object;
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
/// so in a READ COMMITTED transaction it sees a phase change that held the lock before.
pub(crate) async fn writes_in(tx: &(impl GenericClient + Sync)) -> StoreResult<RelationalWrites> {
    let params = typed![&PHASE_LOCK];
    let lock = tx.execute_typed("SELECT pg_advisory_xact_lock_shared($1)", params);
    let read = tx.query_typed_one("SELECT relational_writes FROM migration_phase", typed![]);
    let (locked, row) = futures::join!(lock, read);
    locked.map_err(pg("taking the phase lock"))?;
    RelationalWrites::parse(row.map_err(pg("reading the shared phase"))?.get(0))
}

/// The shared phase, held still: a transaction that holds the phase lock shared, so no phase
/// change happens until [`PhaseHold::release`]. Work that must not straddle a change (a repair
/// that writes ScyllaDB from PostgreSQL) runs inside one, on [`PhaseHold::client`].
pub struct PhaseHold {
    client: Option<Object>,
    /// What the phase asks of relational writes, for as long as the hold lasts.
    pub writes: RelationalWrites,
}

impl PgStore {
    /// Holds the shared phase still (see [`PhaseHold`]).
    pub async fn hold_phase(&self) -> StoreResult<PhaseHold> {
        // The hold owns the connection before the transaction begins, so that dropping it at any
        // point (an error, a cancelled task) closes the connection rather than pooling it.
        let mut hold = PhaseHold { client: Some(self.client().await?), writes: RelationalWrites::Plain };
        hold.client()
            .batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
            .map_err(pg("starting the phase hold"))?;
        // What repair writes inside a hold is the store's own (see crate::marker::mark_as_store).
        crate::marker::mark_as_store(hold.client()).await?;
        hold.writes = writes_in(hold.client()).await?;
        Ok(hold)
    }
}

impl PhaseHold {
    /// The connection the hold's transaction runs on.
    pub fn client(&self) -> &tokio_postgres::Client {
        self.client.as_deref().map(|client| &**client).expect("a hold has its connection until it is released")
    }

    /// Commits what ran inside the hold and lets phase changes through again.
    pub async fn release(mut self) -> StoreResult<()> {
        self.client().batch_execute("COMMIT").await.map_err(pg("ending the phase hold"))?;
        // Committed: the connection can serve others again.
        drop(self.client.take());
        Ok(())
    }
}

impl Drop for PhaseHold {
    /// A hold dropped unreleased (an error, a cancelled task) takes its connection out of the
    /// pool and closes it: the server rolls the transaction back and frees the lock, and no
    /// later user of the pool finds itself inside it.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
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
        .query_typed_one("SELECT relational_writes FROM migration_phase", typed![])
        .await
        .map_err(pg("reading the shared phase"))?;
    RelationalWrites::parse(row.get(0))
}
