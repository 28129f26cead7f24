//! The relay toward ScyllaDB: copies the changes recorded in PostgreSQL's outbox to ScyllaDB, re-reading each changed
//! row, so a stale or repeated entry still writes the newest data. Dual-write's inline copy goes
//! through it with the rows its write returned ([`ScyllaRelay::copy_written`]); in the background
//! (or as `chat-migrate relay`) it drains whatever the inline copy could not write, with backoff.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use conversation_pg::outbox::Changed;
use conversation_pg::{OutboxEntry, OutboxLag, PgStore, RelationalWrites, Written, WrittenRow};
use futures::{StreamExt, TryStreamExt};

use crate::copier::ScyllaCopier;
use crate::error::{MigrateError, MigrateResult};
use crate::monitoring::{self, RelayTarget};
use crate::projection::{project_session, project_step, project_turn, SessionCopies, StepCopy, TurnCopies};

use super::{DrainReport, RelayHandle};

/// Rows of one session copied at once.
const ROWS_AT_ONCE: usize = 16;

/// How the relay paces itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelayConfig {
    /// Entries read from the outbox at a time.
    pub batch: i64,
    /// Sessions copied at once.
    pub concurrency: usize,
    /// The wait before retrying a failed entry; it doubles with each failure.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How long the background relay sleeps when nothing is due.
    pub idle_wait: Duration,
    /// How long a pass holds the entries it claimed before another relay may take them: far
    /// longer than a pass takes, so two relays copy an entry twice only after one of them died.
    pub claim_lease: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch: 1000,
            concurrency: 16,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            idle_wait: Duration::from_millis(200),
            claim_lease: Duration::from_secs(60),
        }
    }
}

/// A written row's copies.
enum Projected {
    Session(SessionCopies),
    Turn(TurnCopies),
    Step(StepCopy),
}

#[derive(Clone)]
pub struct ScyllaRelay {
    pg: PgStore,
    copier: ScyllaCopier,
    config: RelayConfig,
}

impl ScyllaRelay {
    pub fn new(pg: PgStore, copier: ScyllaCopier, config: RelayConfig) -> ScyllaRelay {
        ScyllaRelay { pg, copier, config }
    }

    pub fn pg(&self) -> &PgStore {
        &self.pg
    }

    pub fn copier(&self) -> &ScyllaCopier {
        &self.copier
    }

    /// Copies the current state of every row the entries name. Each row is read and written
    /// once, however many entries name it, and all at once: each copy carries its row's version
    /// as timestamp, so the order they land in cannot matter.
    /// An entry about a row other code deleted or re-keyed tombstones the copies under the keys it
    /// names, at its version, whatever the row is now.
    pub async fn copy_entries(&self, entries: &[OutboxEntry]) -> MigrateResult<()> {
        let mut seen = HashSet::new();
        let mut work = Vec::new();
        for entry in entries {
            match &entry.gone {
                Some(gone) => {
                    work.push((entry.session_uid.clone(), entry.changed.clone(), Some((gone.clone(), entry.version))))
                }
                None if seen.insert((&entry.session_uid, &entry.changed)) => {
                    work.push((entry.session_uid.clone(), entry.changed.clone(), None))
                }
                None => {}
            }
        }
        // Owned values in `async move` blocks keep the future Send for any caller's lifetimes.
        let copies = work.into_iter().map(|(session_uid, changed, gone)| async move {
            match gone {
                Some((gone, version)) => {
                    self.copier.tombstone_gone(&session_uid, &changed, &gone, version).await?;
                    Ok(())
                }
                None => self.copy_current(&session_uid, &changed).await,
            }
        });
        futures::stream::iter(copies).buffer_unordered(ROWS_AT_ONCE).try_collect::<Vec<()>>().await?;
        Ok(())
    }

    async fn copy_current(&self, session_uid: &str, changed: &Changed) -> MigrateResult<()> {
        match changed {
            Changed::Session => match self.pg.session_row(session_uid).await? {
                Some(row) => self.copier.write_session(&project_session(&row)).await?,
                None => {
                    if let Some(purged) = self.pg.purged_session(session_uid).await? {
                        self.copier.tombstone_session(&purged.keys, &purged.turn_uids, purged.version).await?;
                    }
                }
            },
            // A turn or step that is gone went with its purged session, whose own entry
            // tombstones it.
            Changed::Turn { turn_uid } => {
                if let Some(row) = self.pg.turn_row(turn_uid).await? {
                    self.copier.write_turn(&project_turn(&row)).await?;
                }
            }
            Changed::Step { turn_uid, idx } => {
                if let Some(row) = self.pg.step_row(turn_uid, *idx).await? {
                    self.copier.write_step(&project_step(&row, session_uid, self.copier.layout())).await?;
                }
            }
        }
        Ok(())
    }

