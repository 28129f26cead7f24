//! Running verify and repair over many sessions: which sessions, how many at once, how fast,
//! and what was found.

use conversation_pg::typed;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use chrono::{DateTime, Utc};
use conversation_pg::{PgStore, SessionRow};
use futures::StreamExt;

use conversation_store::{ConversationStore, StoreTables};

use crate::copier::ScyllaCopier;
use crate::error::{pg_error, MigrateError, MigrateResult};
use crate::monitoring;
use crate::progress::{Progress, ProgressSink};
use crate::projection::Layout;
use crate::rate::RowRate;
use crate::relay::PostgresRelay;
use crate::repair::{repair_from_scylla, repair_session, RepairedSession};
use crate::shared_phase;
use crate::stop::StopSignal;
use crate::verify::{compare, read_scylla, verifying_tables, Divergence, DivergenceKind, ScyllaSession, SessionKeys};

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
    /// Where the sessions checked are reported.
    pub progress: ProgressSink,
    /// How long to wait before checking a divergent session again: a session being written
    /// while it is checked can differ for a moment (a copy on its way, a change not yet relayed).
    pub recheck_delay: Duration,
    /// Stops the scan once the sessions being checked are done; what was found is still
    /// rechecked (and repaired), and a stopped verify is not recorded as one of every session.
    pub stop: StopSignal,
}

impl ScanOptions {
    pub fn new(selection: Selection) -> ScanOptions {
        ScanOptions {
            selection,
            concurrency: 16,
            rate: None,
            progress: ProgressSink::default(),
            recheck_delay: Duration::from_millis(500),
            stop: StopSignal::default(),
        }
    }
}

/// How many times a divergent session is checked again before it counts.
const RECHECKS: usize = 2;

pub use crate::verify::Truth;

