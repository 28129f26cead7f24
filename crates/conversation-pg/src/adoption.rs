//! Adopting a database that other code made and keeps writing: tables with the relational model
//! (`sessions`, `human_turns`, `agent_turns`, `steps`, the columns of `V1__conversations.sql`
//! but `version` and `active_root`), written by the application's own SQL, scripts and other
//! services that never call [`PgStore`].
//!
//! [`PgStore::adopt`] gives such a database what the migration needs, without stopping its
//! writers:
//! 1. the key columns in the "C" collation (ScyllaDB's order), V1's `version` and `active_root`
//!    columns with defaults (so the application's statements keep working), `next_version()`,
//!    the `turns` view and V1's indexes (built `CONCURRENTLY`);
//! 2. a check constraint on each column the copy needs a value in, where the table allows NULL;
//! 3. V1 recorded in refinery's history, and the later migrations applied as usual;
//! 4. triggers (`adoption/triggers.sql`) that give every INSERT, UPDATE and DELETE, from any
//!    client, what the store's own writes get, inside the writer's transaction: a rising
//!    version, an outbox entry in the phases that record changes, a refusal once ScyllaDB is
//!    written first. The store's own transactions are marked, and the triggers leave them alone,
//!    so no change is recorded twice;
//! 5. the versions of the rows already there, from their times, in batches.
//!
//! Every step can run again: adopting twice changes nothing the first did not, and an adoption
//! that stopped part way finishes. [`PgStore::adoption_sql`] shows what would run;
//! [`PgStore::remove_adoption`] takes the triggers and checks out again.

use crate::typed;
use std::fmt;
use std::time::{Duration, Instant};

use conversation_store::{StoreError, StoreResult};
use tokio_postgres::GenericClient;

use crate::phase::{RelationalWrites, PHASE_LOCK};
use crate::store::{pg, PgStore};

const PREPARE: &str = include_str!("../adoption/prepare.sql");
const INDEXES: &str = include_str!("../adoption/indexes.sql");
const TRIGGERS: &str = include_str!("../adoption/triggers.sql");
const REMOVE: &str = include_str!("../adoption/remove.sql");

/// Rows whose version one fill statement sets.
const FILL_BATCH: i64 = 10_000;

/// What a column must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Time,
    Int,
    Bool,
}

impl Kind {
    fn accepts(self, data_type: &str) -> bool {
        match self {
            Kind::Text => matches!(data_type, "text" | "character varying"),
            Kind::Time => data_type == "timestamp with time zone",
            Kind::Int => data_type == "integer",
            Kind::Bool => data_type == "boolean",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Text => "text or varchar",
            Kind::Time => "timestamptz",
            Kind::Int => "integer",
            Kind::Bool => "boolean",
        }
    }
}

/// One column the migration reads: its table, name, type, whether the copy needs a value in it,
/// and whether it is a key, compared in ScyllaDB's byte order (the "C" collation).
struct Needed {
    table: &'static str,
    column: &'static str,
    kind: Kind,
    required: bool,
    key: bool,
}

const fn needed(table: &'static str, column: &'static str, kind: Kind, required: bool, key: bool) -> Needed {
    Needed { table, column, kind, required, key }
}

/// The columns of `V1__conversations.sql` that adoption expects to find.
const NEEDED: &[Needed] = &[
    needed("sessions", "uid", Kind::Text, true, true),
    needed("sessions", "account_uid", Kind::Text, true, true),
    needed("sessions", "title", Kind::Text, true, false),
    needed("sessions", "created_at", Kind::Time, true, false),
    needed("sessions", "deleted_at", Kind::Time, false, false),
    needed("human_turns", "uid", Kind::Text, true, true),
    needed("human_turns", "session_uid", Kind::Text, true, true),
    needed("human_turns", "parent_uid", Kind::Text, false, true),
    needed("human_turns", "active_child", Kind::Text, false, true),
    needed("human_turns", "prompt", Kind::Text, true, false),
    needed("human_turns", "created_at", Kind::Time, true, false),
    needed("agent_turns", "uid", Kind::Text, true, true),
    needed("agent_turns", "session_uid", Kind::Text, true, true),
    needed("agent_turns", "parent_uid", Kind::Text, true, true),
    needed("agent_turns", "active_child", Kind::Text, false, true),
    needed("agent_turns", "liked", Kind::Bool, false, false),
    needed("agent_turns", "created_at", Kind::Time, true, false),
    needed("steps", "agent_turn_uid", Kind::Text, true, true),
    needed("steps", "idx", Kind::Int, true, false),
    needed("steps", "tpe", Kind::Int, true, false),
    needed("steps", "content", Kind::Text, true, false),
    needed("steps", "created_at", Kind::Time, true, false),
];

