//! A connected session: reads the live schema for the pure comparison and migration planning
//! below it, applies schemas, and prepares each statement once. The typed table operations
//! (`table_ops`, `batch`) sit on top of it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::policies::speculative_execution::{SimpleSpeculativeExecutionPolicy, SpeculativeExecutionPolicy};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};
use scylla_table_schema::{
    create_keyspace_cql, creation_order, quote_if_needed, StatementKind, TableSchema, UserTypeSchema,
};

use scylla::deserialize::row::DeserializeRow;
use scylla::serialize::row::SerializeRow;

use crate::config::{ConnectionConfig, ConsistencyLevels};
use crate::error::{Error, Result};
use crate::live_schema::{LiveColumn, LiveTable, LiveUserType, SchemaMismatch};
use crate::migration::{plan_migration, plan_user_type_migration, MigrationPlan};
use crate::table::ScyllaTable;

/// A session bound to one application keyspace.
///
/// Cloning is cheap: clones share the connection pool and the prepared-statement cache.
#[derive(Clone)]
pub struct Database {
    session: Arc<Session>,
    /// Shared, so that cloning a database (every table handle holds one) allocates nothing.
    keyspace: Arc<str>,
    consistency: ConsistencyLevels,
    /// [`ConnectionConfig::local_datacenter`]: the datacenter a local consistency level counts in.
    local_datacenter: Option<Arc<str>>,
    prepared: Arc<Mutex<HashMap<StatementKey, PreparedStatement>>>,
}

/// A statement's place in the cache: the table's schema, by address, and the statement kind. The
/// schemas are statics, one per table struct, so the lookup on every request needs no string.
type StatementKey = (usize, StatementKind);

impl Database {
    /// Opens a session. The keyspace need not exist yet: [`Database::apply_schema`] creates it.
    pub async fn connect(config: &ConnectionConfig) -> Result<Database> {
        config.check()?;
        let speculative = config.speculative_after.map(|retry_interval| {
            Arc::new(SimpleSpeculativeExecutionPolicy { max_retry_count: 2, retry_interval })
                as Arc<dyn SpeculativeExecutionPolicy>
        });
        let serial = match config.consistency.serial() {
            Consistency::LocalSerial => SerialConsistency::LocalSerial,
            _ => SerialConsistency::Serial,
        };
        let mut profile = ExecutionProfile::builder()
            .request_timeout(Some(config.request_timeout))
            .speculative_execution_policy(speculative)
            .serial_consistency(Some(serial));
        if let Some(datacenter) = &config.local_datacenter {
            // Token-aware within the datacenter, and never beyond it (see `local_datacenter`).
            let local =
                DefaultPolicy::builder().prefer_datacenter(datacenter.clone()).permit_dc_failover(false).build();
            profile = profile.load_balancing_policy(local);
        }
        let profile = profile.build();
        let mut builder = SessionBuilder::new()
            .known_nodes(&config.contact_points)
            .connection_timeout(config.connect_timeout)
            .default_execution_profile_handle(profile.into_handle());
        if !config.address_map.is_empty() {
            let map: HashMap<SocketAddr, SocketAddr> = config.address_map.clone().into_iter().collect();
            builder = builder.address_translator(Arc::new(map));
        }
        if let Some((user, password)) = &config.credentials {
            builder = builder.user(user, password);
        }
        #[cfg(feature = "tls")]
        if let Some(ca) = &config.tls_ca_pem {
            builder = builder.tls_context(Some(crate::tls::client_config(ca)?));
        }
        let session = builder
            .build()
            .await
            .map_err(|source| Error::Connect { addresses: config.contact_points.join(", "), source: source.into() })?;
        if let Some(datacenter) = &config.local_datacenter {
            check_datacenter(&session, datacenter)?;
        }
        Ok(Database {
            session: Arc::new(session),
            keyspace: Arc::from(config.keyspace.as_str()),
            consistency: config.consistency,
            local_datacenter: config.local_datacenter.as_deref().map(Arc::from),
            prepared: Arc::default(),
        })
    }

    /// The datacenter requests go to, if one is set.
    pub fn local_datacenter(&self) -> Option<&str> {
        self.local_datacenter.as_deref()
    }

