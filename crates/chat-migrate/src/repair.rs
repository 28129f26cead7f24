//! Repair: makes a divergent session's copies match the truth again, in the direction the shared
//! phase says (see [`crate::verify::Truth`]).
//!
//! From PostgreSQL: a divergent session's relational versions are raised first (one
//! transaction), then the whole session is rewritten at the new versions. Raising matters: a
//! stray copy may carry a newer timestamp than the relational version (a write from outside the
//! migration, or a tombstone an earlier repair wrote), and only a newer timestamp can replace it.
//! Extra rows get tombstones at the session's newest raised version, and a purged session's
//! copies at the purge's version: every timestamp comes from the data's versions, never from this
//! host's clock, so a live write made after the repair read (a newer version) always survives
//! it. A session PostgreSQL never had is left alone and reported: nothing dates its removal.
//!
//! From ScyllaDB (`scylla-primary`): the session's rows are written to PostgreSQL as ScyllaDB
//! holds them, as the relay does. ScyllaDB is not written and nothing is deleted, except what
//! ScyllaDB still holds of a purged session: the purge was recorded first, and it stands.
//!
//! Running repair again finds nothing to do, so it is idempotent.

use std::collections::{BTreeMap, BTreeSet};

use conversation_pg::snapshot::{bump_versions_in, purged_session_in};
use conversation_pg::{PgStore, PhaseHold, RelationalWrites};
use conversation_store::{
    Changed, SessionByUser, SessionOwner, StepBySession, StepByTurn, TurnByParent, TurnBySession, TurnLocation,
};
use futures::future::try_join_all;
use scylla_table::{Batch, Database, ScyllaTable};

use crate::copier::ScyllaCopier;
use crate::error::{MigrateError, MigrateResult};
use crate::projection::project_snapshot;
use crate::relay::PostgresRelay;
use crate::verify::{expected_keys, row_key, Divergence, DivergenceKind, ScyllaSession, SessionKeys};

/// What repairing one session wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairedSession {
    /// Rows rewritten from the truth: in ScyllaDB from PostgreSQL, or in PostgreSQL from ScyllaDB.
    pub rows_rewritten: usize,
    /// ScyllaDB rows removed with a tombstone.
    pub rows_removed: usize,
    /// Rows found divergent and left as they are, for an operator to look at: copies of a
    /// session PostgreSQL never had, or, from ScyllaDB, rows only PostgreSQL has.
    pub rows_left: usize,
}

impl RepairedSession {
    pub(crate) fn add(&mut self, other: RepairedSession) {
        self.rows_rewritten += other.rows_rewritten;
        self.rows_removed += other.rows_removed;
        self.rows_left += other.rows_left;
    }
}

/// Repairs one session from PostgreSQL, given what verify found. The shared phase is held still
/// meanwhile, and must still make PostgreSQL the truth: a change to `scylla-primary` waits until
/// the session is rewritten, and a repair never overwrites what ScyllaDB-first writes made.
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
    let hold = pg.hold_phase().await?;
    if hold.writes == RelationalWrites::Refused {
        return Err(MigrateError::Refused(
            "the shared phase moved to scylla-primary: ScyllaDB is the truth now, and a repair from PostgreSQL \
             would overwrite it; verify and repair again"
                .into(),
        ));
    }
    // The raised versions commit even when a ScyllaDB write failed after the rewrite: rolled
    // back, they would leave copies in ScyllaDB newer than PostgreSQL's rows, and the next
    // dual-write's copy would lose to them.
    let repaired = repair_held(&hold, copier, keys, divergences, found).await;
    hold.release().await?;
    repaired
}

/// The repair itself, inside the hold's transaction: the raised rows stay locked until it ends.
async fn repair_held(
    hold: &PhaseHold,
    copier: &ScyllaCopier,
    keys: &SessionKeys,
    divergences: &[Divergence],
    found: &ScyllaSession,
) -> MigrateResult<RepairedSession> {
    // Just past the newest write time found, so that the rewrite wins over a copy stamped ahead.
    let past_found = found.newest_write().map_or(0, |written| written + 1);
    let Some(snapshot) = bump_versions_in(hold.client(), &keys.session.uid, past_found).await? else {
        // PostgreSQL no longer has the session. Purged: nothing of it may stay in ScyllaDB, and
        // the purge's version (or a copy found stamped later) dates the tombstones. Never had:
        // nothing dates a removal.
        return Ok(match purged_session_in(hold.client(), &keys.session.uid).await? {
            Some(purged) => {
                let timestamp = purged.version.max(found.newest_write().unwrap_or(0));
                copier.tombstone_session(&purged.keys, &purged.turn_uids, timestamp).await?;
                RepairedSession { rows_removed: found.row_count(), ..RepairedSession::default() }
            }
            None => {
                tracing::warn!(
                    session_uid = keys.session.uid,
                    rows = found.row_count(),
                    "ScyllaDB holds a session PostgreSQL never had; left as it is"
                );
                RepairedSession { rows_left: found.row_count(), ..RepairedSession::default() }
            }
        });
    };
    let copy = project_snapshot(&snapshot, copier.layout());
    copier.write_session_copy(&copy).await?;

    // What the check called extra, unless the session has it now: a row created in PostgreSQL
    // since (a caller's own id) was just rewritten, and stays.
    let now_expected = expected_keys(&copy);
    let extras: BTreeSet<(&str, &str)> = divergences
        .iter()
        .filter(|divergence| divergence.kind == DivergenceKind::Extra)
        .filter(|divergence| !now_expected.contains(&(divergence.table, divergence.key.clone())))
        .map(|divergence| (divergence.table, divergence.key.as_str()))
        .collect();
    // Each extra row goes with a tombstone at its own newest write time: exactly what it holds,
    // never a write made after the check read it (a row without a value gets the raised
    // session's newest version, later than anything the check read from PostgreSQL).
    let fallback = copy.newest_timestamp();
    let by_user = extra_keys(found, found.by_user.iter(), &extras, fallback);
    let owners = extra_keys(found, found.owner.iter(), &extras, fallback);
    let by_session = extra_keys(found, &found.by_session, &extras, fallback);
    let by_parent = extra_keys(found, &found.by_parent, &extras, fallback);
    let locations = extra_keys(found, &found.locations, &extras, fallback);
    let steps = extra_keys(found, &found.steps, &extras, fallback);
    let steps_by_session = extra_keys(found, &found.steps_by_session, &extras, fallback);
    let db = copier.database();
    let mut batches: Vec<Batch<'_>> = Vec::new();
    push_deletes::<SessionByUser>(db, &by_user, &mut batches).await?;
    push_deletes::<SessionOwner>(db, &owners, &mut batches).await?;
    push_deletes::<TurnBySession>(db, &by_session, &mut batches).await?;
    push_deletes::<TurnByParent>(db, &by_parent, &mut batches).await?;
    push_deletes::<TurnLocation>(db, &locations, &mut batches).await?;
    push_deletes::<StepByTurn>(db, &steps, &mut batches).await?;
    push_deletes::<StepBySession>(db, &steps_by_session, &mut batches).await?;
    let removed = batches.len();
    try_join_all(batches.into_iter().map(Batch::execute)).await?;
    Ok(RepairedSession { rows_rewritten: copy.scylla_rows(), rows_removed: removed, rows_left: 0 })
}

