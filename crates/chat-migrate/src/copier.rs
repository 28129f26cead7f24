//! Writing projected rows to ScyllaDB, each with its relational version as timestamp, and
//! removing copies with tombstones.

use std::collections::{BTreeMap, BTreeSet};

use conversation_pg::{GoneCopies, SessionRow};
use conversation_store::{
    root_parent_key, Changed, SessionByUser, SessionByUserPrimaryKey, SessionOwner, SessionOwnerPartitionKey,
    SessionOwnerPrimaryKey, StepBySession, StepBySessionPartitionKey, StepBySessionPrimaryKey, StepByTurn,
    StepByTurnPartitionKey, StepByTurnPrimaryKey, StoreTables, TurnByParent, TurnByParentPartitionKey,
    TurnByParentPrimaryKey, TurnBySession, TurnBySessionPartitionKey, TurnBySessionPrimaryKey, TurnLocation,
    TurnLocationPartitionKey, TurnLocationPrimaryKey,
};
use futures::future::try_join_all;
use scylla_table::{Batch, Database, Result, ScyllaTable, WriteOptions};

use crate::projection::{Layout, SessionCopies, SessionCopy, StepCopy, TurnCopies};

/// Rows per unlogged batch at most. Batches stay well under Cassandra's and ScyllaDB's batch
/// size limits (50 KiB fails by default) even with long texts, which also get a batch of their own.
const MAX_BATCH_ROWS: usize = 32;
/// Estimated bytes per unlogged batch at most.
const MAX_BATCH_BYTES: usize = 24 * 1024;

/// Writes copies into the store's tables, at the database's write consistency (QUORUM by default).
#[derive(Clone)]
pub struct ScyllaCopier {
    db: Database,
    tables: StoreTables,
    layout: Layout,
}

fn at(timestamp: i64) -> WriteOptions {
    WriteOptions { ttl: None, timestamp: Some(timestamp) }
}

impl ScyllaCopier {
    pub fn new(db: Database) -> ScyllaCopier {
        ScyllaCopier { tables: StoreTables::new(&db), db, layout: Layout::default() }
    }

    /// The same copier for another set of tables (`steps_by_session` too, say).
    pub fn with_layout(mut self, layout: Layout) -> ScyllaCopier {
        self.layout = layout;
        self
    }

