//! The outbox toward PostgreSQL, for the migration's last phase: ScyllaDB is primary, and
//! PostgreSQL keeps a copy for analytics and backup.
//!
//! With [`ConversationStore::with_outbox`], every write records what it changed in
//! `pg_outbox`. Where the write is a logged batch, the entry goes in the same batch, so the change
//! and its record land together or not at all. Where the write is a lightweight transaction,
//! which cannot share a batch with another partition, the entry is written just before it, and
//! again once it succeeded: an entry for a write that then did not happen makes the relay copy
//! the current rows once more, which changes nothing, while a change without an entry cannot
//! happen. The second entry covers a transaction that lands after the relay let the first one go
//! (see `chat_migrate::relay::to_postgres`'s grace): a writer paused for minutes, or a clock far behind.
//!
//! A recorded change to an existing row is stamped past the row's newest write time
//! ([`ConversationStore::stamp_after`]): one clock per row, whatever the hosts' clocks say.

use chrono::Utc;
use scylla_table::{Batch, ColumnOf, RowKey, ScyllaTable, Settable, Table};

use crate::change::{Changed, OUTBOX_RERECORD_AFTER};
use crate::error::StoreResult;
use crate::store::{ConversationStore, StoreTables};
use crate::tables::{PgOutboxEntry, PgOutboxSlot};

impl PgOutboxEntry {
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
    pub fn with_outbox(mut self, record: bool) -> ConversationStore {
        self.writes_outbox = record;
        self
    }

    /// Whether writes record their changes in `pg_outbox`.
    pub fn writes_outbox(&self) -> bool {
        self.writes_outbox
    }

    /// The entries to add to a write's logged batch, dated at its timestamp when it has one:
    /// none when changes are not recorded.
    pub(crate) fn outbox_entries(
        &self,
        session_uid: &str,
        changes: &[Changed],
        stamp: Option<i64>,
    ) -> Vec<PgOutboxEntry> {
        if !self.writes_outbox {
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
        if !self.writes_outbox {
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
        if !self.writes_outbox {
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
