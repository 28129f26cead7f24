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

use chrono::{DateTime, Utc};
use scylla_table::{Batch, ColumnOf, RowKey, ScyllaTable, Settable, Table};

use crate::error::StoreResult;
use crate::store::{new_id, now_millis, ConversationStore, StoreTables};
use crate::tables::{PgOutboxEntry, PgOutboxSlot};

/// Buckets of `pg_outbox`: each minute's entries are spread over this many partitions.
pub const OUTBOX_BUCKETS: i32 = 16;

/// The span of one `pg_outbox` partition (a bucket's slot), in seconds.
pub const OUTBOX_SLOT_SECONDS: i64 = 60;

/// How long after its `recorded_at` an entry may land before it is recorded again, in the minute
/// it landed in: the relay stops reading a minute some minutes after it ends (see
/// `chat_migrate::pg_relay::LATE_ENTRY_ALLOWANCE`), and a write held up that long (a paused
/// process, a slow request) must not land where nobody looks.
pub const OUTBOX_RERECORD_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// The slot an entry recorded at `recorded_at` goes in: the start of its minute.
pub fn outbox_slot(recorded_at: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = recorded_at.timestamp().div_euclid(OUTBOX_SLOT_SECONDS) * OUTBOX_SLOT_SECONDS;
    DateTime::from_timestamp(seconds, 0).unwrap_or(recorded_at)
}

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
        let recorded_at = now_millis();
        PgOutboxEntry {
            bucket: stable_bucket(session_uid, OUTBOX_BUCKETS as u64) as i32,
            slot: outbox_slot(recorded_at),
            recorded_at,
            entry_id: new_id(),
            session_uid: session_uid.to_owned(),
            kind: kind.to_owned(),
            turn_uid: turn_uid.map(str::to_owned),
            idx,
            stamp: None,
        }
    }

    /// The same entry, made by a logged batch with timestamp `stamp` (microseconds): the relay
    /// takes it as the change's version, which a write of a null cannot give (CQL has no write
    /// time for a null), and deletes the entry no earlier than it.
    pub fn stamped(mut self, stamp: i64) -> PgOutboxEntry {
        self.stamp = Some(stamp);
        self
    }

    pub fn changed(&self) -> Option<Changed> {
        Changed::from_parts(&self.kind, self.turn_uid.clone(), self.idx)
    }

    /// What the entry names; the session row for parts no writer makes.
    fn changed_or_session(&self) -> Changed {
        self.changed().unwrap_or(Changed::Session)
    }

    /// The row that lists this entry's partition for the relay.
    pub fn slot_row(&self) -> PgOutboxSlot {
        PgOutboxSlot { bucket: self.bucket, slot: self.slot }
    }

    /// The rows that list these entries' partitions, once each.
    pub fn slot_rows(entries: &[PgOutboxEntry]) -> Vec<PgOutboxSlot> {
        let mut slots: Vec<PgOutboxSlot> = entries.iter().map(PgOutboxEntry::slot_row).collect();
        slots.dedup();
        slots
    }

    /// Adds the entries to a batch, with the rows of their slots ([`PgOutboxEntry::slot_rows`]).
    pub async fn add_to<'a>(
        entries: &'a [PgOutboxEntry],
        slots: &'a [PgOutboxSlot],
        batch: &mut Batch<'a>,
    ) -> StoreResult<()> {
        for slot in slots {
            batch.insert(slot).await?;
        }
        for entry in entries {
            batch.insert(entry).await?;
        }
        Ok(())
    }
}

impl StoreTables {
    /// Records one entry on its own, with its slot's row in the same logged batch, so the relay
    /// never misses the entry.
    pub async fn append_to_outbox(&self, entry: &PgOutboxEntry) -> StoreResult<()> {
        let slot = entry.slot_row();
        let mut batch = self.outbox.database().logged_batch();
        batch.insert(&slot).await?;
        batch.insert(entry).await?;
        batch.execute().await?;
        self.record_again_if_late(std::slice::from_ref(entry)).await
    }