const TABLES: [&str; 4] = ["sessions", "human_turns", "agent_turns", "steps"];

/// What adoption found before changing anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preflight {
    /// What stops adoption: a missing table or column, a column of another type, NULLs where
    /// the copy needs a value, a relation named `turns` that is not the view adoption makes.
    pub problems: Vec<String>,
    /// Rows per table, and how many carry a time finer than a millisecond.
    pub tables: Vec<TableCount>,
    /// Turns that share their session and millisecond with another turn.
    pub turns_sharing_a_millisecond: i64,
    /// Key columns not yet in the "C" collation: `table.column` and the collation they have.
    pub collation_changes: Vec<(String, String)>,
    /// `table.column`s that allow NULL where the copy needs a value: adoption adds a check.
    pub not_null_checks: Vec<(String, String)>,
    /// Whether V1 is in refinery's history already (a database made by PgStore, or adopted).
    pub v1_recorded: bool,
    /// Whether the triggers are installed.
    pub triggers_installed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableCount {
    pub table: String,
    pub rows: i64,
    /// Rows with a time (`created_at`, a session's `deleted_at`) finer than a millisecond.
    pub sub_millisecond: i64,
    /// Rows still without a version (0), which adoption fills.
    pub unversioned: i64,
}

impl fmt::Display for Preflight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Pre-flight")?;
        for table in &self.tables {
            writeln!(
                f,
                "  {:<12} {:>12} rows, {:>10} with sub-millisecond times, {:>10} without a version",
                table.table, table.rows, table.sub_millisecond, table.unversioned
            )?;
        }
        let sub_ms: i64 = self.tables.iter().map(|table| table.sub_millisecond).sum();
        if sub_ms > 0 || self.turns_sharing_a_millisecond > 0 {
            writeln!(
                f,
                "  Times: ScyllaDB keeps milliseconds. The {sub_ms} row(s) with finer times keep them in PostgreSQL; \
                 they are copied, compared and paged at the millisecond (rounded down). {} turn(s) share their \
                 session's millisecond with another: they stay distinct (the id is part of the key) and sort by \
                 id within it, in both databases.",
                self.turns_sharing_a_millisecond
            )?;
        }
        for (column, collation) in &self.collation_changes {
            writeln!(f, "  {column}: collation {collation} becomes \"C\" (its indexes are rebuilt)")?;
        }
        for (column, _) in &self.not_null_checks {
            writeln!(f, "  {column}: allows NULL, which cannot be copied; gets a NOT NULL check")?;
        }
        writeln!(f, "  V1 recorded: {}; triggers installed: {}", self.v1_recorded, self.triggers_installed)?;
        for problem in &self.problems {
            writeln!(f, "  PROBLEM: {problem}")?;
        }
        Ok(())
    }
}

/// One step of an adoption, as it runs and as `--dry-run` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptionStep {
    pub title: String,
    pub sql: String,
    how: How,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// All statements in one transaction.
    Transaction,
    /// Each statement on its own, outside a transaction (`CONCURRENTLY`, `VALIDATE`).
    Alone,
    /// Refinery's migrations not yet applied.
    Migrations,
    /// The batched version fill.
    Fill,
}

/// What an adoption did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adoption {
    pub preflight: Preflight,
    /// Each step's title and how long it took.
    pub steps: Vec<(String, Duration)>,
    /// Refinery migrations applied.
    pub migrations: Vec<String>,
    /// Rows given a version, per table.
    pub filled: Vec<(String, u64)>,
}

impl fmt::Display for Adoption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.preflight)?;
        for (title, took) in &self.steps {
            writeln!(f, "  done in {:>8.2} s: {title}", took.as_secs_f64())?;
        }
        if !self.migrations.is_empty() {
            writeln!(f, "  migrations applied: {}", self.migrations.join(", "))?;
        }
        for (table, rows) in &self.filled {
            writeln!(f, "  {table}: {rows} row(s) given a version")?;
        }
        Ok(())
    }
}

