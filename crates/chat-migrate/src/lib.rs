//! Moves the conversation platform from PostgreSQL to ScyllaDB while it serves users.
//!
//! PostgreSQL stays the source of truth until the last phase. Every ScyllaDB copy of a
//! relational row is written with the row's version as its timestamp (`USING TIMESTAMP`), so any
//! replay, backfill or repair can run again, in any order, and never overwrites newer data.
//!
//! | Part | Module | Command |
//! |---|---|---|
//! | relational rows → ScyllaDB rows, one mapping for everything, and writing them versioned | [`projection`], [`copier`] | |
//! | phase 1: write PostgreSQL and an outbox entry in one transaction, then copy | [`dual_write`] | |
//! | every phase behind one store, switched while it runs: shadow reads, ScyllaDB reads with fallback | [`migrating`], [`phase`], [`shadow`], [`breaker`] | |
//! | one phase for the fleet, kept in PostgreSQL, moved one step once its preconditions hold | [`shared_phase`] | `chat-migrate phase` |
//! | copy what dual-write could not, with backoff; in `scylla-primary`, keep PostgreSQL up to date | [`relay`] | `chat-migrate relay [--to-postgres]` |
//! | copy the history, resumable, sharded, rate-limited, throttled to hold live reads' p99 | [`mod@backfill`], [`throttle`] | `chat-migrate backfill` |
//! | compare both databases session by session | [`verify`], [`mod@scan`] | `chat-migrate verify` |
//! | rewrite what differs, tombstone what should not be there | [`repair`] | `chat-migrate repair` |
//! | the store's invariants in ScyllaDB alone (both turn tables, steps without gaps, active pointers) | [`audit`] | |
//! | how far a long job has come, as events for the caller to show | [`progress`] | |
//! | every metric exported, for Prometheus or any `metrics` recorder | [`monitoring`] | `--metrics-addr` |
//! | asking a long job to stop at its next safe point | [`stop`] | SIGTERM, SIGINT |
//!
//! The commands are the `chat-migrate` binary's, in the `chat-migrate-cli` crate. This crate is
//! what an application links: it draws nothing on the terminal and reads no command line.

pub mod audit;
pub mod backfill;
pub mod breaker;
pub mod copier;
pub mod dual_write;
mod error;
pub mod migrating;
pub mod monitoring;
pub mod phase;
pub mod progress;
pub mod projection;
mod rate;
pub mod relay;
pub mod repair;
pub mod scan;
pub mod shadow;
pub mod shared_phase;
pub mod stop;
pub mod throttle;
pub mod verify;
mod warnings;

pub use audit::{audit_all, audit_sessions, AuditReport, Violation, ViolationKind};
pub use backfill::{backfill, BackfillOptions, BackfillReport, Shard};
pub use breaker::{BreakerConfig, BreakerCounts, BreakerState};
pub use copier::ScyllaCopier;
pub use dual_write::DualWriteStore;
pub use error::{Failure, MigrateError, MigrateResult};
pub use migrating::{MigratingOptions, MigratingStore, PhaseFollower, ReadSideStatus};
pub use phase::{Phase, Routing};
pub use relay::{PostgresRelay, RelayConfig, ScyllaRelay};
pub use scan::{scan, ScanOptions, ScanReport, Selection};
pub use shadow::{FallbackReason, ReadCounts, ReadPattern};
pub use shared_phase::{PhaseChange, Precondition, SetOptions, SharedPhase};
pub use stop::StopSignal;

use conversation_store::all_tables;
use scylla_table::{Database, Error, Replication};

/// Checks that `db`'s keyspace has the store's tables as the code defines them. With
/// `replication`, creates whatever is missing first.
pub async fn ensure_scylla_schema(db: &Database, apply_with: Option<&Replication>) -> MigrateResult<()> {
    let tables = all_tables();
    if let Some(replication) = apply_with {
        db.apply_schema(replication, &tables).await?;
    }
    match db.validate_schema(&tables).await {
        Ok(()) => Ok(()),
        Err(Error::SchemaMismatch(mismatches)) => Err(MigrateError::InvalidInput(format!(
            "keyspace `{}` does not hold the conversation tables as this build defines them ({} difference(s), \
             first: {}). Create them with `chat-migrate schema apply` (or `cargo xtask migrate` for the \
             default keyspace), or check SCYLLA_KEYSPACE",
            db.keyspace(),
            mismatches.len(),
            mismatches.first().map(ToString::to_string).unwrap_or_default()
        ))),
        Err(error) => Err(error.into()),
    }
}
