//! PostgreSQL as ScyllaDB's copy, in the migration's last phase: ScyllaDB is primary and each
//! changed row is written here as ScyllaDB holds it, for analytics and backup.
//!
//! Each row comes with `version` set to its newest write time in ScyllaDB, and is written only
//! when that is newer than the version here: ScyllaDB's own last-write-wins order, so a copy read
//! before a newer one and written after it (two relays, a repair beside a relay, a relay that
//! outlives a rollback) changes nothing. Applying the same row again is a no-op. After a return
//! to dual-write, `next_version` keeps rising from there, past every ScyllaDB write time copied,
//! so a dual-write's copy wins in ScyllaDB too.

use crate::typed;
use conversation_store::{StoreResult, TurnType};

use crate::rows::{SessionRow, StepRow, TurnRow};
use crate::store::{pg, PgStore};

impl PgStore {
    /// Writes a session row as ScyllaDB holds it, if its `version` (ScyllaDB's write time) is
    /// newer than the one here.
    /// A purged session is not written back: the purge holds the session's purge lock, so this
    /// either commits before it (and the purge deletes the row) or sees it. A purge is of the
    /// session with its id and `created_at`: a session that took a purged id before ids of
    /// purged sessions were refused is another session.
    pub async fn put_session(&self, row: &SessionRow) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = crate::store::read_committed(&mut client).await?;
        crate::marker::mark_as_store(&*tx).await?;
        crate::sessions::hold_off_purges(&*tx, &row.uid).await?;
        tx.execute_typed(
            "INSERT INTO sessions AS s (uid, account_uid, title, created_at, deleted_at, active_root, version)
                 SELECT $1::text, $2::text, $3::text, $4::timestamptz, $5::timestamptz, $6::text, $7::bigint
                 WHERE NOT EXISTS (SELECT 1 FROM purged_sessions
                                   WHERE uid = $1 AND cql_ms(created_at) = cql_ms($4::timestamptz))
                 ON CONFLICT (uid) DO UPDATE
                 SET title = excluded.title, deleted_at = excluded.deleted_at, active_root = excluded.active_root,
                     version = excluded.version
                 WHERE s.version < excluded.version",
            typed![
                &row.uid,
                &row.account_uid,
                &row.title,
                &row.created_at,
                &row.deleted_at,
                &row.active_root,
                &row.version
            ],
        )
        .await
        .map_err(pg("copying a session from ScyllaDB"))?;
        tx.commit().await.map_err(pg("committing a session's copy"))?;
        Ok(())
    }

    /// Writes a turn row as ScyllaDB holds it, if its `version` is newer than the one here. Its
    /// session must be here already.
    pub async fn put_turn(&self, row: &TurnRow) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = crate::store::read_committed(&mut client).await?;
        crate::marker::mark_as_store(&*tx).await?;
        let result = match row.turn_type {
            TurnType::Human => {
                tx
                    .execute_typed(
                        "INSERT INTO human_turns AS t (uid, session_uid, parent_uid, active_child, prompt, created_at, version)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (uid) DO UPDATE
                         SET active_child = excluded.active_child, prompt = excluded.prompt, version = excluded.version
                         WHERE t.version < excluded.version", typed![
                            &row.uid,
                            &row.session_uid,
                            &row.parent_uid,
                            &row.active_child,
                            &row.prompt.clone().unwrap_or_default(),
                            &row.created_at,
                            &row.version,
                        ])
                    .await
            }
            TurnType::Agent => {
                tx
                    .execute_typed(
                        "INSERT INTO agent_turns AS t (uid, session_uid, parent_uid, active_child, liked, created_at, version)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (uid) DO UPDATE
                         SET active_child = excluded.active_child, liked = excluded.liked, version = excluded.version
                         WHERE t.version < excluded.version", typed![
                            &row.uid,
                            &row.session_uid,
                            &row.parent_uid.clone().unwrap_or_default(),
                            &row.active_child,
                            &row.liked,
                            &row.created_at,
                            &row.version,
                        ])
                    .await
            }
        };
        result.map_err(pg("copying a turn from ScyllaDB"))?;
        tx.commit().await.map_err(pg("committing a turn's copy"))
    }

    /// Writes a step row as ScyllaDB holds it, if its `version` is newer than the one here. Its
    /// turn must be here already.
    pub async fn put_step(&self, row: &StepRow) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = crate::store::read_committed(&mut client).await?;
        crate::marker::mark_as_store(&*tx).await?;
        tx.execute_typed(
            "INSERT INTO steps AS st (agent_turn_uid, idx, tpe, content, created_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (agent_turn_uid, idx) DO UPDATE
                 SET tpe = excluded.tpe, content = excluded.content, version = excluded.version
                 WHERE st.version < excluded.version",
            typed![&row.agent_turn_uid, &row.idx, &row.tpe, &row.content, &row.created_at, &row.version],
        )
        .await
        .map_err(pg("copying a step from ScyllaDB"))?;
        tx.commit().await.map_err(pg("committing a step's copy"))
    }
}