fn not_null_check(table: &str, column: &str) -> String {
    format!("conversation_pg_{table}_{column}_not_null")
}

/// Statements of a script, split at the `;` that ends a line (the scripts' own style; none has
/// a `;` at a line's end inside a function body).
fn statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        if current.trim().is_empty() && line.trim_start().starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') && !in_dollar_quote(&current) {
            out.push(std::mem::take(&mut current).trim().to_owned());
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

fn in_dollar_quote(text: &str) -> bool {
    text.matches("$$").count() % 2 == 1
}

impl PgStore {
    /// Looks at the database without changing it: what adoption would need to change, and what
    /// would stop it.
    pub async fn preflight(&self) -> StoreResult<Preflight> {
        let client = self.client().await?;
        let mut report = Preflight::default();
        let columns = client
            .query_typed(
                "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable = 'YES',
                        coalesce(c.collation_name::text, '')
                 FROM information_schema.columns c
                 WHERE c.table_schema = current_schema() AND c.table_name = ANY($1)",
                typed![&TABLES.to_vec()],
            )
            .await
            .map_err(pg("reading the tables' columns"))?;
        let found = |table: &str, column: &str| {
            columns.iter().find(|row| row.get::<_, &str>(0) == table && row.get::<_, &str>(1) == column)
        };
        for table in TABLES {
            if !columns.iter().any(|row| row.get::<_, &str>(0) == table) {
                report.problems.push(format!("there is no table `{table}` in schema `{}`", self.config.schema));
            }
        }
        for wanted in NEEDED {
            let Some(row) = found(wanted.table, wanted.column) else {
                if columns.iter().any(|row| row.get::<_, &str>(0) == wanted.table) {
                    report.problems.push(format!("`{}` has no column `{}`", wanted.table, wanted.column));
                }
                continue;
            };
            let data_type: &str = row.get(2);
            if !wanted.kind.accepts(data_type) {
                report.problems.push(format!(
                    "`{}.{}` is {data_type}; the migration reads it as {}",
                    wanted.table,
                    wanted.column,
                    wanted.kind.name()
                ));
                continue;
            }
            let collation: &str = row.get(4);
            if wanted.key && collation != "C" && collation != "POSIX" {
                let shown = if collation.is_empty() { "default".to_owned() } else { format!("\"{collation}\"") };
                report.collation_changes.push((format!("{}.{}", wanted.table, wanted.column), shown));
            }
            if wanted.required && row.get::<_, bool>(3) {
                let check = client
                    .query_typed_one(
                        "SELECT count(*) FROM pg_constraint WHERE conname = $1 AND conrelid = to_regclass($2) AND convalidated", typed![&not_null_check(wanted.table, wanted.column), &wanted.table])
                    .await
                    .map_err(pg("looking for a not-null check"))?;
                if check.get::<_, i64>(0) == 0 {
                    let nulls: i64 = client
                        .query_typed_one(
                            &format!("SELECT count(*) FROM {} WHERE {} IS NULL", wanted.table, wanted.column),
                            typed![],
                        )
                        .await
                        .map_err(pg("counting NULLs"))?
                        .get(0);
                    if nulls > 0 {
                        report.problems.push(format!(
                            "`{}.{}` is NULL in {nulls} row(s); the copy needs a value there",
                            wanted.table, wanted.column
                        ));
                    }
                    report.not_null_checks.push((format!("{}.{}", wanted.table, wanted.column), String::new()));
                }
            }
        }
        let turns = client
            .query_typed_opt(
                "SELECT c.relkind::text FROM pg_class c WHERE c.oid = to_regclass('turns')
                 AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
                typed![],
            )
            .await
            .map_err(pg("looking for the turns view"))?;
        if let Some(kind) = turns {
            let kind: &str = kind.get(0);
            let ours = kind == "v"
                && client
                    .query_typed_one(
                        "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) FROM information_schema.columns
                         WHERE table_schema = current_schema() AND table_name = 'turns'", typed![])
                    .await
                    .map_err(pg("reading the turns view"))?
                    .get::<_, Option<String>>(0)
                    .as_deref()
                    == Some("uid,session_uid,turn_type,parent_uid,active_child,prompt,liked,created_at,version");
            if !ours {
                report.problems.push(
                    "a relation named `turns` exists and is not the view adoption makes; rename it first".to_owned(),
                );
            }
        }
        report.v1_recorded = self.v1_recorded(&**client).await?;
        if !report.v1_recorded {
            for (table, column) in [
                ("sessions", "version"),
                ("sessions", "active_root"),
                ("human_turns", "version"),
                ("agent_turns", "version"),
                ("steps", "version"),
            ] {
                if found(table, column).is_some() {
                    report.problems.push(format!(
                        "`{table}.{column}` exists and is not adoption's: the migration needs that name for its own column"
                    ));
                }
            }
        }
        report.triggers_installed = self.triggers_installed(&**client).await?;
        if report.problems.is_empty() {
            let shared: i64 = client
                .query_typed_one("SELECT count(*) FROM human_turns h JOIN agent_turns a ON a.uid = h.uid", typed![])
                .await
                .map_err(pg("looking for turn ids in both tables"))?
                .get(0);
            if shared > 0 {
                report.problems.push(format!(
                    "{shared} turn id(s) are in both human_turns and agent_turns; ScyllaDB keys a turn by its id alone"
                ));
            }
        }
        if report.problems.is_empty() {
            report.tables =
                counts(&**client, &columns.iter().map(|row| (row.get(0), row.get(1))).collect::<Vec<_>>()).await?;
            report.turns_sharing_a_millisecond = client
                .query_typed_one(
                    "SELECT coalesce(sum(n), 0)::bigint FROM (
                         SELECT count(*) AS n FROM (
                             SELECT session_uid, created_at FROM human_turns
                             UNION ALL SELECT session_uid, created_at FROM agent_turns) t
                         GROUP BY session_uid, date_trunc('milliseconds', created_at AT TIME ZONE 'UTC')
                         HAVING count(*) > 1) shared",
                    typed![],
                )
                .await
                .map_err(pg("counting turns that share a millisecond"))?
                .get(0);
        }
        Ok(report)
    }