    /// The tables this copier writes, for projecting rows.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn tables(&self) -> &StoreTables {
        &self.tables
    }

    /// A session row's two copies, in one logged batch at the row's version.
    pub async fn write_session(&self, copies: &SessionCopies) -> Result<()> {
        let mut batch = self.db.logged_batch().with_timestamp(copies.timestamp);
        batch.insert(&copies.by_user).await?;
        batch.insert(&copies.owner).await?;
        batch.execute().await
    }

    /// A turn row's three copies, in one logged batch at the row's version: the design writes
    /// `turns_by_session` and `turns_by_parent` together.
    pub async fn write_turn(&self, copies: &TurnCopies) -> Result<()> {
        let mut batch = self.db.logged_batch().with_timestamp(copies.timestamp);
        batch.insert(&copies.by_session).await?;
        batch.insert(&copies.by_parent).await?;
        batch.insert(&copies.location).await?;
        batch.execute().await
    }

    pub async fn write_step(&self, copy: &StepCopy) -> Result<()> {
        let by_turn = self.tables.steps.insert_with(&copy.step, at(copy.timestamp));
        match &copy.by_session {
            Some(by_session) => {
                let by_session = self.tables.steps_by_session.insert_with(by_session, at(copy.timestamp));
                futures::try_join!(by_turn, by_session).map(drop)
            }
            None => by_turn.await,
        }
    }

    /// Every row of a session, for bulk copies: rows of one partition go in unlogged batches
    /// (each row with its own timestamp), different partitions in separate requests, all at once.
    /// Returns the number of requests sent.
    pub async fn write_session_copy(&self, copy: &SessionCopy) -> Result<usize> {
        let db = &self.db;
        let mut batches: Vec<Batch<'_>> = Vec::new();
        let session = &copy.session;
        let mut single = db.unlogged_batch();
        single.insert_with(&session.by_user, at(session.timestamp)).await?;
        batches.push(single);
        let mut single = db.unlogged_batch();
        single.insert_with(&session.owner, at(session.timestamp)).await?;
        batches.push(single);

        // turns_by_session: one partition for the whole session.
        let by_session: Vec<(&TurnBySession, i64)> =
            copy.turns.iter().map(|turn| (&turn.by_session, turn.timestamp)).collect();
        self.partition_batches(&mut batches, &by_session, |row| row.prompt.as_ref().map_or(0, String::len)).await?;
        // turns_by_parent: one partition per parent.
        let mut by_parent: BTreeMap<&str, Vec<(&TurnByParent, i64)>> = BTreeMap::new();
        for turn in &copy.turns {
            by_parent.entry(turn.by_parent.parent_uid.as_str()).or_default().push((&turn.by_parent, turn.timestamp));
        }
        for rows in by_parent.values() {
            self.partition_batches(&mut batches, rows, |_| 0).await?;
        }
        // turns_by_uid: one partition per turn.
        for turn in &copy.turns {
            let mut single = db.unlogged_batch();
            single.insert_with(&turn.location, at(turn.timestamp)).await?;
            batches.push(single);
        }
        // steps_by_turn: one partition per agent turn.
        let mut steps: BTreeMap<&str, Vec<(&StepByTurn, i64)>> = BTreeMap::new();
        for step in &copy.steps {
            steps.entry(step.step.turn_uid.as_str()).or_default().push((&step.step, step.timestamp));
        }
        for rows in steps.values() {
            self.partition_batches(&mut batches, rows, |row| row.content.len()).await?;
        }
        // steps_by_session: one partition for the whole session.
        let by_session: Vec<(&StepBySession, i64)> =
            copy.steps.iter().filter_map(|step| step.by_session.as_ref().map(|row| (row, step.timestamp))).collect();
        self.partition_batches(&mut batches, &by_session, |row| row.content.len()).await?;
        let requests = batches.len();
        try_join_all(batches.into_iter().map(Batch::execute)).await?;
        Ok(requests)
    }

    /// Splits one partition's rows into unlogged batches of bounded size.
    async fn partition_batches<'a, T: ScyllaTable>(
        &'a self,
        batches: &mut Vec<Batch<'a>>,
        rows: &[(&'a T, i64)],
        text_bytes: impl Fn(&T) -> usize,
    ) -> Result<()> {
        let mut current = self.db.unlogged_batch();
        let mut bytes = 0;
        for &(row, timestamp) in rows {
            let size = 100 + text_bytes(row);
            if !current.is_empty() && (current.len() >= MAX_BATCH_ROWS || bytes + size > MAX_BATCH_BYTES) {
                batches.push(std::mem::replace(&mut current, self.db.unlogged_batch()));
                bytes = 0;
            }
            current.insert_with(row, at(timestamp)).await?;
            bytes += size;
        }
        if !current.is_empty() {
            batches.push(current);
        }
        Ok(())
    }

    /// Lays a purge's tombstones (again): at the purge's version, or past every write time the
    /// session's copies show, read at QUORUM, so the purge also wins over a write that raced it
    /// or came after a purge that failed part way (the purge was recorded first, and stands).
    pub async fn finish_purge(&self, purged: &conversation_pg::PurgedSession) -> crate::MigrateResult<()> {
        let keys = crate::verify::SessionKeys { session: purged.keys.clone(), turn_uids: purged.turn_uids.clone() };
        let found =
            crate::verify::read_scylla(&crate::verify::verifying_tables(&self.tables), &keys, self.layout).await?;
        let turn_uids: BTreeSet<String> = purged
            .turn_uids
            .iter()
            .cloned()
            .chain(found.by_session.iter().map(|turn| turn.turn_uid.clone()))
            .chain(found.locations.iter().map(|location| location.turn_uid.clone()))
            .collect();
        let turn_uids: Vec<String> = turn_uids.into_iter().collect();
        let timestamp = purged.version.max(found.newest_write().unwrap_or(0));
        self.tombstone_session(&purged.keys, &turn_uids, timestamp).await?;
        Ok(())
    }

    /// Tombstones, at `timestamp`, the copies of a row that other code deleted or re-keyed, by
    /// the keys they were written under (see [`conversation_pg::adoption`]). A deleted turn takes
    /// its location and its steps' partition with it; a re-keyed row loses only the copies whose
    /// keys changed, and the row's own entry writes the new ones.
    pub async fn tombstone_gone(
        &self,
        session_uid: &str,
        changed: &Changed,
        gone: &GoneCopies,
        timestamp: i64,
    ) -> Result<()> {
        match changed {
            Changed::Session => {
                // Only a re-keyed session leaves such an entry: a deleted one is a purge.
                let (Some(account_uid), Some(created_at)) = (&gone.account_uid, gone.created_at) else { return Ok(()) };
                let key = SessionByUserPrimaryKey {
                    account_uid: account_uid.clone(),
                    created_at,
                    session_uid: session_uid.to_owned(),
                };
                let partition = conversation_store::SessionByUserPartitionKey { account_uid: account_uid.clone() };
                self.delete_at::<SessionByUser>(&key, &partition, timestamp).await
            }
            Changed::Turn { turn_uid } => {
                let Some(created_at) = gone.created_at else { return Ok(()) };
                let parent_uid = gone.parent_uid.clone().unwrap_or_else(|| root_parent_key(session_uid));
                let by_session = TurnBySessionPrimaryKey {
                    session_uid: session_uid.to_owned(),
                    created_at,
                    turn_uid: turn_uid.clone(),
                };
                let by_session_partition = TurnBySessionPartitionKey { session_uid: session_uid.to_owned() };
                let by_parent =
                    TurnByParentPrimaryKey { parent_uid: parent_uid.clone(), created_at, turn_uid: turn_uid.clone() };
                let by_parent_partition = TurnByParentPartitionKey { parent_uid };
                futures::try_join!(
                    self.delete_at::<TurnBySession>(&by_session, &by_session_partition, timestamp),
                    self.delete_at::<TurnByParent>(&by_parent, &by_parent_partition, timestamp),
                )?;
                if gone.deleted {
                    let location = TurnLocationPrimaryKey { turn_uid: turn_uid.clone() };
                    let location_partition = TurnLocationPartitionKey { turn_uid: turn_uid.clone() };
                    let steps = StepByTurnPartitionKey { turn_uid: turn_uid.clone() };
                    let mut batch = self.db.unlogged_batch().with_timestamp(timestamp);
                    batch.delete_partition::<StepByTurn>(&steps).await?;
                    futures::try_join!(
                        self.delete_at::<TurnLocation>(&location, &location_partition, timestamp),
                        batch.execute(),
                    )?;
                }
                Ok(())
            }
            Changed::Step { turn_uid, idx } => {
                let key = StepByTurnPrimaryKey { turn_uid: turn_uid.clone(), idx: *idx };
                let partition = StepByTurnPartitionKey { turn_uid: turn_uid.clone() };
                self.delete_at::<StepByTurn>(&key, &partition, timestamp).await?;
                if self.layout.steps_by_session {
                    let key = StepBySessionPrimaryKey {
                        session_uid: session_uid.to_owned(),
                        turn_uid: turn_uid.clone(),
                        idx: *idx,
                    };
                    let partition = StepBySessionPartitionKey { session_uid: session_uid.to_owned() };
                    self.delete_at::<StepBySession>(&key, &partition, timestamp).await?;
                }
                Ok(())
            }
        }
    }

    /// Deletes one row with a tombstone at `timestamp`.
    async fn delete_at<T: ScyllaTable>(
        &self,
        key: &T::PrimaryKey,
        partition: &T::PartitionKey,
        timestamp: i64,
    ) -> Result<()> {
        let mut batch = self.db.unlogged_batch().with_timestamp(timestamp);
        batch.delete::<T>(key, partition).await?;
        batch.execute().await
    }

    /// Removes every copy of a session that no longer exists in PostgreSQL, with tombstones at
    /// `timestamp`: anything written with an older timestamp is gone, anything newer stays, in
    /// whatever order the writes arrive (a backfill batch read before the purge lands after it
    /// in vain). `keys` needs only the session's id, account and `created_at`. The turns are
    /// those the purge recorded (`turn_uids`) and any `turns_by_session` lists, read at QUORUM
    /// (LOCAL_QUORUM with local writes: see `ConsistencyLevels::strong_read`).
    pub async fn tombstone_session(&self, keys: &SessionRow, turn_uids: &[String], timestamp: i64) -> Result<()> {
        let partition = TurnBySessionPartitionKey { session_uid: keys.uid.clone() };
        let turns = &self.tables.turns;
        let listed =
            turns.clone().with_read_consistency(turns.consistency().strong_read()).partition_vec(&partition).await?;
        let turns: BTreeSet<String> =
            turn_uids.iter().cloned().chain(listed.into_iter().map(|turn| turn.turn_uid)).collect();
        let by_user_key = SessionByUserPrimaryKey {
            account_uid: keys.account_uid.clone(),
            created_at: keys.created_at,
            session_uid: keys.uid.clone(),
        };
        let by_user_partition = conversation_store::SessionByUserPartitionKey { account_uid: keys.account_uid.clone() };
        let owner_key = SessionOwnerPrimaryKey { session_uid: keys.uid.clone() };
        let owner_partition = SessionOwnerPartitionKey { session_uid: keys.uid.clone() };
        let root = TurnByParentPartitionKey { parent_uid: root_parent_key(&keys.uid) };
        let children: Vec<TurnByParentPartitionKey> =
            turns.iter().map(|turn_uid| TurnByParentPartitionKey { parent_uid: turn_uid.clone() }).collect();
        let steps: Vec<StepByTurnPartitionKey> =
            turns.iter().map(|turn_uid| StepByTurnPartitionKey { turn_uid: turn_uid.clone() }).collect();
        let locations: Vec<(TurnLocationPrimaryKey, TurnLocationPartitionKey)> = turns
            .iter()
            .map(|turn_uid| {
                (
                    TurnLocationPrimaryKey { turn_uid: turn_uid.clone() },
                    TurnLocationPartitionKey { turn_uid: turn_uid.clone() },
                )
            })
            .collect();

        // Tombstones need no atomicity (applying one twice changes nothing), so each partition
        // gets its own small request rather than one batch that could pass the size limit.
        let delete = || self.db.unlogged_batch().with_timestamp(timestamp);
        let mut batches = Vec::new();
        let mut batch = delete();
        batch.delete::<SessionByUser>(&by_user_key, &by_user_partition).await?;
        batches.push(batch);
        let mut batch = delete();
        batch.delete::<SessionOwner>(&owner_key, &owner_partition).await?;
        batches.push(batch);
        let mut batch = delete();
        batch.delete_partition::<TurnBySession>(&partition).await?;
        batches.push(batch);
        for key in std::iter::once(&root).chain(&children) {
            let mut batch = delete();
            batch.delete_partition::<TurnByParent>(key).await?;
            batches.push(batch);
        }
        for key in &steps {
            let mut batch = delete();
            batch.delete_partition::<StepByTurn>(key).await?;
            batches.push(batch);
        }
        let steps_partition = StepBySessionPartitionKey { session_uid: keys.uid.clone() };
        if self.layout.steps_by_session {
            let mut batch = delete();
            batch.delete_partition::<StepBySession>(&steps_partition).await?;
            batches.push(batch);
        }
        for (key, partition) in &locations {
            let mut batch = delete();
            batch.delete::<TurnLocation>(key, partition).await?;
            batches.push(batch);
        }
        try_join_all(batches.into_iter().map(Batch::execute)).await?;
        Ok(())
    }
}