/// What a verify (or a repair) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub sessions: usize,
    /// The database taken as the truth.
    pub truth: Truth,
    pub counts: BTreeMap<DivergenceKind, usize>,
    /// The first few divergences, for the operator to look at.
    pub examples: Vec<Divergence>,
    pub divergent_sessions: Vec<String>,
    /// Sessions that differed, then matched when checked again (they were being written).
    pub settled_on_recheck: usize,
    /// For repair: what was written.
    pub repaired: RepairedSession,
    /// Stopped on request before every selected session was checked.
    pub stopped: bool,
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

    fn add(&mut self, session_uid: &str, divergences: &[Divergence]) {
        if divergences.is_empty() {
            return;
        }
        self.divergent_sessions.push(session_uid.to_owned());
        for divergence in divergences {
            *self.counts.entry(divergence.kind).or_default() += 1;
            if self.examples.len() < EXAMPLES {
                self.examples.push(divergence.clone());
            }
        }
    }

    /// The report as the command line prints it.
    pub fn summary(&self) -> String {
        let truth = match self.truth {
            Truth::Postgres => "PostgreSQL is the truth",
            Truth::Scylla => "ScyllaDB is the truth (scylla-primary)",
        };
        let mut text = format!(
            "{} sessions checked{}, {} divergences ({truth}; {} more settled when checked again)",
            self.sessions,
            if self.stopped { " (stopped on request before the rest)" } else { "" },
            self.divergences(),
            self.settled_on_recheck
        );
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
            .query_typed("SELECT uid FROM sessions UNION SELECT uid FROM purged_sessions ORDER BY 1", typed![])
            .await
            .map_err(pg_error("listing sessions"))?
            .iter()
            .map(|row| row.get(0))
            .collect(),
        Selection::Sample(count) => {
            let mut uids: Vec<String> = client
                .query_typed("SELECT uid FROM sessions ORDER BY random() LIMIT $1", typed![count])
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

/// The keys of a session PostgreSQL no longer has: from the purge record, with the turns the
/// purge recorded, or for a session it never had, the id alone (to find stray copies).
async fn keys_of_absent(pg: &PgStore, session_uid: &str) -> MigrateResult<SessionKeys> {
    Ok(match pg.purged_session(session_uid).await? {
        Some(purged) => SessionKeys { session: purged.keys, turn_uids: purged.turn_uids },
        None => SessionKeys {
            session: SessionRow {
                uid: session_uid.to_owned(),
                account_uid: String::new(),
                title: String::new(),
                created_at: DateTime::UNIX_EPOCH,
                deleted_at: None,
                active_root: None,
                version: 0,
            },
            turn_uids: Vec::new(),
        },
    })
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

/// One divergent session as last checked.
struct Checked {
    session_uid: String,
    keys: SessionKeys,
    found: ScyllaSession,
    divergences: Vec<Divergence>,
}

/// Checks the sessions, until `stop` is asked; returns how many it checked, and the divergent
/// ones in id order.
#[allow(clippy::too_many_arguments)]
async fn check(
    pg: &PgStore,
    tables: &StoreTables,
    layout: Layout,
    truth: Truth,
    uids: Vec<String>,
    concurrency: usize,
    progress: &ProgressSink,
    stop: &StopSignal,
) -> MigrateResult<(usize, Vec<Checked>)> {
    let outcomes: Vec<MigrateResult<Option<Checked>>> = futures::stream::iter(uids)
        .take_while(|_| std::future::ready(!stop.is_stopped()))
        .map(|session_uid| async move {
            // ScyllaDB first, then PostgreSQL: see the module docs of verify.
            let found = read_scylla(tables, &scylla_keys(pg, &session_uid).await?, layout).await?;
            let (keys, snapshot) = current(pg, &session_uid).await?;
            let divergences = compare(&session_uid, &found, snapshot.as_ref(), layout, truth);
            progress.report(Progress::Advanced { done: 1, rows_per_second: None });
            // Only divergent sessions are kept: a scan of millions holds no more than it reports.
            Ok((!divergences.is_empty()).then_some(Checked { session_uid, keys, found, divergences }))
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let checked = outcomes.len();
    let mut divergent: Vec<Checked> =
        outcomes.into_iter().filter_map(Result::transpose).collect::<MigrateResult<_>>()?;
    divergent.sort_by(|a, b| a.session_uid.cmp(&b.session_uid));
    Ok((checked, divergent))
}

/// Verifies (and with `repair`, repairs) the selected sessions, taking as the truth the
/// database the shared phase writes first. A divergent session is checked again after
/// `recheck_delay` (twice at most) before it counts, so one being written at the time does
/// not. Repair from PostgreSQL waits until ScyllaDB has no change left for PostgreSQL
/// (`pg_outbox`): it would undo one. Repair from ScyllaDB writes PostgreSQL only. A verify of
/// every session is recorded for `chat-migrate phase`.
pub async fn scan(
    pg: &PgStore,
    copier: &ScyllaCopier,
    options: &ScanOptions,
    repair: bool,
) -> MigrateResult<ScanReport> {
    // PostgreSQL's clock, which dates everything the phase change compares this verify with.
    let started_at: DateTime<Utc> = pg
        .client()
        .await?
        .query_typed_one("SELECT clock_timestamp()", typed![])
        .await
        .map_err(pg_error("reading the time"))?
        .get(0);
    let truth = shared_phase::read(pg).await?.truth();
    let to_postgres = PostgresRelay::new(ConversationStore::new(copier.database().clone()), pg.clone());
    if repair && truth == Truth::Postgres {
        let waiting = to_postgres.depth().await?;
        if waiting > 0 {
            return Err(MigrateError::Refused(format!(
                "{waiting} change(s) written to ScyllaDB first still wait for PostgreSQL (pg_outbox), and a repair \
                 from PostgreSQL would undo them: copy them first with `chat-migrate relay --to-postgres \
                 --until-empty`"
            )));
        }
    }
    let uids = selected(pg, &options.selection).await?;
    options.progress.report(Progress::Started { total: uids.len() as u64, unit: "sessions" });
    let tables = verifying_tables(copier.tables());
    let layout = copier.layout();
    let selected = uids.len();
    let checked = check(pg, &tables, layout, truth, uids, options.concurrency, &options.progress, &options.stop).await;
    let stopped = checked.as_ref().is_ok_and(|(sessions, _)| *sessions < selected);
    options.progress.report(Progress::Finished { completed: checked.is_ok() && !stopped });
    let (sessions, mut divergent) = checked?;
    let mut settled_on_recheck = 0;
    for _ in 0..RECHECKS {
        if divergent.is_empty() {
            break;
        }
        tokio::time::sleep(options.recheck_delay).await;
        let uids: Vec<String> = divergent.iter().map(|checked| checked.session_uid.clone()).collect();
        let before = uids.len();
        // Rechecks are few and bounded, so a stop does not cut them short.
        let (quiet, unstoppable) = (ProgressSink::default(), StopSignal::default());
        divergent = check(pg, &tables, layout, truth, uids, options.concurrency, &quiet, &unstoppable).await?.1;
        settled_on_recheck += before - divergent.len();
    }
    let mut report = ScanReport { sessions, truth, settled_on_recheck, stopped, ..ScanReport::default() };
    for checked in &divergent {
        for divergence in &checked.divergences {
            tracing::info!(%divergence, "divergence");
        }
        report.add(&checked.session_uid, &checked.divergences);
    }
    monitoring::scanned(
        if repair { "repair" } else { "verify" },
        report.sessions,
        DivergenceKind::ALL.into_iter().map(|kind| (kind.label(), report.count(kind))),
    );
    if repair {
        let rate = options.rate.map(RowRate::new);
        let repairs: Vec<MigrateResult<RepairedSession>> = futures::stream::iter(&divergent)
            .map(|checked| {
                let (rate, to_postgres) = (&rate, &to_postgres);
                async move {
                    if let Some(rate) = rate {
                        rate.wait_for(checked.keys.turn_uids.len() * 4 + 2).await;
                    }
                    match truth {
                        Truth::Postgres => {
                            repair_session(pg, copier, &checked.keys, &checked.divergences, &checked.found).await
                        }
                        Truth::Scylla => repair_from_scylla(to_postgres, &checked.session_uid, &checked.found).await,
                    }
                }
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        for repaired in repairs {
            report.repaired.add(repaired?);
        }
        monitoring::repaired(report.repaired.rows_rewritten, report.repaired.rows_removed);
    } else if options.selection == Selection::All && !stopped {
        record_verify(pg, copier.database().keyspace(), &report, started_at).await?;
    }
    Ok(report)
}

/// Records a verify of every session, for the phase change's "verify clean".
async fn record_verify(
    pg: &PgStore,
    keyspace: &str,
    report: &ScanReport,
    started_at: DateTime<Utc>,
) -> MigrateResult<()> {
    let client = pg.client().await?;
    client
        .execute_typed(
            "INSERT INTO verify_runs (keyspace, truth, sessions, divergences, started_at) VALUES ($1, $2, $3, $4, $5)",
            typed![
                &keyspace,
                &report.truth.name(),
                &i64::try_from(report.sessions).unwrap_or(i64::MAX),
                &i64::try_from(report.divergences()).unwrap_or(i64::MAX),
                &started_at,
            ],
        )
        .await
        .map_err(pg_error("recording the verify"))?;
    Ok(())
}