/// Repairs one session from ScyllaDB (`scylla-primary`): writes PostgreSQL's rows as ScyllaDB
/// holds them, as the relay toward PostgreSQL would. Rows only PostgreSQL has are left.
pub async fn repair_from_scylla(
    relay: &PostgresRelay,
    session_uid: &str,
    found: &ScyllaSession,
) -> MigrateResult<RepairedSession> {
    if let Some(purged) = relay.pg().purged_session(session_uid).await? {
        // Purged: what is left in ScyllaDB goes, and nothing is copied back to PostgreSQL;
        // unless ScyllaDB's session is another one, that took the id after the purge.
        let same = found
            .owner
            .as_ref()
            .is_none_or(|owner| owner.created_at.timestamp_millis() == purged.keys.created_at.timestamp_millis());
        if same {
            let rows = found.row_count();
            ScyllaCopier::new(relay.database().clone()).finish_purge(&purged).await?;
            return Ok(RepairedSession { rows_removed: rows, ..RepairedSession::default() });
        }
    }
    if found.owner.is_none() {
        tracing::warn!(session_uid, "PostgreSQL holds a session ScyllaDB does not; left as it is");
        return Ok(RepairedSession { rows_left: 1, ..RepairedSession::default() });
    }
    // Versions from the rows' write times alone: a divergence a null write left (a restore, an
    // unlike) is the relay's to copy, with its entry's stamp.
    let mut changes = BTreeMap::from([(Changed::Session, 0)]);
    changes.extend(found.by_session.iter().map(|turn| (Changed::Turn { turn_uid: turn.turn_uid.clone() }, 0)));
    changes
        .extend(found.steps.iter().map(|step| (Changed::Step { turn_uid: step.turn_uid.clone(), idx: step.idx }, 0)));
    let outcome = relay.copy_rows(session_uid, changes).await?;
    if !outcome.refused.is_empty() {
        tracing::warn!(session_uid, refused = ?outcome.refused, "PostgreSQL refused rows of the session");
    }
    if !outcome.missing.is_empty() || !outcome.skipped.is_empty() {
        tracing::warn!(session_uid, missing = ?outcome.missing, "rows vanished from ScyllaDB while the session was repaired");
    }
    Ok(RepairedSession { rows_rewritten: outcome.copied, ..RepairedSession::default() })
}

/// The keys of extra rows, each with the timestamp of its tombstone.
type RowKeys<T> = Vec<(<T as ScyllaTable>::PrimaryKey, <T as ScyllaTable>::PartitionKey, i64)>;

/// The keys of the rows verify called extra, each dated by the row's own newest write time.
fn extra_keys<'a, T: ScyllaTable + 'a>(
    found: &ScyllaSession,
    rows: impl IntoIterator<Item = &'a T>,
    extras: &BTreeSet<(&str, &str)>,
    fallback: i64,
) -> RowKeys<T> {
    rows.into_iter()
        .filter_map(|row| {
            let (table, key) = row_key(row);
            extras.contains(&(table, key.as_str())).then(|| {
                let timestamp = found.write_time(table, &key).unwrap_or(fallback);
                (row.primary_key(), row.partition_key(), timestamp)
            })
        })
        .collect()
}

/// One tombstone request per row: each row is its own partition's only change.
async fn push_deletes<'a, T: ScyllaTable>(
    db: &'a Database,
    keys: &'a RowKeys<T>,
    batches: &mut Vec<Batch<'a>>,
) -> MigrateResult<()> {
    for (key, partition, timestamp) in keys {
        let mut batch = db.unlogged_batch().with_timestamp(*timestamp);
        batch.delete::<T>(key, partition).await?;
        batches.push(batch);
    }
    Ok(())
}
