//! The relay toward PostgreSQL, for the last phase (`scylla-primary`): ScyllaDB is the source of
//! truth, and every write recorded what it changed in `pg_outbox` (see
//! `ConversationStore::with_outbox`). The relay reads those entries a partition at a time,
//! re-reads each named row from ScyllaDB with its write time, writes it to PostgreSQL as ScyllaDB
//! holds it unless PostgreSQL has a newer one (see `conversation_pg`'s `put_*`), and then removes
//! the entries. If PostgreSQL is down the entries stay, and the next pass copies them.
//!
//! A session's entries sit in one bucket, a partition a minute, in the order they were recorded,
//! and are copied session row first, then turns, then steps, so a turn never arrives before its
//! session. A pass reads only the minutes `pg_outbox_slots` lists, and removes a minute from the
//! list once it reads empty and is older than [`LATE_ENTRY_ALLOWANCE`]: the tombstones of drained
//! entries stay behind in minutes no pass reads again. A session whose entries wait backs off,
//! up to [`MAX_SESSION_BACKOFF`] between tries.
//!
//! Every read here sees what a quorum acknowledged: entries and rows at QUORUM, and rows that a
//! lightweight transaction claims (session owners, turn locations, steps) at SERIAL, which also
//! finishes a transaction left in progress. A replica that missed a write can then neither hide
//! an entry nor make a row look unwritten or older. An entry whose row is still not there is
//! kept and tried again: an entry is recorded just before its lightweight transaction, and the
//! rows of a logged batch land one partition at a time. Only once the entry is older than
//! [`MISSING_ROW_GRACE`] does a missing row mean the write never happened (its caller got an
//! error), and that entry is let go; a write that succeeds later records its change again (see
//! `ConversationStore::with_outbox`). Every other entry of the session is decided on its own.

use conversation_pg::typed;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{DrainReport, RelayHandle};
use crate::copier::ScyllaCopier;
use crate::error::{pg_error, MigrateResult};
use crate::monitoring::{self, RelayTarget};
use conversation_pg::{PgStore, SessionRow, StepRow, TurnRow};
use conversation_store::{
    Changed, ConversationStore, PgOutboxEntry, PgOutboxEntryPartitionKey, PgOutboxEntryPrimaryKey, PgOutboxSlot,
    PgOutboxSlotPartitionKey, PgOutboxSlotPrimaryKey, SessionByUserPrimaryKey, SessionOwnerPrimaryKey,
    StepByTurnPrimaryKey, StoreTables, TurnBySessionPrimaryKey, TurnLocationPrimaryKey, OUTBOX_BUCKETS,
    OUTBOX_SLOT_SECONDS,
};
use scylla_table::{ConsistencyLevels, Database, ScyllaTable, Timed};

/// Entries read from one partition at a time.
const ENTRIES_PER_READ: i32 = 500;
/// How long an entry may name a row that is not there before the write counts as never made. A
/// write finishes or fails within its request timeouts (seconds); this is far beyond them, and
/// beyond any sane clock difference between the writer's host and the relay's.
pub const MISSING_ROW_GRACE: Duration = Duration::from_secs(120);
/// How long the background relay waits when nothing was copied.
const IDLE_WAIT: Duration = Duration::from_millis(200);
/// How long after its minute ends an entry may still be written into it: a writer's clock behind
/// the relay's, and the time a write takes. A minute is read until it is this old and empty.
/// The fleet's clocks must agree within it.
pub const LATE_ENTRY_ALLOWANCE: Duration = Duration::from_secs(300);
/// A bucket and one of its minutes.
type SlotKey = (i32, DateTime<Utc>);

/// Minutes of a bucket read in one pass at most, oldest first: after a long outage of PostgreSQL
/// the backlog is worked off a few hours at a time rather than held in memory at once.
const SLOTS_PER_PASS: usize = 120;
/// The longest a session whose entries wait goes untried.
pub const MAX_SESSION_BACKOFF: Duration = Duration::from_secs(10);

