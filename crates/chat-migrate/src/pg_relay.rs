//! The relay toward PostgreSQL, for the last phase (`scylla-primary`): ScyllaDB is the source of
//! truth, and every write recorded what it changed in `pg_outbox` (see
//! `ConversationStore::with_change_log`). The relay reads those entries a partition at a time,
//! re-reads each named row from ScyllaDB, writes it to PostgreSQL as ScyllaDB holds it, and then
//! removes the entries. If PostgreSQL is down the entries stay, and the next pass copies them.
//!
//! A session's entries sit in one partition in the order they were recorded, and are copied
//! session row first, then turns, then steps, so a turn never arrives before its session.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::error::MigrateResult;
use crate::relay::{DrainReport, RelayHandle};
use conversation_pg::{PgStore, SessionRow, StepRow, TurnRow};
use conversation_store::{
    Changed, ConversationStore, PgOutboxEntry, PgOutboxEntryPartitionKey, PgOutboxEntryPrimaryKey,
    SessionByUserPrimaryKey, SessionOwnerPrimaryKey, StepByTurnPrimaryKey, TurnBySessionPrimaryKey,
    TurnLocationPrimaryKey, OUTBOX_BUCKETS,
};
use scylla_table::ScyllaTable;

/// Entries read from one partition at a time.
const ENTRIES_PER_READ: i32 = 500;
/// How long the background relay waits when nothing was copied.
const IDLE_WAIT: Duration = Duration::from_millis(200);

/// Copies ScyllaDB's recorded changes to PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct PostgresRelay {
    scylla: ConversationStore,
    pg: PgStore,
}

impl PostgresRelay {
    pub fn new(scylla: ConversationStore, pg: PgStore) -> PostgresRelay {
        PostgresRelay { scylla, pg }
    }

    /// Changes recorded and not yet copied, counted by the node partition by partition.
    pub async fn depth(&self) -> MigrateResult<usize> {
        let db = self.scylla.database();
        let count = format!("SELECT count(*) FROM {}.{} WHERE bucket = ?", db.keyspace(), PgOutboxEntry::TABLE_NAME);
        let mut depth = 0;
        for bucket in 0..OUTBOX_BUCKETS {
            let rows: Vec<(i64,)> = db.query_rows(&count, (bucket,)).await?;
            depth += rows.first().map_or(0, |(count,)| usize::try_from(*count).unwrap_or(0));
        }
        Ok(depth)
    }

    /// One pass over every partition. A partition stops at its first session that fails (so a
    /// session's later changes never overtake earlier ones); the others go on.
    pub async fn drain_once(&self) -> MigrateResult<DrainReport> {
        let mut report = DrainReport::default();
        let mut first_error = None;
        for bucket in 0..OUTBOX_BUCKETS {
            let partition = PgOutboxEntryPartitionKey { bucket };
            let entries = self.scylla.tables().outbox.slice(&partition).limit(ENTRIES_PER_READ).fetch().await?;
            // Sessions in the order their first entry was recorded.
            let mut order: Vec<&str> = Vec::new();
            let mut by_session: BTreeMap<&str, Vec<&PgOutboxEntry>> = BTreeMap::new();
            for entry in &entries {
                let session = by_session.entry(&entry.session_uid).or_default();
                if session.is_empty() {
                    order.push(&entry.session_uid);
                }
                session.push(entry);
            }
            let mut copied_here = 0;
            for session_uid in order {
                let session_entries = &by_session[session_uid];
                match self.copy_session(session_uid, session_entries).await {
                    Ok(()) => {
                        self.remove(&partition, session_entries).await?;
                        copied_here += session_entries.len();
                        report.copied += session_entries.len();
                    }
                    Err(error) => {
                        report.failed += entries.len() - copied_here;
                        tracing::warn!(%error, session_uid, "copy to PostgreSQL failed; will retry");
                        first_error.get_or_insert(error);
                        break;
                    }
                }
            }
        }
        match (first_error, report.copied) {
            // Nothing got through: say why, so a caller can back off.
            (Some(error), 0) => Err(error),
            _ => Ok(report),
        }
    }

    /// Drains until nothing is left, or until `deadline` passes; returns the totals and the
    /// depth left. Without a deadline it waits out any PostgreSQL outage.
    pub async fn drain(&self, deadline: Option<Duration>) -> MigrateResult<(DrainReport, usize)> {
        let out_of_time = |started: std::time::Instant| deadline.is_some_and(|deadline| started.elapsed() >= deadline);
        let started = std::time::Instant::now();
        let mut total = DrainReport::default();
        loop {
            match self.drain_once().await {
                Ok(pass) => {
                    total.copied += pass.copied;
                    total.failed += pass.failed;
                }
                Err(error) if out_of_time(started) => return Err(error),
                Err(error) => tracing::warn!(%error, "relay pass to PostgreSQL failed; retrying"),
            }
            let depth = self.depth().await?;
            if depth == 0 || out_of_time(started) {
                return Ok((total, depth));
            }
            tokio::time::sleep(IDLE_WAIT).await;
        }
    }