    async fn v1_recorded(&self, client: &(impl GenericClient + Sync)) -> StoreResult<bool> {
        let history = client
            .query_typed_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", typed![])
            .await
            .map_err(pg("looking for the migration history"))?
            .get::<_, bool>(0);
        if !history {
            return Ok(false);
        }
        Ok(client
            .query_typed_one("SELECT count(*) FROM refinery_schema_history WHERE version = 1", typed![])
            .await
            .map_err(pg("reading the migration history"))?
            .get::<_, i64>(0)
            > 0)
    }

    async fn triggers_installed(&self, client: &(impl GenericClient + Sync)) -> StoreResult<bool> {
        Ok(client
            .query_typed_one(
                // Enabled ALWAYS, as adoption leaves them: `DISABLE TRIGGER ALL` (pg_restore
                // --disable-triggers) and a later `ENABLE` would leave them off or half on.
                "SELECT count(*) FROM pg_trigger WHERE tgname IN ('zz_conversation_pg_before', 'zz_conversation_pg_after')
                 AND tgenabled = 'A'
                 AND tgrelid = ANY(ARRAY[to_regclass('sessions'), to_regclass('human_turns'),
                                         to_regclass('agent_turns'), to_regclass('steps')])", typed![])
            .await
            .map_err(pg("looking for the adoption's triggers"))?
            .get::<_, i64>(0)
            == 8)
    }

    /// Whether the adoption's triggers are on every table.
    pub async fn is_adopted(&self) -> StoreResult<bool> {
        let client = self.client().await?;
        self.triggers_installed(&**client).await
    }

    /// The steps adoption would take after `preflight`, with their SQL.
    pub fn adoption_steps(&self, preflight: &Preflight) -> Vec<AdoptionStep> {
        let schema = &self.config.schema;
        let mut steps = Vec::new();
        let mut prepare = String::new();
        if !preflight.collation_changes.is_empty() {
            // The view reads the key columns; it is made again below.
            prepare.push_str("DROP VIEW IF EXISTS turns;\n");
            for (column, _) in &preflight.collation_changes {
                let (table, column) = column.split_once('.').expect("table.column");
                prepare.push_str(&format!("ALTER TABLE {table} ALTER COLUMN {column} TYPE text COLLATE \"C\";\n"));
            }
        }
        prepare.push_str(PREPARE);
        // In the same transaction: a database with V1's columns has V1 recorded, so the
        // pre-flight can tell them from columns of the same names that the application owns.
        let migrations = crate::schema::migrations();
        let v1 = migrations.first().expect("the build has migrations");
        if !preflight.v1_recorded {
            prepare.push_str(&format!(
                "
CREATE TABLE IF NOT EXISTS refinery_schema_history (version int4 PRIMARY KEY, name varchar(255),
    applied_on varchar(255), checksum varchar(255));
INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
    VALUES ({}, '{}', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '{}')
    ON CONFLICT (version) DO NOTHING;\n",
                v1.version(),
                v1.name(),
                v1.checksum()
            ));
        }
        steps.push(AdoptionStep {
            title: format!("key columns in the \"C\" collation; V1's columns, function and view; {v1} recorded"),
            sql: prepare,
            how: How::Transaction,
        });
        if !preflight.not_null_checks.is_empty() {
            let mut sql = String::new();
            for (column, _) in &preflight.not_null_checks {
                let (table, column) = column.split_once('.').expect("table.column");
                let name = not_null_check(table, column);
                // Added without a scan, then validated under a lock that lets writes through.
                sql.push_str(&format!(
                    "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name};\n\
                     ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({column} IS NOT NULL) NOT VALID;\n\
                     ALTER TABLE {table} VALIDATE CONSTRAINT {name};\n"
                ));
            }
            steps.push(AdoptionStep {
                title: "a NOT NULL check where the copy needs a value".to_owned(),
                sql,
                how: How::Alone,
            });
        }
        steps.push(AdoptionStep { title: "V1's indexes".to_owned(), sql: INDEXES.to_owned(), how: How::Alone });
        let later: String = migrations
            .iter()
            .skip(1)
            .map(|migration| format!("-- {migration} (if not yet applied)\n{}\n", migration.sql().unwrap_or_default()))
            .collect();
        steps.push(AdoptionStep { title: "the later migrations".to_owned(), sql: later, how: How::Migrations });
        steps.push(AdoptionStep {
            title: "triggers on the four tables".to_owned(),
            sql: TRIGGERS.replace("__SCHEMA__", schema).replace("__PHASE_LOCK__", &PHASE_LOCK.to_string())
                + &create_triggers_sql(),
            how: How::Transaction,
        });
        let fill = FILLS
            .iter()
            .map(|(table, query)| {
                format!("-- {table}, {FILL_BATCH} rows at a time, after the key $1 (and $2)\n{query};\n")
            })
            .collect();
        steps.push(AdoptionStep { title: "versions of the rows already there".to_owned(), sql: fill, how: How::Fill });
        steps
    }

    /// Every statement adoption would run now, in order, as one script (`--dry-run`).
    pub async fn adoption_sql(&self) -> StoreResult<(Preflight, String)> {
        let preflight = self.preflight().await?;
        let script = self
            .adoption_steps(&preflight)
            .iter()
            .filter(|step| !step.sql.is_empty())
            .map(|step| format!("-- ==== {} ====\n{}\n", step.title, step.sql.trim_end()))
            .collect();
        Ok((preflight, script))
    }

    /// Adopts the database (see the module's docs). `progress` hears each step's title as it
    /// starts. Refuses, changing nothing, when the pre-flight finds a problem.
    pub async fn adopt(&self, mut progress: impl FnMut(&str)) -> StoreResult<Adoption> {
        let preflight = self.preflight().await?;
        if !preflight.problems.is_empty() {
            return Err(StoreError::InvalidInput {
                field: "adopt",
                reason: format!("the database cannot be adopted as it is: {}", preflight.problems.join("; ")),
            });
        }
        let mut adoption = Adoption { preflight: preflight.clone(), ..Adoption::default() };
        for step in self.adoption_steps(&preflight) {
            if step.sql.is_empty() {
                continue;
            }
            progress(&step.title);
            let started = Instant::now();
            match step.how {
                How::Transaction => {
                    let mut client = self.client().await?;
                    let tx = client.transaction().await.map_err(pg("starting an adoption step"))?;
                    tx.batch_execute(&step.sql).await.map_err(pg("running an adoption step"))?;
                    tx.commit().await.map_err(pg("committing an adoption step"))?;
                }
                How::Alone => {
                    let client = self.client().await?;
                    drop_invalid_indexes(&**client).await?;
                    for statement in statements(&step.sql) {
                        client.batch_execute(&statement).await.map_err(pg("running an adoption step"))?;
                    }
                }
                How::Migrations => adoption.migrations = self.apply_schema().await?,
                How::Fill => adoption.filled = self.fill_versions().await?,
            }
            adoption.steps.push((step.title, started.elapsed()));
        }
        Ok(adoption)
    }

    /// Gives every row still without a version (0) one from its times, a batch at a time, each
    /// batch its own transaction, so the application's writes never wait long. The triggers are
    /// in place by then: a row the application writes meanwhile gets its version from them, and
    /// is skipped here.
    async fn fill_versions(&self) -> StoreResult<Vec<(String, u64)>> {
        // Before dual-write, nothing is recorded: the fill may skip the triggers, which keeps it
        // fast. Later (adopting again after `DISABLE TRIGGER ALL` let unversioned rows in), the
        // triggers record what it fills, for ScyllaDB.
        let before_dual_write = self.relational_writes().await? == RelationalWrites::Plain;
        let mut client = self.client().await?;
        let mut filled = Vec::new();
        for (table, query) in FILLS {
            let mut after = (String::new(), -1_i32);
            let mut rows = 0_u64;
            loop {
                let tx = client.transaction().await.map_err(pg("starting a fill batch"))?;
                if before_dual_write {
                    crate::marker::mark_as_store(&*tx).await?;
                }
                let row = if table == "steps" {
                    tx.query_typed_one(query, typed![&after.0, &after.1, &FILL_BATCH]).await
                } else {
                    tx.query_typed_one(query, typed![&after.0, &FILL_BATCH]).await
                }
                .map_err(pg("filling row versions"))?;
                tx.commit().await.map_err(pg("committing a fill batch"))?;
                let last: Option<String> = row.get(0);
                rows += u64::try_from(row.get::<_, i64>(2)).unwrap_or(0);
                match last {
                    Some(last) => after = (last, row.get::<_, Option<i32>>(1).unwrap_or(-1)),
                    None => break,
                }
            }
            filled.push((table.to_owned(), rows));
        }
        Ok(filled)
    }

    /// Takes out the triggers and the NOT NULL checks adoption installed; the columns, tables
    /// and data stay. Refused unless the phase is `postgres`: in every later phase a write that
    /// went unrecorded, or unrefused, would be lost to ScyllaDB.
    pub async fn remove_adoption(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg("starting the removal"))?;
        // Under the phase lock, held exclusively: no phase change slips in before the triggers
        // are out, and the phase read here is the one they leave in. Writes queue behind it
        // meanwhile, so neither it nor the tables' locks are waited for long.
        tx.batch_execute("SET LOCAL lock_timeout = '5s'").await.map_err(pg("bounding the removal's waits"))?;
        // The tables first: a writer holds its table's lock before its trigger asks for the
        // phase lock, so taking the phase lock first could deadlock with it.
        tx.batch_execute("LOCK TABLE sessions, human_turns, agent_turns, steps IN ACCESS EXCLUSIVE MODE")
            .await
            .map_err(pg("locking the tables for the removal"))?;
        tx.execute_typed("SELECT pg_advisory_xact_lock($1)", typed![&PHASE_LOCK])
            .await
            .map_err(pg("taking the phase lock"))?;
        let writes: String = tx
            .query_typed_one("SELECT relational_writes FROM migration_phase", typed![])
            .await
            .map_err(pg("reading the shared phase"))?
            .get(0);
        if writes != RelationalWrites::Plain.name() {
            return Err(StoreError::InvalidInput {
                field: "adopt --remove",
                reason: "the migration's phase is past `postgres`: without the triggers the application's writes \
                         would not reach ScyllaDB. Move the phase back to postgres first (`chat-migrate phase set \
                         postgres`)"
                    .to_owned(),
            });
        }
        tx.batch_execute(&removal_sql()).await.map_err(pg("removing the adoption's triggers"))?;
        tx.commit().await.map_err(pg("committing the removal"))
    }
}

