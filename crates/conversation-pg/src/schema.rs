//! The relational schema: versioned SQL files in `migrations/`, applied by refinery.

use crate::typed;
use conversation_store::{StoreError, StoreResult};

use crate::store::{pg, PgStore};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The migrations of this build, oldest first.
pub(crate) fn migrations() -> Vec<refinery::Migration> {
    let mut migrations = embedded::migrations::runner().get_migrations().to_vec();
    migrations.sort_by_key(refinery::Migration::version);
    migrations
}

/// Every migration applies under this advisory lock, so stores starting together do not race.
const MIGRATION_LOCK: i64 = 0x6368_6174_5f70_6701;

impl PgStore {
    /// Creates the schema if missing and applies the migrations it has not had yet. Safe to run
    /// from several processes at once. Returns the names of the migrations it applied.
    pub async fn apply_schema(&self) -> StoreResult<Vec<String>> {
        let mut client = self.client().await?;
        // The schema is a checked plain identifier (see PgConfig), so it can be spliced in.
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", self.config.schema))
            .await
            .map_err(pg("creating the schema"))?;
        // Held by a transaction of its own on another connection, for as long as the migrations
        // run: a session lock would not hold behind PgBouncer in transaction mode.
        let mut holder = self.client().await?;
        let lock = holder.transaction().await.map_err(pg("starting the migration lock's transaction"))?;
        lock.execute_typed("SELECT pg_advisory_xact_lock($1)", typed![&MIGRATION_LOCK])
            .await
            .map_err(pg("taking the migration lock"))?;
        let report = embedded::migrations::runner().run_async(&mut **client).await;
        lock.commit().await.map_err(pg("releasing the migration lock"))?;
        let report = report.map_err(|error| StoreError::Relational {
            action: format!("applying the relational schema to `{}`", self.config.schema),
            source: Box::new(error),
        })?;
        Ok(report.applied_migrations().iter().map(|migration| migration.to_string()).collect())
    }

    /// Checks that every migration of this build has been applied, without writing anything;
    /// the error says how to apply them.
    pub async fn check_schema(&self) -> StoreResult<()> {
        let client = self.client().await?;
        let history = client
            .query_typed_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", typed![])
            .await
            .map_err(pg("looking for the migration history"))?
            .get::<_, bool>(0);
        let applied: Vec<i32> = if history {
            client
                .query_typed("SELECT version FROM refinery_schema_history", typed![])
                .await
                .map_err(pg("reading the migration history"))?
                .iter()
                .map(|row| row.get(0))
                .collect()
        } else {
            Vec::new()
        };
        let missing: Vec<String> = embedded::migrations::runner()
            .get_migrations()
            .iter()
            .filter(|wanted| !applied.iter().any(|&done| i64::from(done) == i64::from(wanted.version())))
            .map(|migration| migration.to_string())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(StoreError::InvalidInput {
                field: "schema",
                reason: format!(
                    "PostgreSQL schema `{}` lacks migration(s) {}; apply them with `chat-migrate schema apply` \
                     (or PgStore::apply_schema), or take over a database other code made with `chat-migrate adopt`",
                    self.config.schema,
                    missing.join(", ")
                ),
            })
        }
    }

    /// Drops the store's schema and everything in it. For tests and throw-away data sets.
    pub async fn drop_schema(&self) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.config.schema))
            .await
            .map_err(pg("dropping the schema"))
    }
}
