//! PostgreSQL as ScyllaDB's copy, in the migration's last phase: ScyllaDB is primary and each
//! changed row is written here as ScyllaDB holds it, for analytics and backup.
//!
//! Each row comes with `version` set to its newest write time in ScyllaDB, and is written only
//! when that is newer than the version here: ScyllaDB's own last-write-wins order, so a copy read
//! before a newer one and written after it (two relays, a repair beside a relay, a relay that
//! outlives a rollback) changes nothing. Applying the same row again is a no-op. After a return
//! to dual-write, `next_version` keeps rising from there, past every ScyllaDB write time copied,
//! so a dual-write's copy wins in ScyllaDB too.

use conversation_store::{StoreResult, TurnType};

use crate::rows::{SessionRow, StepRow, TurnRow};
use crate::store::{pg, PgStore};

impl PgStore {
    /// Writes a session row as ScyllaDB holds it, if its `version` (ScyllaDB's write time) is
    /// newer than the one here.
    pub async fn put_session(&self, row: &SessionRow) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO sessions AS s (uid, account_uid, title, created_at, deleted_at, active_root, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (uid) DO UPDATE
                 SET title = excluded.title, deleted_at = excluded.deleted_at, active_root = excluded.active_root,
                     version = excluded.version
                 WHERE s.version < excluded.version",
                &[
                    &row.uid,
                    &row.account_uid,
                    &row.title,
                    &row.created_at,
                    &row.deleted_at,
                    &row.active_root,
                    &row.version,
                ],
            )
            .await
            .map_err(pg("copying a session from ScyllaDB"))?;
        Ok(())
    }

    /// Writes a turn row as ScyllaDB holds it, if its `version` is newer than the one here. Its
    /// session must be here already.
    pub async fn put_turn(&self, row: &TurnRow) -> StoreResult<()> {
        let client = self.client().await?;
        let result = match row.turn_type {
            TurnType::Human => {
                client
                    .execute(
                        "INSERT INTO human_turns AS t (uid, session_uid, parent_uid, active_child, prompt, created_at, version)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (uid) DO UPDATE
                         SET active_child = excluded.active_child, prompt = excluded.prompt, version = excluded.version
                         WHERE t.version < excluded.version",
                        &[
                            &row.uid,
                            &row.session_uid,
                            &row.parent_uid,
                            &row.active_child,
                            &row.prompt.clone().unwrap_or_default(),
                            &row.created_at,
                            &row.version,
                        ],
                    )
                    .await
            }
            TurnType::Agent => {
                client
                    .execute(
                        "INSERT INTO agent_turns AS t (uid, session_uid, parent_uid, active_child, liked, created_at, version)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (uid) DO UPDATE
                         SET active_child = excluded.active_child, liked = excluded.liked, version = excluded.version
                         WHERE t.version < excluded.version",
                        &[
                            &row.uid,
                            &row.session_uid,
                            &row.parent_uid.clone().unwrap_or_default(),
                            &row.active_child,
                            &row.liked,
                            &row.created_at,
                            &row.version,
                        ],
                    )
                    .await
            }
        };
        result.map_err(pg("copying a turn from ScyllaDB"))?;
        Ok(())
    }

    /// Writes a step row as ScyllaDB holds it, if its `version` is newer than the one here. Its
    /// turn must be here already.
    pub async fn put_step(&self, row: &StepRow) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO steps AS st (agent_turn_uid, idx, tpe, content, created_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (agent_turn_uid, idx) DO UPDATE
                 SET tpe = excluded.tpe, content = excluded.content, version = excluded.version
                 WHERE st.version < excluded.version",
                &[&row.agent_turn_uid, &row.idx, &row.tpe, &row.content, &row.created_at, &row.version],
            )
            .await
            .map_err(pg("copying a step from ScyllaDB"))?;
        Ok(())
    }
}