    /// Records the entries again, in the current minute, if they landed more than
    /// [`OUTBOX_RERECORD_AFTER`] after they were made; and so on, should the new record be late
    /// too (a process paused again).
    pub(crate) async fn record_again_if_late(&self, entries: &[PgOutboxEntry]) -> StoreResult<()> {
        let late = chrono::Duration::from_std(OUTBOX_RERECORD_AFTER).unwrap_or(chrono::Duration::MAX);
        for entry in entries {
            let mut landed = entry.clone();
            while Utc::now() - landed.recorded_at > late {
                landed = PgOutboxEntry {
                    stamp: entry.stamp,
                    ..PgOutboxEntry::new(&entry.session_uid, &entry.changed_or_session())
                };
                let slot = landed.slot_row();
                let mut batch = self.outbox.database().logged_batch();
                batch.insert(&slot).await?;
                batch.insert(&landed).await?;
                batch.execute().await?;
            }
        }
        Ok(())
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

    /// The entries to add to a write's logged batch, dated at its timestamp when it has one:
    /// none when changes are not recorded.
    pub(crate) fn outbox_entries(
        &self,
        session_uid: &str,
        changes: &[Changed],
        stamp: Option<i64>,
    ) -> Vec<PgOutboxEntry> {
        if !self.change_log {
            return Vec::new();
        }
        changes
            .iter()
            .map(|changed| {
                let entry = PgOutboxEntry::new(session_uid, changed);
                match stamp {
                    Some(stamp) => entry.stamped(stamp),
                    None => entry,
                }
            })
            .collect()
    }

    /// Records a change before a lightweight transaction makes it, and again after it succeeded.
    pub(crate) async fn record(&self, session_uid: &str, changed: Changed) -> StoreResult<()> {
        for entry in self.outbox_entries(session_uid, &[changed], None) {
            self.tables.append_to_outbox(&entry).await?;
        }
        Ok(())
    }

    /// The newest write time of the row at `key`, read at the table's write consistency: with
    /// QUORUM what a quorum acknowledged, which a replica that missed the last write cannot hide.
    /// With LOCAL_QUORUM that holds within the datacenter only: a write acknowledged in another
    /// one may not be seen yet.
    pub(crate) async fn newest_write<T: ScyllaTable>(
        &self,
        table: &Table<T>,
        key: &T::PrimaryKey,
    ) -> StoreResult<Option<i64>> {
        let read = table.consistency().write;
        Ok(table.clone().with_read_consistency(read).get_timed(key).await?.and_then(|row| row.newest_write))
    }

    /// [`ConversationStore::newest_write`] when changes are recorded (the stamp needs it), and
    /// `None` otherwise, without a read.
    pub(crate) async fn recorded_write<T: ScyllaTable>(
        &self,
        table: &Table<T>,
        key: &T::PrimaryKey,
    ) -> StoreResult<Option<i64>> {
        if !self.change_log {
            return Ok(None);
        }
        self.newest_write(table, key).await
    }

    /// The timestamp of a change to a relational row whose ScyllaDB rows last wrote at
    /// `written`, while ScyllaDB is primary: this host's clock, but never below `written`. The
    /// rows' last copy from dual-write carries PostgreSQL's clock (and a lightweight transaction
    /// the coordinator's); were this host's behind, the change would silently lose to them.
    pub(crate) fn stamp_after(written: &[Option<i64>]) -> i64 {
        let now = chrono::Utc::now().timestamp_micros();
        written.iter().flatten().fold(now, |stamp, written| stamp.max(written + 1))
    }

    /// Sets one column, with the change's entry in the same logged batch when changes are
    /// recorded, stamped past the row's newest write and `also_written` (that of the other
    /// ScyllaDB row behind the same relational row). `change` is the session and what changed in it.
    pub(crate) async fn update_recorded<T, C>(
        &self,
        table: &Table<T>,
        key: &T::PrimaryKey,
        column: C,
        value: &C::Value,
        (session_uid, changed): (&str, Changed),
        also_written: Option<i64>,
    ) -> StoreResult<()>
    where
        T: ScyllaTable,
        T::PrimaryKey: RowKey<Table = T>,
        C: ColumnOf<T> + Settable,
    {
        if !self.change_log {
            table.set(key, column, value).await?;
            return Ok(());
        }
        let stamp = ConversationStore::stamp_after(&[self.newest_write(table, key).await?, also_written]);
        let entries = self.outbox_entries(session_uid, &[changed], Some(stamp));
        let mut batch = self.db.logged_batch().with_timestamp(stamp);
        let slots = PgOutboxEntry::slot_rows(&entries);
        batch.set(key, column, value).await?;
        PgOutboxEntry::add_to(&entries, &slots, &mut batch).await?;
        batch.execute().await?;
        self.tables.record_again_if_late(&entries).await?;
        Ok(())
    }
}
