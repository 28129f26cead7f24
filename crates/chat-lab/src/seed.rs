//! `seed`: writes the benchmark's deterministic data set into PostgreSQL only, so a backfill can
//! be tried on a fresh machine. Each row's version is its `created_at`: history from before
//! dual-write began, older than any version a live write gets.

use chat_dataset::{Scale, Session};
use chat_migrate::MigrateResult;
use conversation_pg::{PgStore, SessionRow, SessionSnapshot, StepRow, TurnRow};
use conversation_store::StoreError;
use indicatif::ProgressBar;

use crate::progress_bar;

/// Sessions per bulk insert.
const SEED_CHUNK: usize = 200;

/// The relational rows of one generated session.
pub fn relational_rows(session: &Session) -> SessionSnapshot {
    let micros = |at: chrono::DateTime<chrono::Utc>| at.timestamp_micros();
    let mut turns = Vec::with_capacity(session.turns.len());
    let mut steps = Vec::new();
    for turn in &session.turns {
        turns.push(TurnRow {
            uid: turn.uid.clone(),
            session_uid: session.uid.clone(),
            turn_type: turn.turn_type,
            parent_uid: turn.parent.clone(),
            active_child: turn.active_child.clone(),
            prompt: turn.prompt.clone(),
            liked: turn.liked,
            created_at: turn.created_at,
            version: micros(turn.created_at),
        });
        steps.extend(turn.steps.iter().map(|step| StepRow {
            agent_turn_uid: turn.uid.clone(),
            idx: step.idx,
            tpe: step.tpe,
            content: step.content.clone(),
            created_at: step.created_at,
            version: micros(step.created_at),
        }));
    }
    steps.sort_by(|a, b| (a.agent_turn_uid.as_str(), a.idx).cmp(&(b.agent_turn_uid.as_str(), b.idx)));
    SessionSnapshot {
        session: SessionRow {
            uid: session.uid.clone(),
            account_uid: session.account_uid.clone(),
            title: session.title.clone(),
            created_at: session.created_at,
            deleted_at: None,
            active_root: session.turns.iter().rev().find(|turn| turn.parent.is_none()).map(|turn| turn.uid.clone()),
            version: micros(session.created_at),
        },
        turns,
        steps,
    }
}

/// What `seed` wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub sessions: usize,
    pub turns: usize,
    pub steps: usize,
}

/// Applies the relational schema, then writes sessions `0..scale.sessions` of the data set.
pub async fn seed(pg: &PgStore, scale: &Scale, seed: u64, show_progress: bool) -> MigrateResult<SeedReport> {
    pg.apply_schema().await?;
    let bar = if show_progress { progress_bar::bar(scale.sessions as u64, "sessions") } else { ProgressBar::hidden() };
    let mut report = SeedReport::default();
    let mut start = 0;
    while start < scale.sessions {
        let end = (start + SEED_CHUNK).min(scale.sessions);
        let chunk: Vec<SessionSnapshot> =
            (start..end).map(|index| relational_rows(&chat_dataset::session(scale, seed, index))).collect();
        for snapshot in &chunk {
            report.sessions += 1;
            report.turns += snapshot.turns.len();
            report.steps += snapshot.steps.len();
        }
        pg.bulk_insert(&chunk).await?;
        bar.inc((end - start) as u64);
        start = end;
    }
    bar.finish_and_clear();
    // As after any bulk load: the planner's statistics and the visibility map, now rather than
    // whenever autovacuum comes round (in the middle of the first measurements, say).
    pg.client().await?.batch_execute("VACUUM (ANALYZE) sessions, human_turns, agent_turns, steps").await.map_err(
        |source| StoreError::Relational { action: "vacuuming the seeded tables".into(), source: Box::new(source) },
    )?;
    Ok(report)
}
