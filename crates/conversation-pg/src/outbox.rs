//! The outbox: one row per change not yet copied to ScyllaDB, written in the change's own
//! transaction, so a committed change is never forgotten, whatever happens to ScyllaDB.
//!
//! An entry names the changed row, not its contents: a relay that copies it re-reads the current
//! row, so an entry that is late, repeated or out of order still writes the newest data. The write
//! that made the entry also hands back the row as it wrote it ([`crate::rows::Written`]), so dual-write's
//! inline copy writes that without reading anything again: each copy carries the row's version as
//! its timestamp, so a newer version copied before or after it still wins.

use crate::typed;
use std::time::Duration;

use chrono::{DateTime, Utc};
use conversation_store::{cql_millis, StoreResult};
use tokio_postgres::GenericClient;

use crate::store::{pg, PgStore};

/// What an outbox entry says changed: the same names every outbox uses.
pub use conversation_store::Changed;

/// One change to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub session_uid: String,
    pub changed: Changed,
    /// The row's version after the change (the delete's version for a purged session).
    pub version: i64,
    /// Failed copy attempts so far.
    pub attempts: i32,
    /// Set when the entry is about copies that only the row's old keys find: other code deleted
    /// the row, or changed its keys (see [`crate::adoption`]).
    pub gone: Option<GoneCopies>,
}

/// The copies a deleted or re-keyed row left in ScyllaDB, by the keys they were written under.
/// They are tombstoned at the entry's version: past the copies written before, and never over a
/// newer write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoneCopies {
    /// `true`: the row is gone, and every copy goes. `false`: only its copies under the old keys
    /// go; the entry of the row at its new keys writes the new ones.
    pub deleted: bool,
    /// A session's old account.
    pub account_uid: Option<String>,
    /// A turn's old parent (`None` for a root turn).
    pub parent_uid: Option<String>,
    /// A session's or turn's old `created_at`, at CQL's precision.
    pub created_at: Option<DateTime<Utc>>,
}

/// How far ScyllaDB is behind: what an operator watches during the dual-write phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutboxLag {
    /// Changes not yet copied.
    pub depth: i64,
    /// How long the oldest of them has waited; `None` when the outbox is empty.
    pub oldest_age: Option<Duration>,
    /// Changes whose copy failed and that wait out a backoff before the next try.
    pub backing_off: i64,
}

/// Records a change in the transaction that makes it, and returns its entry's id.
pub(crate) async fn record(
    client: &(impl GenericClient + Sync),
    session_uid: &str,
    changed: &Changed,
    version: i64,
) -> StoreResult<i64> {
    let (entity, turn_uid, idx) = changed.parts();
    let row = client
        .query_typed_one(
            "INSERT INTO scylla_outbox (session_uid, entity, turn_uid, idx, version) VALUES ($1, $2, $3, $4, $5)
             RETURNING id",
            typed![&session_uid, &entity, &turn_uid, &idx, &version],
        )
        .await
        .map_err(pg("recording the change in the outbox"))?;
    Ok(row.get(0))
}

const ENTRY_COLUMNS: &str =
    "id, session_uid, entity, turn_uid, idx, version, attempts, gone, gone_account_uid, gone_parent_uid, gone_created_at";

fn entry(row: &tokio_postgres::Row) -> OutboxEntry {
    // `record` and the adoption's triggers write entries whose parts rebuild; anything else is
    // read as the session, whose copy rewrites everything a session row holds.
    let changed = Changed::from_parts(row.get(2), row.get(3), row.get(4)).unwrap_or(Changed::Session);
    let gone = row.get::<_, Option<&str>>(7).map(|gone| GoneCopies {
        deleted: gone == "deleted",
        account_uid: row.get(8),
        parent_uid: row.get(9),
        created_at: row.get::<_, Option<DateTime<Utc>>>(10).map(cql_millis),
    });
    OutboxEntry { id: row.get(0), session_uid: row.get(1), changed, version: row.get(5), attempts: row.get(6), gone }
}