/// Copies ScyllaDB's recorded changes to PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct PostgresRelay {
    db: Database,
    /// The store's tables, reading at QUORUM, and at SERIAL where a lightweight transaction
    /// claims the row.
    tables: StoreTables,
    pg: PgStore,
    /// The tables the store writes, `steps_by_session` among them or not.
    layout: crate::projection::Layout,
    /// Sessions whose entries wait: how many passes they waited, and when to try them next.
    waiting: Arc<Mutex<HashMap<String, (u32, Instant)>>>,
    /// Minutes this relay took off the list.
    forgotten: Arc<Mutex<HashSet<SlotKey>>>,
}

/// What copying a session's named rows came to.
#[derive(Debug, Default)]
pub(crate) struct RowsCopied {
    /// Rows written to PostgreSQL (or already there as new).
    pub copied: usize,
    /// Rows not in ScyllaDB (yet).
    pub missing: BTreeSet<Changed>,
    /// Rows not tried, because their session or turn is missing: they wait with it.
    pub skipped: BTreeSet<Changed>,
    /// Rows PostgreSQL refused (a constraint, a value it cannot hold), with its error: their
    /// entries go to the dead letters, where they hold nothing else back.
    pub refused: BTreeMap<Changed, String>,
}

impl RowsCopied {
    /// Whether `changed` is in PostgreSQL now, its entry done.
    fn done(&self, changed: &Changed) -> bool {
        !self.missing.contains(changed) && !self.skipped.contains(changed) && !self.refused.contains_key(changed)
    }
}

impl PostgresRelay {
    pub fn new(scylla: ConversationStore, pg: PgStore) -> PostgresRelay {
        let db = scylla.database().clone();
        let levels = scylla.tables().turns.consistency();
        let quorum = ConsistencyLevels { read: levels.strong_read(), ..levels };
        let mut tables = scylla.tables().clone().with_consistency(quorum);
        tables.owners = tables.owners.with_read_consistency(levels.serial());
        tables.locations = tables.locations.with_read_consistency(levels.serial());
        tables.steps = tables.steps.with_read_consistency(levels.serial());
        // A purge it finishes tombstones every table the store writes.
        let layout = crate::projection::Layout { steps_by_session: scylla.uses_steps_by_session() };
        PostgresRelay { db, tables, pg, layout, waiting: Arc::default(), forgotten: Arc::default() }
    }