    /// A failed statement as [`Error::query`] types it, naming this client's datacenter where a
    /// local consistency level could not be met there.
    pub(crate) fn error(&self, action: impl Into<String>, source: impl Into<crate::error::DriverError>) -> Error {
        Error::query(action, source).in_datacenter(self.local_datacenter())
    }

    /// The driver session, for anything this crate does not cover.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The application keyspace every table handle of this database uses.
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    /// The default consistency levels of tables opened from this database.
    pub fn consistency(&self) -> ConsistencyLevels {
        self.consistency
    }

    /// The keyspace a table lives in: its own fixed keyspace, else this database's.
    pub(crate) fn keyspace_of<'a>(&'a self, schema: &'a TableSchema) -> &'a str {
        schema.keyspace.as_deref().unwrap_or(&self.keyspace)
    }

    /// Runs one schema statement (DDL), unprepared, and waits for every node to agree on the result.
    pub async fn run_ddl(&self, cql: &str) -> Result<()> {
        self.session.query_unpaged(cql, ()).await.map_err(|source| self.error(format!("`{}`", cql.trim()), source))?;
        self.session
            .await_schema_agreement()
            .await
            .map_err(|source| self.error("waiting for schema agreement", source))?;
        Ok(())
    }

    /// Every user-defined type the tables use, once per keyspace, each after the types it uses.
    /// Two different definitions under one name are refused: one would silently win.
    fn user_types_of<'a>(&'a self, tables: &[&'a TableSchema]) -> Result<Vec<(&'a str, &'a UserTypeSchema)>> {
        let mut ordered: Vec<(&str, &UserTypeSchema)> = Vec::new();
        for table in tables {
            let keyspace = self.keyspace_of(table);
            for user_type in creation_order(&table.user_types) {
                match ordered
                    .iter()
                    .find(|(known_keyspace, known)| *known_keyspace == keyspace && known.name == user_type.name)
                {
                    Some((_, known)) if known.fields != user_type.fields => {
                        return Err(Error::Config(format!(
                            "two structs define the user-defined type `{keyspace}.{}` differently (table `{}` uses \
                             one of them): give one of them another #[table(name = ...)]",
                            user_type.name, table.name
                        )));
                    }
                    Some(_) => {}
                    None => ordered.push((keyspace, user_type)),
                }
            }
        }
        Ok(ordered)
    }

    /// Creates the keyspace (with `replication`), every user-defined type and every table that is
    /// missing, types before the tables that use them, then waits for schema agreement. `IF NOT
    /// EXISTS` makes this idempotent and safe to run from several processes at once; existing
    /// types and tables are not changed (see [`Database::migrate`]). A type that already exists
    /// with other fields is an error ([`Error::SchemaMismatch`]): `IF NOT EXISTS` left it as it
    /// was, and a value of the struct's type could not be written to it safely.
    pub async fn apply_schema(&self, replication: &crate::Replication, tables: &[&TableSchema]) -> Result<()> {
        let mut keyspaces: Vec<&str> = vec![self.keyspace.as_ref()];
        keyspaces.extend(tables.iter().filter_map(|table| table.keyspace.as_deref()));
        keyspaces.sort_unstable();
        keyspaces.dedup();
        for keyspace in keyspaces {
            self.run_ddl(&create_keyspace_cql(keyspace, &replication.to_map())).await?;
        }
        let user_types = self.user_types_of(tables)?;
        let mut mismatches = Vec::new();
        for (keyspace, user_type) in &user_types {
            self.run_ddl(&user_type.create_type_cql(Some(keyspace))).await?;
            let live = read_live_user_type(&self.session, keyspace, &user_type.name).await?;
            mismatches.extend(SchemaMismatch::between_types(user_type, live.as_ref()));
        }
        if !mismatches.is_empty() {
            return Err(Error::SchemaMismatch(mismatches));
        }
        for table in tables {
            self.run_ddl(&table.create_table_cql(Some(self.keyspace_of(table)))).await?;
        }
        Ok(())
    }