    /// Copies rows as the write that recorded them returned them (dual-write's inline copy), and
    /// returns their entries' ids for the caller to clear. Nothing is read again: each copy
    /// carries its row's version as timestamp, so a newer version, copied before or after by
    /// this or another writer, still wins.
    pub async fn copy_written(&self, written: &[Written]) -> MigrateResult<Vec<i64>> {
        // Projected up front: futures over owned copies stay Send for any caller's lifetimes.
        let layout = self.copier.layout();
        let projected: Vec<Projected> = written
            .iter()
            .map(|written| match &written.row {
                WrittenRow::Session(row) => Projected::Session(project_session(row)),
                WrittenRow::Turn(row) => Projected::Turn(project_turn(row)),
                WrittenRow::Step(row) => Projected::Step(project_step(row, &written.session_uid, layout)),
            })
            .collect();
        let copies = projected.into_iter().map(|copy| async move {
            match copy {
                Projected::Session(copies) => self.copier.write_session(&copies).await,
                Projected::Turn(copies) => self.copier.write_turn(&copies).await,
                Projected::Step(copy) => self.copier.write_step(&copy).await,
            }
        });
        futures::stream::iter(copies).buffer_unordered(ROWS_AT_ONCE).try_collect::<Vec<()>>().await?;
        Ok(written.iter().map(|written| written.entry_id).collect())
    }

    /// Copies and clears every outbox entry of one session (but those a relay claimed
    /// meanwhile, see `PgStore::outbox_clear_copied`). Returns how many were cleared.
    pub async fn sync_session(&self, session_uid: &str) -> MigrateResult<u64> {
        let ids = self.copy_pending(session_uid).await?;
        Ok(self.pg.outbox_clear_copied(&ids).await?)
    }

    /// Copies every outbox entry of one session, re-reading the rows, and returns their ids for
    /// the caller to clear. An entry left uncleared is copied again by a relay later, which
    /// changes nothing.
    pub async fn copy_pending(&self, session_uid: &str) -> MigrateResult<Vec<i64>> {
        let entries = self.pg.outbox_of_session(session_uid).await?;
        if !entries.is_empty() {
            self.copy_entries(&entries).await?;
        }
        Ok(entries.iter().map(|entry| entry.id).collect())
    }

    /// One pass: the due entries, claimed so that no other relay copies them too, then copied
    /// session by session, several sessions at once. A session that fails keeps its entries,
    /// which wait out a backoff.
    ///
    /// In `scylla-primary` it copies nothing: ScyllaDB holds newer data than PostgreSQL, which
    /// a copy from PostgreSQL could overwrite (nothing should be left to copy by then: the phase
    /// change waits for an empty outbox).
    pub async fn drain_once(&self) -> MigrateResult<DrainReport> {
        if self.pg.relational_writes().await? == RelationalWrites::Refused {
            return Ok(DrainReport::default());
        }
        let entries = self.pg.outbox_claim(self.config.batch, self.config.claim_lease).await?;
        let mut by_session: BTreeMap<String, Vec<OutboxEntry>> = BTreeMap::new();
        for entry in entries {
            by_session.entry(entry.session_uid.clone()).or_default().push(entry);
        }
        let results: Vec<(Vec<i64>, MigrateResult<()>)> = futures::stream::iter(by_session.into_values())
            .map(|entries| async move {
                let ids = entries.iter().map(|entry| entry.id).collect();
                (ids, self.copy_entries(&entries).await)
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        let mut report = DrainReport::default();
        let mut copied = Vec::new();
        for (ids, result) in results {
            match result {
                Ok(()) => {
                    report.copied += ids.len();
                    copied.extend(ids);
                }
                Err(error) => {
                    report.failed += ids.len();
                    tracing::warn!(%error, entries = ids.len(), "copy to ScyllaDB failed; will retry");
                    self.pg
                        .outbox_retry_later(
                            &ids,
                            &error.to_string(),
                            self.config.first_backoff,
                            self.config.max_backoff,
                        )
                        .await?;
                }
            }
        }
        self.pg.outbox_complete(&copied).await?;
        report.record(RelayTarget::Scylla);
        Ok(report)
    }

    /// How far ScyllaDB is behind, recorded for the metrics too: a process that exports them
    /// calls it on a schedule of its own (counting the outbox is a query of its own, which a
    /// relay catching up should not pay on every pass).
    pub async fn lag(&self) -> MigrateResult<OutboxLag> {
        let lag = self.pg.outbox_lag().await?;
        monitoring::scylla_outbox(lag.depth, lag.oldest_age, lag.backing_off);
        Ok(lag)
    }

    /// Drains until nothing is due, or until `deadline` passes. Returns the totals and the lag left.
    pub async fn drain(&self, deadline: Option<Duration>) -> MigrateResult<(DrainReport, OutboxLag)> {
        if self.pg.relational_writes().await? == RelationalWrites::Refused {
            return Err(MigrateError::Refused(
                "the shared phase is scylla-primary: nothing may copy PostgreSQL over ScyllaDB now".into(),
            ));
        }
        let started = std::time::Instant::now();
        let mut total = DrainReport::default();
        loop {
            let pass = self.drain_once().await?;
            total.add(pass);
            let lag = self.lag().await?;
            let out_of_time = deadline.is_some_and(|deadline| started.elapsed() >= deadline);
            if lag.depth == 0 || out_of_time {
                return Ok((total, lag));
            }
            if pass.copied == 0 {
                tokio::time::sleep(self.config.idle_wait).await;
            }
        }
    }

    /// Runs the relay in the background until [`RelayHandle::stop`].
    pub fn spawn(self) -> RelayHandle {
        let idle_wait = self.config.idle_wait;
        RelayHandle::run(idle_wait, RelayTarget::Scylla, move || {
            let relay = self.clone();
            async move { relay.drain_once().await }
        })
    }
}