impl PgStore {
    /// Claims up to `limit` entries that are due (not waiting out a backoff, not claimed by
    /// another relay), oldest first, for `lease`: they are not due again until the lease ends, so
    /// relays running side by side (one per application instance, say) each copy different
    /// entries. Rows another claim is taking right now are skipped, not waited for. A relay that
    /// dies mid-pass leaves its entries to be claimed again once the lease ends; one that finishes
    /// removes them, or schedules a retry, which replaces the lease.
    pub async fn outbox_claim(&self, limit: i64, lease: Duration) -> StoreResult<Vec<OutboxEntry>> {
        let client = self.client().await?;
        let rows = client
            .query_typed(
                &format!(
                    "UPDATE scylla_outbox SET next_attempt_at = clock_timestamp() + make_interval(secs => $2)
                     WHERE id IN (SELECT id FROM scylla_outbox WHERE next_attempt_at <= clock_timestamp()
                                  ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
                     RETURNING {ENTRY_COLUMNS}"
                ),
                typed![&limit, &lease.as_secs_f64()],
            )
            .await
            .map_err(pg("claiming outbox entries"))?;
        let mut entries: Vec<OutboxEntry> = rows.iter().map(entry).collect();
        entries.sort_by_key(|entry| entry.id);
        Ok(entries)
    }

    /// Every entry of one session, oldest first, due or not.
    pub async fn outbox_of_session(&self, session_uid: &str) -> StoreResult<Vec<OutboxEntry>> {
        let client = self.client().await?;
        let rows = client
            .query_typed(
                &format!("SELECT {ENTRY_COLUMNS} FROM scylla_outbox WHERE session_uid = $1 ORDER BY id"),
                typed![&session_uid],
            )
            .await
            .map_err(pg("reading the session's outbox entries"))?;
        Ok(rows.iter().map(entry).collect())
    }

    /// Removes entries copied outside a relay's claim (dual-write's inline copy), unless a relay
    /// has claimed them since, or they wait out a backoff: that relay may be copying rows it read
    /// before, and its entries must keep the outbox from looking empty (which a switch to
    /// `scylla-primary` waits for) until it is done. It removes them itself.
    pub async fn outbox_clear_copied(&self, ids: &[i64]) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let client = self.client().await?;
        client
            .execute_typed(
                "DELETE FROM scylla_outbox WHERE id = ANY($1) AND next_attempt_at <= clock_timestamp()",
                typed![&ids],
            )
            .await
            .map_err(pg("clearing copied outbox entries"))
    }

    /// Removes entries whose changes are in ScyllaDB: a relay's own, claimed by it.
    pub async fn outbox_complete(&self, ids: &[i64]) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let client = self.client().await?;
        client
            .execute_typed("DELETE FROM scylla_outbox WHERE id = ANY($1)", typed![&ids])
            .await
            .map_err(pg("clearing the outbox"))
    }

    /// Puts entries back for a later try: the wait doubles with each failed attempt, from
    /// `first_backoff` up to `max_backoff`.
    pub async fn outbox_retry_later(
        &self,
        ids: &[i64],
        error: &str,
        first_backoff: Duration,
        max_backoff: Duration,
    ) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        let first = first_backoff.as_secs_f64();
        let max = max_backoff.as_secs_f64();
        client
            .execute_typed(
                "UPDATE scylla_outbox SET attempts = attempts + 1, last_error = $2,
                     next_attempt_at = clock_timestamp()
                         + make_interval(secs => least($4::float8, $3::float8 * power(2, least(attempts, 30))))
                 WHERE id = ANY($1)",
                typed![&ids, &error, &first, &max],
            )
            .await
            .map_err(pg("scheduling outbox entries for a retry"))?;
        Ok(())
    }

    /// The outbox's depth and the age of its oldest entry.
    pub async fn outbox_lag(&self) -> StoreResult<OutboxLag> {
        let client = self.client().await?;
        let row = client
            .query_typed_one(
                "SELECT count(*), extract(epoch FROM clock_timestamp() - min(enqueued_at))::float8,
                        count(*) FILTER (WHERE next_attempt_at > clock_timestamp())
                 FROM scylla_outbox",
                typed![],
            )
            .await
            .map_err(pg("measuring the outbox"))?;
        let oldest: Option<f64> = row.get(1);
        Ok(OutboxLag {
            depth: row.get(0),
            oldest_age: oldest.map(|seconds| Duration::from_secs_f64(seconds.max(0.0))),
            backing_off: row.get(2),
        })
    }
}