impl PgStore {
    /// Purges a session while ScyllaDB is primary: records the purge (its keys, every turn id
    /// either database knows, and a version past every row here and past `newer_than`, the
    /// newest write time found in ScyllaDB) and deletes whatever PostgreSQL holds of it, which
    /// may be nothing yet. The caller then tombstones ScyllaDB at the returned version; the
    /// relay toward PostgreSQL drops the entries of a purged session. Repeating the call only
    /// raises the recorded version. A store following the shared phase refuses this once the
    /// phase has left `scylla-primary` (then PostgreSQL leads, and [`PgStore::purge_session`]
    /// is the purge).
    pub async fn purge_replica(&self, keys: &SessionRow, turn_uids: &[String], newer_than: i64) -> StoreResult<i64> {
        let mut client = self.client().await?;
        let tx = crate::store::read_committed(&mut client).await?;
        crate::marker::mark_as_store(&*tx).await?;
        if self.recording == crate::store::Recording::AsThePhaseSays
            && crate::phase::writes_in(&*tx).await? != crate::phase::RelationalWrites::Refused
        {
            return Err(conversation_store::StoreError::WritesMoved {
                reason: "the shared phase left scylla-primary: PostgreSQL leads the purge again".into(),
            });
        }
        crate::sessions::lock_against_copies(&*tx, &keys.uid).await?;
        let row = tx
            .query_typed_one(
                "INSERT INTO purged_sessions AS p (uid, account_uid, created_at, version)
                 VALUES ($1, $2, $3, next_version(greatest($4,
                     (SELECT max(version) FROM sessions WHERE uid = $1),
                     (SELECT max(version) FROM turns WHERE session_uid = $1),
                     (SELECT max(s.version) FROM steps s JOIN agent_turns t ON t.uid = s.agent_turn_uid
                      WHERE t.session_uid = $1))))
                 ON CONFLICT (uid) DO UPDATE SET version = greatest(p.version, EXCLUDED.version)
                 RETURNING version",
                typed![&keys.uid, &keys.account_uid, &keys.created_at, &newer_than],
            )
            .await
            .map_err(pg("recording the purge"))?;
        let version: i64 = row.get(0);
        tx.execute_typed(
            "INSERT INTO purged_turns (session_uid, turn_uid)
             SELECT $1, uid FROM turns WHERE session_uid = $1
             UNION SELECT $1, unnest($2::text[])
             ON CONFLICT DO NOTHING",
            typed![&keys.uid, &turn_uids],
        )
        .await
        .map_err(pg("recording the purged turns"))?;
        crate::sessions::delete_rows(&*tx, &keys.uid).await?;
        tx.commit().await.map_err(pg("committing the purge"))?;
        Ok(version)
    }
}
