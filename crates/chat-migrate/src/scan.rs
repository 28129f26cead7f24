//! Running verify and repair over many sessions: which sessions, how many at once, how fast,
//! and what was found.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use chrono::{DateTime, Utc};
use conversation_pg::{PgStore, SessionRow};
use futures::StreamExt;
use indicatif::ProgressBar;

use crate::copier::ScyllaCopier;
use crate::error::{pg_error, MigrateError, MigrateResult};
use crate::progress;
use crate::rate::RowRate;
use crate::repair::{repair_session, RepairedSession};
use crate::verify::{compare, read_scylla, verifying_tables, Divergence, DivergenceKind, SessionKeys};

/// Which sessions to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every session PostgreSQL has, and every purged one.
    All,
    /// This many sessions picked at random.
    Sample(i64),
    /// Sessions with a row changed at or after this time.
    ChangedSince(DateTime<Utc>),
    /// These sessions.
    Sessions(Vec<String>),
}

/// How a scan runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    pub selection: Selection,
    /// Sessions checked at once.
    pub concurrency: usize,
    /// For repair: ScyllaDB rows written per second at most.
    pub rate: Option<NonZeroU32>,
    /// Show a progress bar on the terminal.
    pub progress: bool,
}

impl ScanOptions {
    pub fn new(selection: Selection) -> ScanOptions {
        ScanOptions { selection, concurrency: 16, rate: None, progress: false }
    }
}

/// What a verify (or a repair) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub sessions: usize,
    pub counts: BTreeMap<DivergenceKind, usize>,
    /// The first few divergences, for the operator to look at.
    pub examples: Vec<Divergence>,
    pub divergent_sessions: Vec<String>,
    /// For repair: what was written.
    pub repaired: RepairedSession,
}

/// Examples kept in a report.
const EXAMPLES: usize = 8;

impl ScanReport {
    pub fn divergences(&self) -> usize {
        self.counts.values().sum()
    }

    pub fn count(&self, kind: DivergenceKind) -> usize {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    fn add(&mut self, session_uid: &str, divergences: Vec<Divergence>) {
        self.sessions += 1;
        if divergences.is_empty() {
            return;
        }
        self.divergent_sessions.push(session_uid.to_owned());
        for divergence in divergences {
            *self.counts.entry(divergence.kind).or_default() += 1;
            if self.examples.len() < EXAMPLES {
                self.examples.push(divergence);
            }
        }
    }

    /// The report as the command line prints it.
    pub fn summary(&self) -> String {
        let mut text = format!("{} sessions checked, {} divergences", self.sessions, self.divergences());
        for kind in DivergenceKind::ALL {
            text.push_str(&format!("\n  {:<17} {}", kind.label(), self.count(kind)));
        }
        if !self.examples.is_empty() {
            text.push_str("\nexamples:");
            for example in &self.examples {
                text.push_str(&format!("\n  - {example}"));
            }
        }
        text
    }
}

/// The ids of the selected sessions, in id order, and the purged ones for `All`.
async fn selected(pg: &PgStore, selection: &Selection) -> MigrateResult<Vec<String>> {
    let client = pg.client().await?;
    Ok(match selection {
        Selection::All => client
            .query("SELECT uid FROM sessions UNION SELECT uid FROM purged_sessions ORDER BY 1", &[])
            .await
            .map_err(pg_error("listing sessions"))?
            .iter()
            .map(|row| row.get(0))
            .collect(),
        Selection::Sample(count) => {
            let mut uids: Vec<String> = client
                .query("SELECT uid FROM sessions ORDER BY random() LIMIT $1", &[count])
                .await
                .map_err(pg_error("sampling sessions"))?
                .iter()
                .map(|row| row.get(0))
                .collect();
            uids.sort();
            uids
        }
        Selection::ChangedSince(since) => {
            drop(client);
            pg.sessions_changed_since(since.timestamp_micros()).await?
        }
        Selection::Sessions(uids) => uids.clone(),
    })
}

/// The keys of a session PostgreSQL no longer has: from the purge record, or for a session it
/// never had, the id alone (to find stray copies).
async fn keys_of_absent(pg: &PgStore, session_uid: &str) -> MigrateResult<SessionKeys> {
    let session = match pg.purged_session(session_uid).await? {
        Some((keys, _)) => keys,
        None => SessionRow {
            uid: session_uid.to_owned(),
            account_uid: String::new(),
            title: String::new(),
            created_at: DateTime::UNIX_EPOCH,
            deleted_at: None,
            active_root: None,
            version: 0,
        },
    };
    Ok(SessionKeys { session, turn_uids: Vec::new() })
}

/// The keys to look for in ScyllaDB, read without the session's contents.
async fn scylla_keys(pg: &PgStore, session_uid: &str) -> MigrateResult<SessionKeys> {
    match pg.session_keys(session_uid).await? {
        Some((session, turn_uids)) => Ok(SessionKeys { session, turn_uids }),
        None => keys_of_absent(pg, session_uid).await,
    }
}

/// What PostgreSQL holds of the session now, and the keys it implies.
async fn current(
    pg: &PgStore,
    session_uid: &str,
) -> MigrateResult<(SessionKeys, Option<conversation_pg::SessionSnapshot>)> {
    match pg.snapshot_sessions(&[session_uid.to_owned()]).await?.into_iter().next() {
        Some(snapshot) => {
            let keys = SessionKeys {
                session: snapshot.session.clone(),
                turn_uids: snapshot.turns.iter().map(|turn| turn.uid.clone()).collect(),
            };
            Ok((keys, Some(snapshot)))
        }
        None => Ok((keys_of_absent(pg, session_uid).await?, None)),
    }
}

/// Verifies (and with `repair`, repairs) the selected sessions.
pub async fn scan(
    pg: &PgStore,
    copier: &ScyllaCopier,
    options: &ScanOptions,
    repair: bool,
) -> MigrateResult<ScanReport> {
    let uids = selected(pg, &options.selection).await?;
    let bar = if options.progress { progress::bar(uids.len() as u64, "sessions") } else { ProgressBar::hidden() };
    let tables = verifying_tables(copier.tables());
    let rate = options.rate.map(RowRate::new);
    let outcomes = futures::stream::iter(uids)
        .map(|session_uid| {
            let (tables, rate, bar) = (&tables, &rate, &bar);
            async move {
                // ScyllaDB first, then PostgreSQL: see the module docs of verify.
                let found = read_scylla(tables, &scylla_keys(pg, &session_uid).await?, copier.layout()).await?;
                let (keys, snapshot) = current(pg, &session_uid).await?;
                let divergences = compare(&session_uid, &found, snapshot.as_ref(), copier.layout());
                let mut repaired = RepairedSession::default();
                if repair && !divergences.is_empty() {
                    if let Some(rate) = rate {
                        rate.wait_for(keys.turn_uids.len() * 4 + 2).await;
                    }
                    repaired = repair_session(pg, copier, &keys, &divergences, &found).await?;
                }
                bar.inc(1);
                Ok::<_, MigrateError>((session_uid, divergences, repaired))
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    bar.finish_and_clear();
    let mut report = ScanReport::default();
    let mut outcomes: Vec<_> = outcomes.into_iter().collect::<MigrateResult<Vec<_>>>()?;
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    for (session_uid, divergences, repaired) in outcomes {
        for divergence in &divergences {
            tracing::info!(%divergence, "divergence");
        }
        report.add(&session_uid, divergences);
        report.repaired.rows_rewritten += repaired.rows_rewritten;
        report.repaired.rows_removed += repaired.rows_removed;
    }
    Ok(report)
}