    /// Runs the relay in the background until the handle is stopped.
    pub fn spawn(self) -> RelayHandle {
        RelayHandle::run(IDLE_WAIT, "PostgreSQL", move || {
            let relay = self.clone();
            async move { relay.drain_once().await }
        })
    }

    /// Copies the current ScyllaDB rows the entries name: the session, then turns, then steps.
    async fn copy_session(&self, session_uid: &str, entries: &[&PgOutboxEntry]) -> MigrateResult<()> {
        let changes: BTreeSet<Changed> = entries.iter().filter_map(|entry| entry.changed()).collect();
        for changed in changes {
            match changed {
                Changed::Session => {
                    if let Some(row) = self.session_row(session_uid).await? {
                        self.pg.put_session(&row).await?;
                    }
                }
                Changed::Turn { turn_uid } => {
                    if let Some(row) = self.turn_row(&turn_uid).await? {
                        self.pg.put_turn(&row).await?;
                    }
                }
                Changed::Step { turn_uid, idx } => {
                    let key = StepByTurnPrimaryKey { turn_uid, idx };
                    if let Some(step) = self.scylla.tables().steps.get(&key).await? {
                        let row = StepRow {
                            agent_turn_uid: step.turn_uid,
                            idx: step.idx,
                            tpe: step.tpe,
                            content: step.content,
                            created_at: step.created_at,
                            version: 0,
                        };
                        self.pg.put_step(&row).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The session as ScyllaDB holds it; `None` if it was never written (a failed create).
    async fn session_row(&self, session_uid: &str) -> MigrateResult<Option<SessionRow>> {
        let tables = self.scylla.tables();
        let Some(owner) = tables.owners.get(&SessionOwnerPrimaryKey { session_uid: session_uid.to_owned() }).await?
        else {
            return Ok(None);
        };
        let key = SessionByUserPrimaryKey {
            account_uid: owner.account_uid.clone(),
            created_at: owner.created_at,
            session_uid: session_uid.to_owned(),
        };
        let Some(session) = tables.sessions.get(&key).await? else { return Ok(None) };
        Ok(Some(SessionRow {
            uid: session.session_uid,
            account_uid: session.account_uid,
            title: session.title,
            created_at: session.created_at,
            deleted_at: session.deleted_at,
            active_root: owner.active_root,
            version: 0,
        }))
    }

    /// The turn as ScyllaDB holds it; `None` if it was never written.
    async fn turn_row(&self, turn_uid: &str) -> MigrateResult<Option<TurnRow>> {
        let tables = self.scylla.tables();
        let Some(location) = tables.locations.get(&TurnLocationPrimaryKey { turn_uid: turn_uid.to_owned() }).await?
        else {
            return Ok(None);
        };
        let key = TurnBySessionPrimaryKey {
            session_uid: location.session_uid.clone(),
            created_at: location.created_at,
            turn_uid: turn_uid.to_owned(),
        };
        let Some(turn) = tables.turns.get(&key).await? else { return Ok(None) };
        Ok(Some(TurnRow {
            uid: turn.turn_uid,
            session_uid: turn.session_uid,
            turn_type: turn.turn_type,
            parent_uid: turn.parent_uid,
            active_child: turn.active_child,
            prompt: turn.prompt,
            liked: turn.liked,
            created_at: turn.created_at,
            version: 0,
        }))
    }

    /// Removes copied entries, one partition's rows in one unlogged batch.
    async fn remove(&self, partition: &PgOutboxEntryPartitionKey, entries: &[&PgOutboxEntry]) -> MigrateResult<()> {
        let keys: Vec<PgOutboxEntryPrimaryKey> = entries
            .iter()
            .map(|entry| PgOutboxEntryPrimaryKey {
                bucket: entry.bucket,
                recorded_at: entry.recorded_at,
                entry_id: entry.entry_id.clone(),
            })
            .collect();
        for chunk in keys.chunks(100) {
            let mut batch = self.scylla.database().unlogged_batch();
            for key in chunk {
                batch.delete::<PgOutboxEntry>(key, partition).await?;
            }
            batch.execute().await?;
        }
        Ok(())
    }
}
