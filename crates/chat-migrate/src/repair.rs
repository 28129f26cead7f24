//! Repair: makes a divergent session's ScyllaDB copies match PostgreSQL again.
//!
//! A divergent session's relational versions are raised first (one transaction), then the whole
//! session is rewritten at the new versions. Raising matters: a stray copy may carry a newer
//! timestamp than the relational version (a write from outside the migration, or a tombstone an
//! earlier repair wrote), and only a newer timestamp can replace it. Extra rows get tombstones
//! at the current time; a purged session's copies are all tombstoned. Running repair again finds
//! nothing to do, so it is idempotent.

use std::collections::BTreeSet;

use conversation_pg::PgStore;
use conversation_store::{
    SessionByUser, SessionOwner, StepBySession, StepByTurn, TurnByParent, TurnBySession, TurnLocation,
};
use futures::future::try_join_all;
use scylla_table::{Batch, Database, ScyllaTable};

use crate::copier::ScyllaCopier;
use crate::error::MigrateResult;
use crate::projection::project_snapshot;
use crate::verify::{Columns, Divergence, DivergenceKind, ScyllaSession, SessionKeys};

/// What repairing one session wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairedSession {
    /// ScyllaDB rows rewritten from PostgreSQL.
    pub rows_rewritten: usize,
    /// ScyllaDB rows removed with a tombstone.
    pub rows_removed: usize,
}

pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Repairs one session, given what verify found.
pub async fn repair_session(
    pg: &PgStore,
    copier: &ScyllaCopier,
    keys: &SessionKeys,
    divergences: &[Divergence],
    found: &ScyllaSession,
) -> MigrateResult<RepairedSession> {
    if divergences.is_empty() {
        return Ok(RepairedSession::default());
    }
    let Some(snapshot) = pg.bump_versions(&keys.session.uid).await? else {
        // PostgreSQL no longer has the session: nothing of it may stay in ScyllaDB.
        copier.tombstone_session(&keys.session, now_micros()).await?;
        return Ok(RepairedSession { rows_rewritten: 0, rows_removed: found.row_count() });
    };
    let copy = project_snapshot(&snapshot, copier.layout());
    copier.write_session_copy(&copy).await?;

    let extras: BTreeSet<(&str, &str)> = divergences
        .iter()
        .filter(|divergence| divergence.kind == DivergenceKind::Extra)
        .map(|divergence| (divergence.table, divergence.key.as_str()))
        .collect();
    let by_user = extra_keys(found.by_user.iter(), &extras);
    let owners = extra_keys(found.owner.iter(), &extras);
    let by_session = extra_keys(&found.by_session, &extras);
    let by_parent = extra_keys(&found.by_parent, &extras);
    let locations = extra_keys(&found.locations, &extras);
    let steps = extra_keys(&found.steps, &extras);
    let steps_by_session = extra_keys(&found.steps_by_session, &extras);
    let timestamp = now_micros();
    let db = copier.database();
    let mut batches: Vec<Batch<'_>> = Vec::new();
    push_deletes::<SessionByUser>(db, &by_user, timestamp, &mut batches).await?;
    push_deletes::<SessionOwner>(db, &owners, timestamp, &mut batches).await?;
    push_deletes::<TurnBySession>(db, &by_session, timestamp, &mut batches).await?;
    push_deletes::<TurnByParent>(db, &by_parent, timestamp, &mut batches).await?;
    push_deletes::<TurnLocation>(db, &locations, timestamp, &mut batches).await?;
    push_deletes::<StepByTurn>(db, &steps, timestamp, &mut batches).await?;
    push_deletes::<StepBySession>(db, &steps_by_session, timestamp, &mut batches).await?;
    let removed = batches.len();
    try_join_all(batches.into_iter().map(Batch::execute)).await?;
    Ok(RepairedSession { rows_rewritten: copy.scylla_rows(), rows_removed: removed })
}

type RowKeys<T> = Vec<(<T as ScyllaTable>::PrimaryKey, <T as ScyllaTable>::PartitionKey)>;

/// The keys of the rows verify called extra.
fn extra_keys<'a, T: ScyllaTable + Columns + 'a>(
    rows: impl IntoIterator<Item = &'a T>,
    extras: &BTreeSet<(&str, &str)>,
) -> RowKeys<T> {
    rows.into_iter()
        .filter(|row| extras.contains(&(T::TABLE, row.key().as_str())))
        .map(|row| (row.primary_key(), row.partition_key()))
        .collect()
}

/// One tombstone request per row: each row is its own partition's only change.
async fn push_deletes<'a, T: ScyllaTable>(
    db: &'a Database,
    keys: &'a RowKeys<T>,
    timestamp: i64,
    batches: &mut Vec<Batch<'a>>,
) -> MigrateResult<()> {
    for (key, partition) in keys {
        let mut batch = db.unlogged_batch().with_timestamp(timestamp);
        batch.delete::<T>(key, partition).await?;
        batches.push(batch);
    }
    Ok(())
}