    /// Compares each table, and each user-defined type they use, with the live schema in
    /// `system_schema`.
    pub async fn validate_schema(&self, tables: &[&TableSchema]) -> Result<()> {
        let mut mismatches = Vec::new();
        for (keyspace, user_type) in self.user_types_of(tables)? {
            let live = read_live_user_type(&self.session, keyspace, &user_type.name).await?;
            mismatches.extend(SchemaMismatch::between_types(user_type, live.as_ref()));
        }
        for table in tables {
            let live = read_live_table(&self.session, self.keyspace_of(table), &table.name).await?;
            mismatches.extend(SchemaMismatch::between(table, live.as_ref()));
        }
        if mismatches.is_empty() {
            Ok(())
        } else {
            Err(Error::SchemaMismatch(mismatches))
        }
    }

    /// What it takes to bring the live schema to `tables`: additive steps, and refused ones.
    /// The types' steps come first, so a table's new column finds its type.
    pub async fn plan_migration(&self, tables: &[&TableSchema]) -> Result<MigrationPlan> {
        let mut plan = MigrationPlan::default();
        for (keyspace, user_type) in self.user_types_of(tables)? {
            let live = read_live_user_type(&self.session, keyspace, &user_type.name).await?;
            plan.extend(plan_user_type_migration(keyspace, user_type, live.as_ref()));
        }
        for table in tables {
            let keyspace = self.keyspace_of(table).to_owned();
            let live = read_live_table(&self.session, &keyspace, &table.name).await?;
            plan.extend(plan_migration(&keyspace, table, live.as_ref()));
        }
        Ok(plan)
    }

    /// Applies the plan's additive steps. Refused steps fail the whole migration before anything
    /// runs, unless `allow_destructive` is set, in which case they run too.
    pub async fn migrate(&self, tables: &[&TableSchema], allow_destructive: bool) -> Result<MigrationPlan> {
        let plan = self.plan_migration(tables).await?;
        if !plan.refused.is_empty() && !allow_destructive {
            return Err(Error::MigrationRefused(plan.refused));
        }
        for step in plan.steps.iter().chain(plan.refused.iter().filter_map(|refused| refused.forced_step.as_ref())) {
            self.run_ddl(&step.cql).await?;
        }
        Ok(plan)
    }

    /// Runs one CQL statement with `values` bound to its markers, and reads every row as `R`.
    /// For plain CQL outside a table struct: `system_schema`, audits, ad-hoc checks.
    pub async fn query_rows<R>(&self, cql: &str, values: impl SerializeRow) -> Result<Vec<R>>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        query_rows(&self.session, cql, values).await
    }

    /// [`Database::query_rows`] at `consistency`, for counts and checks that must see what a
    /// quorum acknowledged rather than what one replica holds.
    pub async fn query_rows_at<R>(
        &self,
        consistency: Consistency,
        cql: &str,
        values: impl SerializeRow,
    ) -> Result<Vec<R>>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        let mut statement = scylla::statement::unprepared::Statement::new(cql);
        statement.set_consistency(consistency);
        query_rows(&self.session, statement, values).await
    }

    /// Drops a keyspace and everything in it. For tests and demos.
    pub async fn drop_keyspace(&self, keyspace: &str) -> Result<()> {
        self.run_ddl(&format!("DROP KEYSPACE IF EXISTS {}", quote_if_needed(keyspace))).await
    }

    /// The prepared statement for `kind` on `schema`, preparing it on first use only.
    pub(crate) async fn prepared(
        &self,
        schema: &'static TableSchema,
        kind: StatementKind,
    ) -> Result<PreparedStatement> {
        let key = (std::ptr::from_ref(schema) as usize, kind);
        if let Some(prepared) = self.prepared.lock().unwrap_or_else(|poison| poison.into_inner()).get(&key) {
            return Ok(prepared.clone());
        }
        let cql = schema.statement_cql(kind, Some(&self.keyspace))?;
        let prepared = self
            .session
            .prepare(cql.as_str())
            .await
            .map_err(|source| self.error(format!("preparing `{cql}`"), source))?;
        self.prepared.lock().unwrap_or_else(|poison| poison.into_inner()).insert(key, prepared.clone());
        Ok(prepared)
    }

    /// Prepares every statement of a table now, so the first request does not pay for it.
    pub async fn prepare_all<T: ScyllaTable>(&self) -> Result<()> {
        let schema = T::table_schema();
        for kind in schema.statement_kinds() {
            self.prepared(schema, kind).await?;
        }
        Ok(())
    }

    /// How many statements have been prepared so far.
    pub fn prepared_count(&self) -> usize {
        self.prepared.lock().unwrap_or_else(|poison| poison.into_inner()).len()
    }
}