    pub fn pg(&self) -> &PgStore {
        &self.pg
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Changes recorded and not yet copied, counted at QUORUM partition by partition: a replica
    /// that missed an entry cannot make the queue look drained.
    pub async fn depth(&self) -> MigrateResult<usize> {
        let db = &self.db;
        let count = format!(
            "SELECT count(*) FROM {}.{} WHERE bucket = ? AND slot = ?",
            db.keyspace(),
            PgOutboxEntry::TABLE_NAME
        );
        let mut depth = 0;
        for bucket in 0..OUTBOX_BUCKETS {
            for slot in self.slots(bucket).await? {
                let rows: Vec<(i64,)> =
                    db.query_rows_at(db.consistency().strong_read(), &count, (bucket, slot)).await?;
                depth += rows.first().map_or(0, |(count,)| usize::try_from(*count).unwrap_or(0));
            }
        }
        monitoring::pg_outbox(depth);
        Ok(depth)
    }

    /// The minutes of `bucket` to read in a pass: the oldest [`SLOTS_PER_PASS`], and any this
    /// relay took off the list that are still listed (a row written ahead of the clocks, or a
    /// late entry), which must not take the places of newer minutes.
    async fn slots_to_read(&self, bucket: i32) -> MigrateResult<Vec<DateTime<Utc>>> {
        let forgotten = self.lock_forgotten().clone();
        let (stuck, listed): (Vec<DateTime<Utc>>, Vec<DateTime<Utc>>) =
            self.slots(bucket).await?.into_iter().partition(|slot| forgotten.contains(&(bucket, *slot)));
        Ok(stuck.into_iter().chain(listed.into_iter().take(SLOTS_PER_PASS)).collect())
    }

    /// The minutes of `bucket` that may hold entries, oldest first.
    async fn slots(&self, bucket: i32) -> MigrateResult<Vec<DateTime<Utc>>> {
        let listed = self.tables.outbox_slots.slice(&PgOutboxSlotPartitionKey { bucket }).fetch().await?;
        Ok(listed.into_iter().map(|row: PgOutboxSlot| row.slot).collect())
    }

    /// One pass over every bucket. A session that fails, or waits for a row, keeps its entries
    /// for a later pass; the other sessions go on (each session's entries are copied together,
    /// so none of them overtakes another of the same session).
    pub async fn drain_once(&self) -> MigrateResult<DrainReport> {
        let mut report = DrainReport::default();
        let mut first_error = None;
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for bucket in 0..OUTBOX_BUCKETS {
            let mut entries = Vec::new();
            let mut drained_slots = Vec::new();
            // The time the minutes were read at: whether one is closed is decided by it, so a
            // pass that stalled cannot call a minute closed that it read while still open.
            let read_at = Utc::now();
            for slot in self.slots_to_read(bucket).await? {
                let partition = PgOutboxEntryPartitionKey { bucket, slot };
                let found = self.tables.outbox.slice(&partition).limit(ENTRIES_PER_READ).fetch().await?;
                if found.is_empty() {
                    drained_slots.push(slot);
                }
                entries.extend(found);
            }
            self.forget_slots(bucket, &drained_slots, read_at).await?;
            entries.sort_by(|a, b| (a.recorded_at, &a.entry_id).cmp(&(b.recorded_at, &b.entry_id)));
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
            let purged = self.purged_among(&order).await?;
            for session_uid in order {
                let session_entries = &by_session[session_uid];
                seen.insert(session_uid.to_owned());
                if self.backing_off(session_uid) {
                    report.waiting += session_entries.len();
                    continue;
                }
                if purged.contains(session_uid) {
                    match self.finish_purge(session_uid, session_entries).await {
                        Ok(true) => {
                            report.copied += session_entries.len();
                            self.lock_waiting().remove(session_uid);
                            continue;
                        }
                        // Another session under a purged id: copied like any other.
                        Ok(false) => {}
                        Err(error) => {
                            report.failed += session_entries.len();
                            self.wait_longer(session_uid);
                            tracing::warn!(%error, session_uid, "finishing a purge failed; will retry");
                            first_error.get_or_insert(error);
                            continue;
                        }
                    }
                }
                let outcome = match self.copy_session(session_uid, session_entries).await {
                    Ok(outcome) => outcome,
                    Err(error) => {
                        report.failed += session_entries.len();
                        self.wait_longer(session_uid);
                        tracing::warn!(%error, session_uid, "copy to PostgreSQL failed; will retry");
                        first_error.get_or_insert(error);
                        continue;
                    }
                };
                // Entry by entry: one whose row is copied goes; one whose row is missing waits,
                // unless it outlived the grace (its write failed); the rest wait for their row's
                // session or turn.
                let mut done = Vec::new();
                let mut waits = false;
                for entry in session_entries.iter().copied() {
                    match entry.changed() {
                        Some(changed) if outcome.missing.contains(&changed) && outlived_grace(entry) => {
                            tracing::warn!(
                                session_uid,
                                row = ?changed,
                                grace_s = MISSING_ROW_GRACE.as_secs(),
                                "an entry names a row that never appeared: its write failed; letting it go"
                            );
                            report.abandoned += 1;
                            done.push(entry);
                        }
                        Some(changed) if outcome.refused.contains_key(&changed) => {
                            let error = &outcome.refused[&changed];
                            tracing::warn!(session_uid, row = ?changed, error, "PostgreSQL refused the row; dead-lettered");
                            self.dead_letter(entry, error).await?;
                            report.dead_lettered += 1;
                            done.push(entry);
                        }
                        Some(changed) if !outcome.done(&changed) => {
                            report.waiting += 1;
                            waits = true;
                        }
                        _ => {
                            report.copied += 1;
                            done.push(entry);
                        }
                    }
                }
                if waits {
                    self.wait_longer(session_uid);
                } else {
                    self.lock_waiting().remove(session_uid);
                }
                self.remove(&done).await?;
            }
        }
        // A session no longer in the outbox waits for nothing.
        self.lock_waiting().retain(|session_uid, _| seen.contains(session_uid));
        report.record(RelayTarget::Postgres);
        match (first_error, report.copied) {
            // Nothing got through: say why, so a caller can back off.
            (Some(error), 0) => Err(error),
            _ => Ok(report),
        }
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.waiting.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Whether the session waited on its last try and its next is not due yet.
    fn backing_off(&self, session_uid: &str) -> bool {
        self.lock_waiting().get(session_uid).is_some_and(|(_, next)| *next > Instant::now())
    }

    /// The session waits again: its next try comes twice as late as the last, up to
    /// [`MAX_SESSION_BACKOFF`].
    fn wait_longer(&self, session_uid: &str) {
        let mut waiting = self.lock_waiting();
        let (tries, next) = waiting.entry(session_uid.to_owned()).or_insert((0, Instant::now()));
        *tries = tries.saturating_add(1);
        let backoff = IDLE_WAIT.saturating_mul(1 << (*tries).min(8)).min(MAX_SESSION_BACKOFF);
        *next = Instant::now() + backoff;
    }

    /// Takes minutes read empty at `read_at` off the list, once no entry can be written into them
    /// any more. The delete is dated at the minute's close, not by this host's clock: a clock
    /// running ahead cannot date it past the writes of a minute still open. A row that outlives
    /// the delete (written ahead of the clocks) stays listed, and is not deleted again.
    async fn forget_slots(&self, bucket: i32, drained: &[DateTime<Utc>], read_at: DateTime<Utc>) -> MigrateResult<()> {
        let allowance = chrono::Duration::from_std(LATE_ENTRY_ALLOWANCE).unwrap_or(chrono::Duration::MAX);
        let slot_span = chrono::Duration::seconds(OUTBOX_SLOT_SECONDS);
        if Utc::now() - read_at > allowance / 2 {
            return Ok(());
        }
        self.lock_forgotten().retain(|(_, slot)| *slot + chrono::Duration::days(1) > read_at);
        for slot in drained {
            let closes_at = *slot + slot_span + allowance;
            if closes_at > read_at || self.lock_forgotten().contains(&(bucket, *slot)) {
                continue;
            }
            let key = PgOutboxSlotPrimaryKey { bucket, slot: *slot };
            let partition = PgOutboxSlotPartitionKey { bucket };
            let mut batch = self.db.unlogged_batch().with_timestamp(closes_at.timestamp_micros());
            batch.delete::<PgOutboxSlot>(&key, &partition).await?;
            batch.execute().await?;
            self.lock_forgotten().insert((bucket, *slot));
        }
        Ok(())
    }

    fn lock_forgotten(&self) -> std::sync::MutexGuard<'_, HashSet<SlotKey>> {
        self.forgotten.lock().unwrap_or_else(|poison| poison.into_inner())
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
                    total.add(pass);
                }
                Err(error) if out_of_time(started) => return Err(error),
                Err(error) => tracing::warn!(%error, "relay pass to PostgreSQL failed; retrying"),
            }
            // Counting can fail as a pass can (a node just lost): the same patience applies.
            let depth = match self.depth().await {
                Ok(depth) => depth,
                Err(error) if out_of_time(started) => return Err(error),
                Err(error) => {
                    tracing::warn!(%error, "counting what waits for PostgreSQL failed; retrying");
                    tokio::time::sleep(IDLE_WAIT).await;
                    continue;
                }
            };
            if depth == 0 || out_of_time(started) {
                return Ok((total, depth));
            }
            tokio::time::sleep(IDLE_WAIT).await;
        }
    }

    /// Runs the relay in the background until the handle is stopped.
    pub fn spawn(self) -> RelayHandle {
        RelayHandle::run(IDLE_WAIT, RelayTarget::Postgres, move || {
            let relay = self.clone();
            async move { relay.drain_once().await }
        })
    }

    /// Copies the current ScyllaDB rows the entries name: the session, then turns, then steps.
    async fn copy_session(&self, session_uid: &str, entries: &[&PgOutboxEntry]) -> MigrateResult<RowsCopied> {
        let mut changes: BTreeMap<Changed, i64> = BTreeMap::new();
        for entry in entries {
            if let Some(changed) = entry.changed() {
                let stamp = changes.entry(changed).or_default();
                *stamp = (*stamp).max(entry.stamp.unwrap_or_default());
            }
        }
        self.copy_rows(session_uid, changes).await
    }

    /// Writes each named row to PostgreSQL as ScyllaDB holds it, in the map's order (the
    /// session, then turns, then steps), with the newer of its write time and its entries' stamp
    /// as its version (a change that wrote a null has no write time). A row not in ScyllaDB is
    /// missing, and the turns and steps under a missing session or turn are skipped: each other
    /// row is copied all the same.
    pub(crate) async fn copy_rows(
        &self,
        session_uid: &str,
        changes: BTreeMap<Changed, i64>,
    ) -> MigrateResult<RowsCopied> {
        let mut outcome = RowsCopied::default();
        let mut missing_turns = BTreeSet::new();
        for (changed, stamp) in changes {
            let session_missing = outcome.missing.contains(&Changed::Session);
            let copied = match &changed {
                Changed::Session => match self.session_row(session_uid).await? {
                    Some(row) => {
                        Some(self.pg.put_session(&SessionRow { version: row.version.max(stamp), ..row }).await)
                    }
                    None => None,
                },
                Changed::Turn { .. } if session_missing => {
                    outcome.skipped.insert(changed);
                    continue;
                }
                Changed::Turn { turn_uid } => match self.turn_row(turn_uid).await? {
                    Some(row) => Some(self.pg.put_turn(&TurnRow { version: row.version.max(stamp), ..row }).await),
                    None => {
                        missing_turns.insert(turn_uid.clone());
                        None
                    }
                },
                Changed::Step { turn_uid, .. } if session_missing || missing_turns.contains(turn_uid) => {
                    outcome.skipped.insert(changed);
                    continue;
                }
                Changed::Step { turn_uid, idx } => {
                    let key = StepByTurnPrimaryKey { turn_uid: turn_uid.clone(), idx: *idx };
                    match self.tables.steps.get_timed(&key).await? {
                        Some(Timed { row: step, newest_write }) => {
                            let row = StepRow {
                                agent_turn_uid: step.turn_uid,
                                idx: step.idx,
                                tpe: step.tpe,
                                content: step.content,
                                created_at: step.created_at,
                                version: newest_write.unwrap_or_default().max(stamp),
                            };
                            Some(self.pg.put_step(&row).await)
                        }
                        None => None,
                    }
                }
            };
            match copied {
                Some(Ok(())) => outcome.copied += 1,
                Some(Err(error)) => match refusal(&error) {
                    Some(Refusal::Refused(why)) => {
                        outcome.refused.insert(changed, why);
                    }
                    Some(Refusal::ParentMissing) => {
                        outcome.skipped.insert(changed);
                    }
                    // PostgreSQL down or failing: the whole session waits for the next pass.
                    None => return Err(error.into()),
                },
                None => {
                    outcome.missing.insert(changed);
                }
            }
        }
        Ok(outcome)
    }

    /// The session as ScyllaDB holds it, its version the newest write time of its two rows;
    /// `None` if it is not (yet) written.
    async fn session_row(&self, session_uid: &str) -> MigrateResult<Option<SessionRow>> {
        let tables = &self.tables;
        let key = SessionOwnerPrimaryKey { session_uid: session_uid.to_owned() };
        let Some(Timed { row: owner, newest_write: owner_written }) = tables.owners.get_timed(&key).await? else {
            return Ok(None);
        };
        let key = SessionByUserPrimaryKey {
            account_uid: owner.account_uid.clone(),
            created_at: owner.created_at,
            session_uid: session_uid.to_owned(),
        };
        let Some(Timed { row: session, newest_write }) = tables.sessions.get_timed(&key).await? else {
            return Ok(None);
        };
        Ok(Some(SessionRow {
            uid: session.session_uid,
            account_uid: session.account_uid,
            title: session.title,
            created_at: session.created_at,
            deleted_at: session.deleted_at,
            active_root: owner.active_root,
            version: newest_write.max(owner_written).unwrap_or_default(),
        }))
    }

    /// The turn as ScyllaDB holds it, its version the newest write time of its rows; `None` if
    /// it is not (yet) written.
    async fn turn_row(&self, turn_uid: &str) -> MigrateResult<Option<TurnRow>> {
        let tables = &self.tables;
        let key = TurnLocationPrimaryKey { turn_uid: turn_uid.to_owned() };
        let Some(Timed { row: location, newest_write: located }) = tables.locations.get_timed(&key).await? else {
            return Ok(None);
        };
        let key = TurnBySessionPrimaryKey {
            session_uid: location.session_uid.clone(),
            created_at: location.created_at,
            turn_uid: turn_uid.to_owned(),
        };
        let Some(Timed { row: turn, newest_write }) = tables.turns.get_timed(&key).await? else { return Ok(None) };
        Ok(Some(TurnRow {
            uid: turn.turn_uid,
            session_uid: turn.session_uid,
            turn_type: turn.turn_type,
            parent_uid: turn.parent_uid,
            active_child: turn.active_child,
            prompt: turn.prompt,
            liked: turn.liked,
            created_at: turn.created_at,
            version: newest_write.max(located).unwrap_or_default(),
        }))
    }

    /// The entries of a session whose id was purged: if ScyllaDB's session is the purged one (or
    /// gone), whatever it still holds goes (a write that raced the purge, a purge that failed
    /// part way: the purge was recorded first, and stands), and so do the entries. `false` for
    /// a session that took the id afterwards (another `created_at`).
    async fn finish_purge(&self, session_uid: &str, entries: &[&PgOutboxEntry]) -> MigrateResult<bool> {
        let Some(purged) = self.pg.purged_session(session_uid).await? else { return Ok(false) };
        let key = SessionOwnerPrimaryKey { session_uid: session_uid.to_owned() };
        if let Some(owner) = self.tables.owners.get(&key).await? {
            if owner.created_at.timestamp_millis() != purged.keys.created_at.timestamp_millis() {
                return Ok(false);
            }
        }
        ScyllaCopier::new(self.db.clone()).with_layout(self.layout).finish_purge(&purged).await?;
        self.remove(entries).await?;
        Ok(true)
    }

    /// Which of these sessions were purged.
    async fn purged_among(&self, session_uids: &[&str]) -> MigrateResult<BTreeSet<String>> {
        if session_uids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let client = self.pg.client().await?;
        let rows = client
            .query_typed("SELECT uid FROM purged_sessions WHERE uid = ANY($1)", typed![&session_uids])
            .await
            .map_err(pg_error("finding purged sessions"))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Sets an entry aside in PostgreSQL's `relay_dead_letters`, with the refusal.
    async fn dead_letter(&self, entry: &PgOutboxEntry, error: &str) -> MigrateResult<()> {
        let client = self.pg.client().await?;
        client
            .execute_typed(
                "INSERT INTO relay_dead_letters (session_uid, kind, turn_uid, idx, error, recorded_at, stamp)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                typed![
                    &entry.session_uid,
                    &entry.kind,
                    &entry.turn_uid,
                    &entry.idx,
                    &error,
                    &entry.recorded_at,
                    &entry.stamp,
                ],
            )
            .await
            .map_err(pg_error("setting a refused change aside"))?;
        monitoring::pg_outbox_dead_letter();
        Ok(())
    }

    /// The changes set aside because PostgreSQL refused their rows.
    pub async fn dead_letters(&self) -> MigrateResult<i64> {
        dead_letters(&self.pg).await
    }

    /// Records every dead letter in `pg_outbox` again, with its own stamp (once the cause is
    /// fixed), and clears them. Returns how many. Only while ScyllaDB is the truth: afterwards
    /// PostgreSQL is, and a copy from ScyllaDB could overwrite it.
    pub async fn retry_dead_letters(&self) -> MigrateResult<usize> {
        if self.pg.relational_writes().await? != conversation_pg::RelationalWrites::Refused {
            return Err(crate::error::MigrateError::Refused(
                "dead letters go to PostgreSQL only while ScyllaDB is the truth (scylla-primary)".into(),
            ));
        }
        let mut client = self.pg.client().await?;
        let tx = client.transaction().await.map_err(pg_error("starting a transaction"))?;
        let rows = tx
            .query_typed("DELETE FROM relay_dead_letters RETURNING session_uid, kind, turn_uid, idx, stamp", typed![])
            .await
            .map_err(pg_error("taking the dead letters"))?;
        for row in &rows {
            if let Some(changed) = Changed::from_parts(row.get(1), row.get(2), row.get(3)) {
                let mut entry = PgOutboxEntry::new(row.get(0), &changed);
                entry.stamp = row.get(4);
                self.tables.append_to_outbox(&entry).await?;
            }
        }
        tx.commit().await.map_err(pg_error("clearing the dead letters"))?;
        Ok(rows.len())
    }

    /// Removes copied entries, a partition's rows in one unlogged batch, each batch's
    /// tombstones dated no earlier than its entries' own stamps (a change stamped past a row
    /// written ahead of this host's clock carries that stamp, and a tombstone must be newer).
    async fn remove(&self, entries: &[&PgOutboxEntry]) -> MigrateResult<()> {
        let mut by_partition: BTreeMap<(i32, DateTime<Utc>), Vec<&PgOutboxEntry>> = BTreeMap::new();
        for entry in entries {
            by_partition.entry((entry.bucket, entry.slot)).or_default().push(entry);
        }
        for ((bucket, slot), entries) in by_partition {
            let partition = PgOutboxEntryPartitionKey { bucket, slot };
            for chunk in entries.chunks(100) {
                let keys: Vec<PgOutboxEntryPrimaryKey> = chunk
                    .iter()
                    .map(|entry| PgOutboxEntryPrimaryKey {
                        bucket,
                        slot,
                        recorded_at: entry.recorded_at,
                        entry_id: entry.entry_id.clone(),
                    })
                    .collect();
                let stamp = chunk.iter().filter_map(|entry| entry.stamp).max().unwrap_or_default();
                let mut batch = self.db.unlogged_batch().with_timestamp(Utc::now().timestamp_micros().max(stamp));
                for key in &keys {
                    batch.delete::<PgOutboxEntry>(key, &partition).await?;
                }
                batch.execute().await?;
            }
        }
        Ok(())
    }
}