/// The tables the triggers go on, with the kind of row their functions handle.
const TRIGGERED: [(&str, &str); 4] =
    [("sessions", "session"), ("human_turns", "turn"), ("agent_turns", "turn"), ("steps", "step")];

/// The triggers' names, each with its SQL, after the functions of `triggers.sql`.
const TRIGGERS_OF_A_TABLE: [(&str, &str); 3] = [
    (
        "zz_conversation_pg_before",
        "BEFORE INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION conversation_pg_{kind}_before()",
    ),
    (
        "zz_conversation_pg_after",
        "AFTER INSERT OR UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION conversation_pg_{kind}_after()",
    ),
    (
        "zz_conversation_pg_truncate",
        "BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION conversation_pg_truncate()",
    ),
];

/// Drops the triggers of every table.
fn drop_triggers_sql() -> String {
    TRIGGERED
        .iter()
        .flat_map(|(table, _)| {
            TRIGGERS_OF_A_TABLE.iter().map(move |(name, _)| format!("DROP TRIGGER IF EXISTS {name} ON {table};\n"))
        })
        .collect()
}

/// (Re)creates the triggers of every table. Named `zz_` to run after the application's own
/// BEFORE triggers (they run in name order), so they see the row as it will be written. ENABLE
/// ALWAYS: they fire also in sessions with session_replication_role = replica (logical
/// replication's apply, some bulk loaders), which would otherwise write unversioned, unrecorded
/// rows. (`DISABLE TRIGGER ALL`, as pg_restore --disable-triggers runs it, turns them off all the
/// same: `is_adopted` then says no, and adopting again puts them back.)
fn create_triggers_sql() -> String {
    let mut sql = drop_triggers_sql();
    for (table, kind) in TRIGGERED {
        for (name, definition) in TRIGGERS_OF_A_TABLE {
            let definition = definition.replace("{table}", table).replace("{kind}", kind);
            sql.push_str(&format!(
                "CREATE TRIGGER {name} {definition};\nALTER TABLE {table} ENABLE ALWAYS TRIGGER {name};\n"
            ));
        }
    }
    sql
}

