//! The relays: each copies the changes one database recorded to the other, re-reading every
//! changed row, so a stale or repeated entry still writes the newest data.
//!
//! | Toward | Module | Reads | Phases |
//! |---|---|---|---|
//! | ScyllaDB | [`to_scylla`] ([`ScyllaRelay`]) | PostgreSQL's `scylla_outbox` | dual-write to `scylla-reads` |
//! | PostgreSQL | [`to_postgres`] ([`PostgresRelay`]) | ScyllaDB's `pg_outbox` | `scylla-primary` |
//!
//! Both report a pass in a [`DrainReport`] and run in the background through a [`RelayHandle`].

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::MigrateResult;
use crate::monitoring::{self, RelayTarget};

pub mod to_postgres;
pub mod to_scylla;

pub use to_postgres::PostgresRelay;
pub use to_scylla::{RelayConfig, ScyllaRelay};

/// What one pass over the outbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Entries copied and cleared.
    pub copied: usize,
    /// Entries that failed and wait for a retry.
    pub failed: usize,
    /// Entries kept because a row they name is not in the source yet (toward PostgreSQL).
    pub waiting: usize,
    /// Entries let go because the row they name never appeared: its write failed.
    pub abandoned: usize,
    /// Entries set aside because the target refused their row (toward PostgreSQL).
    pub dead_lettered: usize,
}

impl DrainReport {
    /// Records the pass for the metrics.
    pub(crate) fn record(&self, to: RelayTarget) {
        monitoring::relay_pass(
            to,
            [
                ("copied", self.copied),
                ("failed", self.failed),
                ("abandoned", self.abandoned),
                ("dead_lettered", self.dead_lettered),
            ],
        );
    }

    /// Adds a later pass: its counts add up, and what waits is what waits after it.
    pub(crate) fn add(&mut self, pass: DrainReport) {
        self.copied += pass.copied;
        self.failed += pass.failed;
        self.waiting = pass.waiting;
        self.abandoned += pass.abandoned;
        self.dead_lettered += pass.dead_lettered;
    }
}

/// A relay running in the background.
pub struct RelayHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<DrainReport>,
}

impl RelayHandle {
    /// Runs `pass` over and over in the background, resting `idle_wait` after a pass that copied
    /// nothing or failed (the failure is logged), until stopped.
    pub(crate) fn run<F, Fut>(idle_wait: Duration, to: RelayTarget, mut pass: F) -> RelayHandle
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = MigrateResult<DrainReport>> + Send,
    {
        let target = match to {
            RelayTarget::Scylla => "ScyllaDB",
            RelayTarget::Postgres => "PostgreSQL",
        };
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut total = DrainReport::default();
            while !*stopped.borrow() {
                let idle = match pass().await {
                    Ok(report) => {
                        let idle = report.copied == 0;
                        total.add(report);
                        idle
                    }
                    Err(error) => {
                        monitoring::relay_pass_failed(to);
                        tracing::warn!(%error, target, "relay pass failed (a database unreachable?); retrying");
                        true
                    }
                };
                if idle {
                    tokio::select! {
                        _ = tokio::time::sleep(idle_wait) => {}
                        _ = stopped.changed() => {}
                    }
                }
            }
            total
        });
        RelayHandle { stop, task }
    }

    /// Stops after the pass in progress; returns what the relay copied in all.
    pub async fn stop(self) -> DrainReport {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}