/// The changes set aside in `pg`'s `relay_dead_letters`: PostgreSQL alone answers it, also while
/// ScyllaDB is down.
pub async fn dead_letters(pg: &PgStore) -> MigrateResult<i64> {
    let client = pg.client().await?;
    let row = client
        .query_typed_one("SELECT count(*) FROM relay_dead_letters", typed![])
        .await
        .map_err(pg_error("counting dead letters"))?;
    Ok(row.get(0))
}

/// PostgreSQL's refusal of a row, as opposed to a failure: a data exception or an integrity
/// constraint (SQLSTATE classes 22 and 23), which the same row meets again on every try. A
/// missing parent (23503, a foreign key) is not one: the parent's own entry may still be on its
/// way, and the row waits for it like a missing row.
fn refusal(error: &conversation_store::StoreError) -> Option<Refusal> {
    let code = conversation_pg::sqlstate(error)?;
    match code.as_str() {
        "23503" => Some(Refusal::ParentMissing),
        _ if code.starts_with("22") || code.starts_with("23") => Some(Refusal::Refused(error.to_string())),
        _ => None,
    }
}

/// How PostgreSQL turned a row down.
enum Refusal {
    /// Its parent row is not in PostgreSQL (yet).
    ParentMissing,
    /// For good, with this error.
    Refused(String),
}

/// Whether the entry was recorded longer than [`MISSING_ROW_GRACE`] ago, by this host's clock.
fn outlived_grace(entry: &PgOutboxEntry) -> bool {
    let age = chrono::Utc::now().signed_duration_since(entry.recorded_at);
    age.to_std().is_ok_and(|age| age > MISSING_ROW_GRACE)
}