/// What `adopt --remove` runs.
pub fn removal_sql() -> String {
    let mut sql = drop_triggers_sql();
    sql.push_str(REMOVE);
    for wanted in NEEDED.iter().filter(|wanted| wanted.required) {
        sql.push_str(&format!(
            "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};\n",
            wanted.table,
            not_null_check(wanted.table, wanted.column)
        ));
    }
    sql
}

/// The indexes `indexes.sql` builds.
const ADOPTION_INDEXES: [&str; 4] =
    ["human_turns_by_session", "agent_turns_by_session", "human_turns_by_parent", "agent_turns_by_parent"];

/// An index build of adoption's that failed part way leaves an invalid index, which `IF NOT
/// EXISTS` would keep. Only those: another invalid index may be someone's build in progress.
async fn drop_invalid_indexes(client: &(impl GenericClient + Sync)) -> StoreResult<()> {
    let invalid = client
        .query_typed(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE NOT i.indisvalid AND c.relname = ANY($1)
               AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
            typed![&ADOPTION_INDEXES.to_vec()],
        )
        .await
        .map_err(pg("looking for invalid indexes"))?;
    for row in invalid {
        let name: &str = row.get(0);
        client
            .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS \"{}\"", name.replace('"', "\"\"")))
            .await
            .map_err(pg("dropping an invalid index"))?;
    }
    Ok(())
}

