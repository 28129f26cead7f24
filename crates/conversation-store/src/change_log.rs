//! The change log toward PostgreSQL, for the migration's last phase: ScyllaDB is primary, and
//! PostgreSQL keeps a copy for analytics and backup.
//!
//! With [`ConversationStore::with_change_log`], every write records what it changed in
//! `pg_outbox`. Where the write is a logged batch, the entry goes in the same batch, so the change
//! and its record land together or not at all. Where the write is a lightweight transaction,
//! which cannot share a batch with another partition, the entry is written just before it, and
//! again once it succeeded: an entry for a write that then did not happen makes the relay copy
//! the current rows once more, which changes nothing, while a change without an entry cannot
//! happen. The second entry covers a transaction that lands after the relay let the first one go
//! (see `chat_migrate::pg_relay`'s grace): a writer paused for minutes, or a clock far behind.
//!
//! A recorded change to an existing row is stamped past the row's newest write time
//! ([`ConversationStore::stamp_after`]): one clock per row, whatever the hosts' clocks say.

use scylla_table::{ColumnOf, Consistency, RowKey, ScyllaTable, Settable, Table};

use crate::error::StoreResult;
use crate::store::{new_id, now_millis, ConversationStore};
use crate::tables::PgOutboxEntry;

/// Partitions of `pg_outbox`.
pub const OUTBOX_BUCKETS: i32 = 16;

/// What a change touched: the row to copy again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Changed {
    /// The session row (title, deletion, active root), or the whole session when it was purged.
    Session,
    Turn {
        turn_uid: String,
    },
    Step {
        turn_uid: String,
        idx: i32,
    },
}

impl Changed {
    /// The kind as stored (`session`, `turn`, `step`), the turn, and the step index.
    pub fn parts(&self) -> (&'static str, Option<&str>, Option<i32>) {
        match self {
            Changed::Session => ("session", None, None),
            Changed::Turn { turn_uid } => ("turn", Some(turn_uid), None),
            Changed::Step { turn_uid, idx } => ("step", Some(turn_uid), Some(*idx)),
        }
    }

    /// Rebuilds a change from its stored parts; `None` for parts no writer makes.
    pub fn from_parts(kind: &str, turn_uid: Option<String>, idx: Option<i32>) -> Option<Changed> {
        match (kind, turn_uid, idx) {
            ("session", _, _) => Some(Changed::Session),
            ("turn", Some(turn_uid), _) => Some(Changed::Turn { turn_uid }),
            ("step", Some(turn_uid), Some(idx)) => Some(Changed::Step { turn_uid, idx }),
            _ => None,
        }
    }
}

/// A bucket in `0..buckets` from FNV-1a, which is fixed across builds and platforms (std's
/// hasher is not), so every process puts a key in the same bucket.
pub fn stable_bucket(key: &str, buckets: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash % buckets.max(1)
}

impl PgOutboxEntry {
    /// A new entry for `changed` in `session_uid`, in the session's bucket.
    pub fn new(session_uid: &str, changed: &Changed) -> PgOutboxEntry {
        let (kind, turn_uid, idx) = changed.parts();
        PgOutboxEntry {
            bucket: stable_bucket(session_uid, OUTBOX_BUCKETS as u64) as i32,
            recorded_at: now_millis(),
            entry_id: new_id(),
            session_uid: session_uid.to_owned(),
            kind: kind.to_owned(),
            turn_uid: turn_uid.map(str::to_owned),
            idx,
        }
    }

    pub fn changed(&self) -> Option<Changed> {
        Changed::from_parts(&self.kind, self.turn_uid.clone(), self.idx)
    }
}

impl ConversationStore {
    /// The same store, recording every change in `pg_outbox` (`true`) or not (the default).
    pub fn with_change_log(mut self, record: bool) -> ConversationStore {
        self.change_log = record;
        self
    }

    pub fn records_changes(&self) -> bool {
        self.change_log
    }

    /// The entries to add to a write's logged batch: none when changes are not recorded.
    pub(crate) fn outbox_entries(&self, session_uid: &str, changes: &[Changed]) -> Vec<PgOutboxEntry> {
        if !self.change_log {
            return Vec::new();
        }
        changes.iter().map(|changed| PgOutboxEntry::new(session_uid, changed)).collect()
    }

    /// Records a change before a lightweight transaction makes it, and again after it succeeded.
    pub(crate) async fn record(&self, session_uid: &str, changed: Changed) -> StoreResult<()> {
        for entry in self.outbox_entries(session_uid, &[changed]) {
            self.tables.outbox.insert(&entry).await?;
        }
        Ok(())
    }

    /// The timestamp of a change to the row at `key`, while ScyllaDB is primary: this host's
    /// clock, but never below the row's newest write time. The row's last copy from dual-write
    /// carries PostgreSQL's clock; were this host's behind it, the change would silently lose to
    /// that copy. The row is read at QUORUM, so a replica that missed its last write cannot hide it.
    pub(crate) async fn stamp_after<T>(&self, table: &Table<T>, key: &T::PrimaryKey) -> StoreResult<i64>
    where
        T: ScyllaTable,
    {
        let row = table.clone().with_read_consistency(Consistency::Quorum).get_timed(key).await?;
        let now = chrono::Utc::now().timestamp_micros();
        Ok(row.and_then(|row| row.newest_write).map_or(now, |written| now.max(written + 1)))
    }

    /// Sets one column, with the change's entry in the same logged batch when changes are
    /// recorded. `change` is the session and what changed in it.
    pub(crate) async fn update_recorded<T, C>(
        &self,
        table: &Table<T>,
        key: &T::PrimaryKey,
        column: C,
        value: &C::Value,
        (session_uid, changed): (&str, Changed),
    ) -> StoreResult<()>
    where
        T: ScyllaTable,
        T::PrimaryKey: RowKey<Table = T>,
        C: ColumnOf<T> + Settable,
    {
        let entries = self.outbox_entries(session_uid, &[changed]);
        if entries.is_empty() {
            table.set(key, column, value).await?;
            return Ok(());
        }
        let mut batch = self.db.logged_batch().with_timestamp(self.stamp_after(table, key).await?);
        batch.set(key, column, value).await?;
        for entry in &entries {
            batch.insert(entry).await?;
        }
        batch.execute().await?;
        Ok(())
    }
}