/// [`Database::query_rows`] on a bare session. Every failure names the statement.
pub(crate) async fn query_rows<R>(
    session: &Session,
    statement: impl Into<scylla::statement::unprepared::Statement>,
    values: impl SerializeRow,
) -> Result<Vec<R>>
where
    R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
{
    let statement: scylla::statement::unprepared::Statement = statement.into();
    let cql = statement.contents.clone();
    let failed = |source: crate::error::DriverError| Error::query(format!("`{cql}`"), source);
    let result = session.query_unpaged(statement, values).await.map_err(|source| failed(source.into()))?;
    let rows = result.into_rows_result().map_err(|source| failed(source.into()))?;
    let rows = rows.rows::<R>().map_err(|source| failed(source.into()))?;
    rows.collect::<std::result::Result<Vec<R>, _>>().map_err(|source| failed(source.into()))
}

/// Reads one table's definition from `system_schema`, or `None` if it does not exist.
pub async fn read_live_table(session: &Session, keyspace: &str, table: &str) -> Result<Option<LiveTable>> {
    type OptionsRow = (Option<i32>, Option<i32>, Option<String>, Option<HashMap<String, String>>);
    let options: Vec<OptionsRow> = query_rows(
        session,
        "SELECT default_time_to_live, gc_grace_seconds, comment, compaction FROM system_schema.tables \
         WHERE keyspace_name = ? AND table_name = ?",
        (keyspace, table),
    )
    .await?;
    let Some((default_time_to_live, gc_grace_seconds, comment, compaction)) = options.into_iter().next() else {
        return Ok(None);
    };
    let columns: Vec<(String, String, i32, String, String)> = query_rows(
        session,
        "SELECT column_name, kind, position, type, clustering_order FROM system_schema.columns \
         WHERE keyspace_name = ? AND table_name = ?",
        (keyspace, table),
    )
    .await?;
    let columns = columns
        .into_iter()
        .map(|(name, kind, position, cql_type, clustering_order)| LiveColumn {
            name,
            kind,
            position,
            cql_type,
            clustering_order,
        })
        .collect();
    Ok(Some(LiveTable {
        keyspace: keyspace.to_owned(),
        name: table.to_owned(),
        columns,
        default_time_to_live: default_time_to_live.unwrap_or(0),
        gc_grace_seconds: gc_grace_seconds.unwrap_or(0),
        comment: comment.unwrap_or_default(),
        compaction: compaction.unwrap_or_default(),
    }))
}
/// Reads one user-defined type's definition from `system_schema`, or `None` if it does not exist.
pub async fn read_live_user_type(session: &Session, keyspace: &str, name: &str) -> Result<Option<LiveUserType>> {
    let rows: Vec<(Vec<String>, Vec<String>)> = query_rows(
        session,
        "SELECT field_names, field_types FROM system_schema.types WHERE keyspace_name = ? AND type_name = ?",
        (keyspace, name),
    )
    .await?;
    Ok(rows.into_iter().next().map(|(names, types)| LiveUserType {
        keyspace: keyspace.to_owned(),
        name: name.to_owned(),
        fields: names.into_iter().zip(types).collect(),
    }))
}

/// Refuses a local datacenter the cluster does not have: the driver would route nothing, and
/// every request would fail with a vague "no nodes" error.
fn check_datacenter(session: &Session, datacenter: &str) -> Result<()> {
    let state = session.get_cluster_state();
    let mut known: Vec<&str> = state.get_nodes_info().iter().filter_map(|node| node.datacenter.as_deref()).collect();
    known.sort_unstable();
    known.dedup();
    if known.contains(&datacenter) {
        return Ok(());
    }
    Err(Error::Config(format!(
        "the local datacenter `{datacenter}` (SCYLLA_LOCAL_DC) is not one of this cluster's: {}",
        known.join(", ")
    )))
}