/// Each table's rows, sub-millisecond times and rows without a version, in one scan.
async fn counts(client: &(impl GenericClient + Sync), columns: &[(String, String)]) -> StoreResult<Vec<TableCount>> {
    let has = |table: &str, column: &str| columns.iter().any(|(t, c)| t == table && c == column);
    let finer = |column: &str| {
        format!("{column} <> date_trunc('milliseconds', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")
    };
    let mut out = Vec::new();
    for table in TABLES {
        let mut sub_ms = finer("created_at");
        if table == "sessions" {
            sub_ms = format!("{sub_ms} OR {}", finer("deleted_at"));
        }
        let unversioned = if has(table, "version") { "count(*) FILTER (WHERE version = 0)" } else { "count(*)" };
        let row = client
            .query_typed_one(
                &format!("SELECT count(*), count(*) FILTER (WHERE {sub_ms}), {unversioned} FROM {table}"),
                typed![],
            )
            .await
            .map_err(pg("counting rows"))?;
        out.push(TableCount {
            table: table.to_owned(),
            rows: row.get(0),
            sub_millisecond: row.get(1),
            unversioned: row.get(2),
        });
    }
    Ok(out)
}

/// The fill, per table: one batch after the key given, returning the batch's last key and the
/// rows it gave a version. A version is the row's latest time in microseconds: later changes
/// raise it (next_version), so every copy of the row is older than any change after adoption.
const FILLS: [(&str, &str); 4] = [
    (
        "sessions",
        "WITH batch AS (SELECT uid FROM sessions WHERE uid > $1 ORDER BY uid LIMIT $2),
              filled AS (
                  UPDATE sessions s
                  SET version = (extract(epoch FROM greatest(s.created_at, s.deleted_at)) * 1000000)::bigint,
                      active_root = coalesce(s.active_root,
                          (SELECT t.uid FROM turns t WHERE t.session_uid = s.uid AND t.parent_uid IS NULL
                           ORDER BY cql_ms(t.created_at) DESC, t.uid DESC LIMIT 1))
                  FROM batch WHERE s.uid = batch.uid AND s.version = 0 RETURNING 1)
         SELECT (SELECT max(uid) FROM batch), NULL::int, (SELECT count(*) FROM filled)",
    ),
    (
        "human_turns",
        "WITH batch AS (SELECT uid FROM human_turns WHERE uid > $1 ORDER BY uid LIMIT $2),
              filled AS (
                  UPDATE human_turns t SET version = (extract(epoch FROM t.created_at) * 1000000)::bigint
                  FROM batch WHERE t.uid = batch.uid AND t.version = 0 RETURNING 1)
         SELECT (SELECT max(uid) FROM batch), NULL::int, (SELECT count(*) FROM filled)",
    ),
    (
        "agent_turns",
        "WITH batch AS (SELECT uid FROM agent_turns WHERE uid > $1 ORDER BY uid LIMIT $2),
              filled AS (
                  UPDATE agent_turns t SET version = (extract(epoch FROM t.created_at) * 1000000)::bigint
                  FROM batch WHERE t.uid = batch.uid AND t.version = 0 RETURNING 1)
         SELECT (SELECT max(uid) FROM batch), NULL::int, (SELECT count(*) FROM filled)",
    ),
    (
        "steps",
        "WITH batch AS (SELECT agent_turn_uid, idx FROM steps WHERE (agent_turn_uid, idx) > ($1, $2)
                        ORDER BY agent_turn_uid, idx LIMIT $3),
              filled AS (
                  UPDATE steps s SET version = (extract(epoch FROM s.created_at) * 1000000)::bigint
                  FROM batch WHERE s.agent_turn_uid = batch.agent_turn_uid AND s.idx = batch.idx AND s.version = 0
                  RETURNING 1),
              last AS (SELECT agent_turn_uid, idx FROM batch ORDER BY agent_turn_uid DESC, idx DESC LIMIT 1)
         SELECT (SELECT agent_turn_uid FROM last), (SELECT idx FROM last), (SELECT count(*) FROM filled)",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_into_statements_but_not_inside_function_bodies() {
        let triggers = statements(TRIGGERS);
        assert!(triggers.iter().all(|statement| statement.ends_with(';')), "{triggers:#?}");
        assert!(triggers.iter().all(|statement| !in_dollar_quote(statement)));
        let functions = triggers.iter().filter(|statement| statement.starts_with("CREATE OR REPLACE FUNCTION")).count();
        assert_eq!(functions, 12);
        assert_eq!(statements(INDEXES).len(), 4);
        assert!(statements(INDEXES).iter().all(|statement| statement.starts_with("CREATE INDEX CONCURRENTLY")));
    }

    #[test]
    fn every_table_gets_its_three_triggers_always_enabled() {
        let sql = create_triggers_sql();
        assert_eq!(sql.matches("CREATE TRIGGER").count(), 12);
        assert_eq!(sql.matches("ENABLE ALWAYS TRIGGER").count(), 12);
        assert!(sql.contains(
            "AFTER INSERT OR UPDATE ON agent_turns FOR EACH ROW EXECUTE FUNCTION conversation_pg_turn_after()"
        ));
        assert_eq!(removal_sql().matches("DROP TRIGGER IF EXISTS").count(), 12);
    }

    #[test]
    fn removal_takes_out_every_function_the_triggers_make() {
        let removal = removal_sql();
        for statement in statements(TRIGGERS) {
            if let Some(rest) = statement.strip_prefix("CREATE OR REPLACE FUNCTION ") {
                let name = rest.split('(').next().unwrap();
                assert!(removal.contains(&format!("DROP FUNCTION IF EXISTS {name}(")), "{name}");
            }
        }
    }
}
