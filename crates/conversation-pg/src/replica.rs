//! PostgreSQL as ScyllaDB's copy, in the migration's last phase: ScyllaDB is primary and each
//! changed row is written here as ScyllaDB holds it, for analytics and backup.
//!
//! Each write inserts the row or updates it in place, and raises its version only when something
//! changed, so applying the same row again is a no-op. The row's own `version` is ignored: the
//! version here keeps rising as always (`next_version`), which keeps a later return to dual-write
//! correct.

use conversation_store::{StoreResult, TurnType};

use crate::rows::{SessionRow, StepRow, TurnRow};
use crate::store::{pg, PgStore};

impl PgStore {
    /// Writes a session row as ScyllaDB holds it.
    pub async fn put_session(&self, row: &SessionRow) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO sessions AS s (uid, account_uid, title, created_at, deleted_at, active_root, version)
                 VALUES ($1, $2, $3, $4, $5, $6, next_version(NULL))
                 ON CONFLICT (uid) DO UPDATE
                 SET title = excluded.title, deleted_at = excluded.deleted_at, active_root = excluded.active_root,
                     version = next_version(s.version)
                 WHERE (s.title, s.deleted_at, s.active_root)
                       IS DISTINCT FROM (excluded.title, excluded.deleted_at, excluded.active_root)",
                &[&row.uid, &row.account_uid, &row.title, &row.created_at, &row.deleted_at, &row.active_root],
            )
            .await
            .map_err(pg("copying a session from ScyllaDB"))?;
        Ok(())
    }

    /// Writes a turn row as ScyllaDB holds it. Its session must be here already.
    pub async fn put_turn(&self, row: &TurnRow) -> StoreResult<()> {
        let client = self.client().await?;
        let result = match row.turn_type {
            TurnType::Human => {
                client
                    .execute(
                        "INSERT INTO human_turns AS t (uid, session_uid, parent_uid, active_child, prompt, created_at, version)
                         VALUES ($1, $2, $3, $4, $5, $6, next_version(NULL))
                         ON CONFLICT (uid) DO UPDATE
                         SET active_child = excluded.active_child, prompt = excluded.prompt,
                             version = next_version(t.version)
                         WHERE (t.active_child, t.prompt) IS DISTINCT FROM (excluded.active_child, excluded.prompt)",
                        &[
                            &row.uid,
                            &row.session_uid,
                            &row.parent_uid,
                            &row.active_child,
                            &row.prompt.clone().unwrap_or_default(),
                            &row.created_at,
                        ],
                    )
                    .await
            }
            TurnType::Agent => {
                client
                    .execute(
                        "INSERT INTO agent_turns AS t (uid, session_uid, parent_uid, active_child, liked, created_at, version)
                         VALUES ($1, $2, $3, $4, $5, $6, next_version(NULL))
                         ON CONFLICT (uid) DO UPDATE
                         SET active_child = excluded.active_child, liked = excluded.liked,
                             version = next_version(t.version)
                         WHERE (t.active_child, t.liked) IS DISTINCT FROM (excluded.active_child, excluded.liked)",
                        &[
                            &row.uid,
                            &row.session_uid,
                            &row.parent_uid.clone().unwrap_or_default(),
                            &row.active_child,
                            &row.liked,
                            &row.created_at,
                        ],
                    )
                    .await
            }
        };
        result.map_err(pg("copying a turn from ScyllaDB"))?;
        Ok(())
    }

    /// Writes a step row as ScyllaDB holds it. Its turn must be here already.
    pub async fn put_step(&self, row: &StepRow) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO steps AS st (agent_turn_uid, idx, tpe, content, created_at, version)
                 VALUES ($1, $2, $3, $4, $5, next_version(NULL))
                 ON CONFLICT (agent_turn_uid, idx) DO UPDATE
                 SET tpe = excluded.tpe, content = excluded.content, version = next_version(st.version)
                 WHERE (st.tpe, st.content) IS DISTINCT FROM (excluded.tpe, excluded.content)",
                &[&row.agent_turn_uid, &row.idx, &row.tpe, &row.content, &row.created_at],
            )
            .await
            .map_err(pg("copying a step from ScyllaDB"))?;
        Ok(())
    }
}
