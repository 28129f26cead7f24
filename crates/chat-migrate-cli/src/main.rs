//! `chat-migrate`: the command line of the move from PostgreSQL to ScyllaDB.

mod signals;
mod telemetry;

use conversation_pg::typed;
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::time::Duration;

use chat_migrate::progress::ProgressSink;
use chat_migrate::{
    backfill, ensure_scylla_schema, scan, BackfillOptions, Failure, MigrateError, PostgresRelay, RelayConfig,
    ScanOptions, ScyllaCopier, ScyllaRelay, Selection, Shard,
};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use conversation_pg::{PgConfig, PgStore, DEFAULT_POSTGRES_URL};
use conversation_store::ConversationStore;
use scylla_table::{ConnectionConfig, Database};

const EXAMPLES: &str = "\
Examples (in migration order):
  chat-migrate seed --sessions 10000          # a sample history in PostgreSQL, to try the rest on
  chat-migrate adopt --dry-run                # or: what taking over your own database would change
  chat-migrate adopt                          # version columns, bookkeeping tables and triggers
  chat-migrate schema apply                   # the bookkeeping tables, the keyspace and its tables
  chat-migrate phase set dual-write           # every change from now on is recorded for ScyllaDB
  chat-migrate backfill                       # copy the history; run it again after a stop to resume
  chat-migrate backfill --shard 0/2 --rate 20000   # one of two processes, at most 20K rows/s
  chat-migrate backfill --max-live-p99 50     # slow down while live reads' p99 is over 50 ms
  chat-migrate relay --metrics-addr 127.0.0.1:9464   # copy what dual-write left in the outbox, with metrics
  chat-migrate verify --all                   # compare every session; exit code 1 on any divergence
  chat-migrate repair --sample 1000 --rate 5000
  chat-migrate status
  chat-migrate phase                          # the shared phase, the instances, what the next step needs
  chat-migrate phase set shadow               # one step forward (or back), once its preconditions hold
  chat-migrate rehearse --quick               # every phase on 1K sessions under load, with a report

Every flag with an [env: ...] reads that variable when not given; a .env file in the working
directory sets variables the environment does not.

relay, backfill and repair --every stop cleanly on SIGTERM or SIGINT (Ctrl-C): the work in flight
finishes, checkpoints are saved, the summary is printed, and the exit code is 0; a second signal
ends the process at once. A backfill stopped so says so and resumes when run again.

Exit codes: 0 done, 1 verify found divergences, 2 bad input or a phase change refused, 3 a database
is unreachable or did not answer in time (run it again later), 4 the phase changed but an instance
had not followed within --wait, 5 PostgreSQL answered with an error (SQL, a constraint, a permission).
Logs go to stderr; set RUST_LOG (for example RUST_LOG=chat_migrate=debug).";

/// How often a command serving metrics measures what no pass records: the shared phase, the
/// outbox's depth and age (each a query of its own, kept off the relay's passes).
const MEASURE_EVERY: Duration = Duration::from_secs(5);

/// Moves the conversation platform from PostgreSQL to ScyllaDB.
#[derive(Parser)]
#[command(name = "chat-migrate", version, about, after_help = EXAMPLES)]
struct Cli {
    /// PostgreSQL: a `host=... port=... dbname=...` string or a `postgres://` URL.
    #[arg(long, env = "POSTGRES_URL", hide_env_values = true, default_value = DEFAULT_POSTGRES_URL, global = true)]
    postgres: String,
    /// The PostgreSQL schema that holds the relational tables.
    #[arg(long, env = "POSTGRES_SCHEMA", default_value = "public", global = true)]
    postgres_schema: String,
    /// ScyllaDB contact points, `host:port[,host:port...]` (default: the local node).
    #[arg(long, env = "SCYLLA_URI", global = true)]
    scylla_uri: Option<String>,
    /// The ScyllaDB keyspace (default `chat`). SCYLLA_REPLICATION, SCYLLA_TLS_CA, SCYLLA_USERNAME
    /// and SCYLLA_PASSWORD are read from the environment too.
    #[arg(long, env = "SCYLLA_KEYSPACE", global = true)]
    keyspace: Option<String>,
    /// The keyspace also holds `steps_by_session` (the store's `with_steps_by_session` layout):
    /// backfill, relay, verify and repair copy and compare it too.
    #[arg(long, env = "STEPS_BY_SESSION", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    steps_by_session: bool,
    /// Hide progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    /// Log lines as readable text or as one JSON object per line.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = telemetry::LogFormat::Text, global = true)]
    log_format: telemetry::LogFormat,
    /// Serve the migration's metrics for Prometheus at http://IP:PORT/metrics while the command
    /// runs (relay, backfill and repair --every run long enough to be scraped).
    #[arg(long, env = "METRICS_ADDR", value_name = "IP:PORT", global = true)]
    metrics_addr: Option<std::net::SocketAddr>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole migration on the benchmark's data set under a live load, in its own schema
    /// and keyspace (`rehearsal`), and write a report with a timeline.
    Rehearse {
        /// 1K sessions and 20 s steps: about 5 minutes. Without it: 10K sessions, 60 s steps.
        #[arg(long)]
        quick: bool,
        /// The local node's folder (`target/cassandra` of the workspace), to freeze it for the
        /// outage and measure it on disk.
        #[arg(long, default_value = "target/cassandra")]
        node_dir: std::path::PathBuf,
        /// Where report.md and timeline.png go.
        #[arg(long, default_value = "target/rehearsal")]
        out: std::path::PathBuf,
        /// Drop and make again the schema and keyspace `rehearsal` even though they exist.
        #[arg(long)]
        yes: bool,
        /// The live reads' p99 (milliseconds) the throttled backfill holds to; by default twice
        /// the p99 of the `dual-write` step before the backfills.
        #[arg(long, value_name = "MS", value_parser = positive_millis)]
        max_live_p99: Option<Duration>,
    },
    /// Take over a database that other code made and writes: add what the migration needs
    /// (version columns, bookkeeping tables, indexes) and triggers that version and record every
    /// change from any client. Prints a pre-flight first; safe to run again.
    Adopt {
        /// Print the pre-flight and the SQL adoption would run, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Take the triggers (and NOT NULL checks) out again; the added columns and tables stay.
        /// Only while the phase is `postgres`.
        #[arg(long, conflicts_with = "dry_run")]
        remove: bool,
    },
    /// Create the tables in both databases where missing (`apply`), or check that they are as
    /// this build expects (`check`, exit code 2 if not).
    Schema {
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// Write the benchmark's deterministic data set into PostgreSQL only (creating the schema).
    Seed {
        /// Sessions to write (about 10 turns and 50 steps each).
        #[arg(long)]
        sessions: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Write even though the schema already holds sessions.
        #[arg(long)]
        yes: bool,
    },
    /// Copy all history to ScyllaDB; resumes from its checkpoints when run again.
    Backfill {
        /// This process's part of the work, `i/n`.
        #[arg(long, default_value = "0/1")]
        shard: Shard,
        /// ScyllaDB rows written per second at most.
        #[arg(long)]
        rate: Option<NonZeroU32>,
        /// Hold live reads' p99 under this many milliseconds: probes load a conversation from
        /// each database, and the backfill slows down while their p99 is above it (never below
        /// 100 rows/s), and speeds up again once it holds. --rate stays the cap.
        #[arg(long, value_name = "MS", value_parser = positive_millis)]
        max_live_p99: Option<Duration>,
        /// Ranges to split the sessions into (when the plan is first made).
        #[arg(long, default_value_t = 64)]
        ranges: u32,
        /// Sessions written at once per range.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Create the keyspace and tables if missing (SCYLLA_REPLICATION, default simple:1).
        #[arg(long)]
        apply_schema: bool,
        /// Forget earlier checkpoints and copy everything again.
        #[arg(long)]
        restart: bool,
    },
    /// Copy the outbox's changes to ScyllaDB, with backoff (or, in scylla-primary, ScyllaDB's
    /// recorded changes to PostgreSQL).
    Relay {
        /// Stop once the outbox is empty instead of running until SIGTERM or Ctrl-C.
        #[arg(long)]
        until_empty: bool,
        /// Copy the other way: ScyllaDB's `pg_outbox` to PostgreSQL (the scylla-primary phase;
        /// drain it before rolling back to scylla-reads).
        #[arg(long)]
        to_postgres: bool,
        /// With --to-postgres: first record again the changes whose rows PostgreSQL refused
        /// (`relay_dead_letters`), once their cause is fixed.
        #[arg(long, requires = "to_postgres")]
        retry_dead_letters: bool,
    },
    /// Compare PostgreSQL with every ScyllaDB table, session by session.
    Verify {
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Rewrite divergent sessions from PostgreSQL and remove extra copies.
    Repair {
        #[command(flatten)]
        selection: SelectionArgs,
        /// ScyllaDB rows written per second at most.
        #[arg(long)]
        rate: Option<NonZeroU32>,
        /// Repeat every this many seconds until SIGTERM or Ctrl-C.
        #[arg(long)]
        every: Option<u64>,
    },
    /// Outbox depth and lag, backfill progress, row counts.
    Status,
    /// The fleet's shared phase: with no action, the phase, the instances following it and the
    /// preconditions of the next step either way.
    Phase {
        #[command(subcommand)]
        action: Option<PhaseAction>,
    },
}

#[derive(Subcommand, Clone, Copy)]
enum SchemaAction {
    /// Apply PostgreSQL's migrations and create the keyspace (SCYLLA_REPLICATION, default
    /// simple:1) and tables, where missing.
    Apply,
    /// Check both databases without changing anything.
    Check,
}

#[derive(Subcommand)]
enum PhaseAction {
    /// Move the shared phase one step forward or back (or change its dials), once the
    /// preconditions hold, and wait for the instances to follow. Forward from dual-write needs
    /// the backfill done, a clean `verify --all` after it, and the outbox drained; leaving
    /// scylla-primary pauses writes until PostgreSQL has every change.
    Set {
        phase: chat_migrate::Phase,
        /// In shadow: the share of reads compared, 0.0 to 1.0.
        #[arg(long, default_value_t = 1.0)]
        shadow_share: f64,
        /// In scylla-reads: the percentage of accounts reading from ScyllaDB.
        #[arg(long, default_value_t = 100)]
        scylla_read_percent: u8,
        /// Seconds to wait for the instances to follow (and, leaving scylla-primary, for the
        /// last changes to reach PostgreSQL).
        #[arg(long, default_value_t = 30)]
        wait: u64,
    },
    /// Remove an instance that stopped without unregistering (a crash): leaving scylla-primary
    /// waits for every registered instance.
    Forget { instance: String },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct SelectionArgs {
    /// Every session.
    #[arg(long)]
    all: bool,
    /// This many sessions, picked at random.
    #[arg(long)]
    sample: Option<i64>,
    /// Sessions changed at or after this time (RFC 3339, like 2026-11-25T10:00:00Z).
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// These sessions.
    #[arg(long = "session")]
    sessions: Vec<String>,
}

impl SelectionArgs {
    fn selection(&self) -> Selection {
        match (self.all, self.sample, self.since) {
            (true, _, _) => Selection::All,
            (_, Some(count), _) => Selection::Sample(count),
            (_, _, Some(since)) => Selection::ChangedSince(since),
            _ => Selection::Sessions(self.sessions.clone()),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // A `.env` file in the working directory (only there) sets what the environment does not,
    // RUST_LOG included. Its lines may hold a password: an error names the line, not its text.
    match dotenvy::from_path(".env") {
        Err(dotenvy::Error::LineParse(_, index)) => {
            eprintln!("error: .env: cannot read the variable at byte {index}");
            return ExitCode::from(2);
        }
        Err(error) if !error.not_found() => {
            let why = match &error {
                dotenvy::Error::Io(io) => io.kind().to_string(),
                _ => "a value it names is not valid".to_owned(),
            };
            eprintln!("error: .env cannot be read: {why}");
            return ExitCode::from(2);
        }
        _ => {}
    }
    let cli = Cli::parse();
    telemetry::start_logging(cli.log_format);
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            match error.failure() {
                Failure::BadInput => ExitCode::from(2),
                Failure::Unavailable => ExitCode::from(3),
                Failure::Sql => ExitCode::from(5),
            }
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, MigrateError> {
    let progress = !cli.quiet;
    if let Some(address) = cli.metrics_addr {
        telemetry::serve_metrics(address)?;
    }
    let pg_config = PgConfig::new(&cli.postgres, &cli.postgres_schema);
    let pg = PgStore::connect(&pg_config).await?;
    let phase_of = pg.clone();
    measure_while_serving(cli.metrics_addr.is_some(), move || {
        let pg = phase_of.clone();
        // A failed read is the relay's or the backfill's to report.
        async move {
            if let Ok(shared) = chat_migrate::shared_phase::read(&pg).await {
                chat_migrate::monitoring::phase(shared.routing.phase, shared.epoch);
            }
        }
    });
    if let Command::Seed { sessions, seed, yes } = cli.command {
        let existing = pg.sessions_held().await?;
        if existing > 0 && !yes {
            return Err(MigrateError::InvalidInput(format!(
                "PostgreSQL schema `{}` already holds {existing} sessions; seed adds its data set to them. Pass \
                 --yes to write anyway, or --postgres-schema to choose another schema",
                cli.postgres_schema
            )));
        }
        let report = chat_lab::seed::seed(&pg, &chat_lab::dataset::Scale::sized(sessions), seed, progress).await?;
        println!(
            "seeded PostgreSQL schema `{}`: {} sessions, {} turns, {} steps",
            cli.postgres_schema, report.sessions, report.turns, report.steps
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Adopt { dry_run, remove } = cli.command {
        return adopt(&pg, dry_run, remove).await;
    }
    if let Command::Rehearse { quick, node_dir, out, yes, max_live_p99 } = &cli.command {
        return rehearse(&cli, *quick, node_dir, out, *yes, *max_live_p99).await;
    }
    if let Command::Schema { action } = cli.command {
        return schema(&cli, &pg, action).await;
    }
    pg.check_schema().await?;
    if let Command::Phase { action } = &cli.command {
        return phase(&cli, &pg, action.as_ref()).await;
    }
    if let Command::Status = &cli.command {
        return status(&cli, &pg).await;
    }
    let scylla = scylla_config(&cli)?;
    let db = Database::connect(&scylla).await?;
    let apply = matches!(cli.command, Command::Backfill { apply_schema: true, .. });
    ensure_scylla_schema(&db, apply.then_some(&scylla.replication)).await?;
    let copier =
        ScyllaCopier::new(db).with_layout(chat_migrate::projection::Layout { steps_by_session: cli.steps_by_session });

    match cli.command {
        Command::Seed { .. }
        | Command::Adopt { .. }
        | Command::Schema { .. }
        | Command::Rehearse { .. }
        | Command::Phase { .. } => {
            unreachable!("handled above")
        }
        Command::Backfill { shard, rate, max_live_p99, ranges, concurrency, restart, .. } => {
            let stop = stop_on_signals()?;
            let options = BackfillOptions {
                shard,
                rate,
                max_live_p99,
                ranges,
                session_concurrency: concurrency,
                restart,
                progress: if progress { chat_lab::progress_bar::sink() } else { ProgressSink::default() },
                stop,
                ..BackfillOptions::default()
            };
            let report = backfill(&pg, &copier, &options).await?;
            println!(
                "backfill of keyspace `{}`, shard {}/{}: {} of {} ranges were already done{}\n\
                 copied {} sessions ({} relational rows) as {} ScyllaDB rows in {} requests, {:.1} s, {:.0} rows/s",
                scylla.keyspace,
                shard.index,
                shard.count,
                report.ranges_already_done,
                report.ranges,
                if report.resumed { " (resumed from checkpoints)" } else { "" },
                report.sessions,
                report.relational_rows,
                report.scylla_rows,
                report.requests,
                report.elapsed.as_secs_f64(),
                report.rows_per_second()
            );
            if report.stopped {
                println!("stopped on request after saving every range's checkpoint: run it again to resume");
            }
            if let Some(throttle) = report.throttle {
                println!(
                    "throttle: target p99 {} ms for live reads; {} probe reads, p99 {:.1} ms; slowed down {} times in {} \
                     decisions{}",
                    throttle.target.as_millis(),
                    throttle.probes,
                    throttle.probe_p99.as_secs_f64() * 1e3,
                    throttle.slowdowns,
                    throttle.decisions,
                    throttle.lowest_limit.map_or(String::new(), |lowest| format!(", to {lowest:.0} rows/s at the lowest"))
                );
            }
        }
        Command::Relay { until_empty, to_postgres: true, retry_dead_letters } => {
            let relay = PostgresRelay::new(
                ConversationStore::new(copier.database().clone()).with_steps_by_session(cli.steps_by_session),
                pg.clone(),
            );
            if retry_dead_letters {
                println!("recorded {} dead letter(s) again", relay.retry_dead_letters().await?);
            }
            if until_empty {
                let (report, depth) = relay.drain(None).await?;
                println!("relay to PostgreSQL: copied {} changes, {depth} waiting", report.copied);
            } else {
                let stop = stop_on_signals()?;
                let measured = relay.clone();
                measure_while_serving(cli.metrics_addr.is_some(), move || {
                    let relay = measured.clone();
                    async move {
                        let _ = relay.depth().await;
                    }
                });
                let handle = relay.spawn();
                tracing::info!("relay to PostgreSQL running; SIGTERM or Ctrl-C stops it");
                stop.stopped().await;
                let report = handle.stop().await;
                println!("relay to PostgreSQL: copied {} changes, {} failed attempts", report.copied, report.failed);
            }
        }
        Command::Relay { until_empty, to_postgres: false, .. } => {
            let relay = ScyllaRelay::new(pg.clone(), copier, RelayConfig::default());
            if until_empty {
                let (report, lag) = relay.drain(None).await?;
                println!(
                    "relay: copied {} changes, {} failed, outbox depth now {}",
                    report.copied, report.failed, lag.depth
                );
            } else {
                let stop = stop_on_signals()?;
                let measured = relay.clone();
                measure_while_serving(cli.metrics_addr.is_some(), move || {
                    let relay = measured.clone();
                    async move {
                        let _ = relay.lag().await;
                    }
                });
                let handle = relay.spawn();
                tracing::info!("relay running; SIGTERM or Ctrl-C stops it");
                stop.stopped().await;
                let report = handle.stop().await;
                println!("relay: copied {} changes, {} failed attempts", report.copied, report.failed);
            }
        }
        Command::Verify { selection } => {
            let mut options = ScanOptions::new(selection.selection());
            if progress {
                options.progress = chat_lab::progress_bar::sink();
            }
            let report = scan(&pg, &copier, &options, false).await?;
            println!("{}", report.summary());
            if report.divergences() > 0 {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Repair { selection, rate, every } => {
            let mut options = ScanOptions::new(selection.selection());
            if progress && every.is_none() {
                options.progress = chat_lab::progress_bar::sink();
            }
            options.rate = rate;
            // A single pass stopped half-way would exit 0 with sessions unchecked: only the
            // repeating repair, a service, stops on a signal.
            if every.is_some() {
                options.stop = stop_on_signals()?;
            }
            loop {
                let pass_started = Utc::now();
                let report = scan(&pg, &copier, &options, true).await?;
                println!(
                    "{}\nrepaired {} sessions: {} rows rewritten, {} removed",
                    report.summary(),
                    report.divergent_sessions.len(),
                    report.repaired.rows_rewritten,
                    report.repaired.rows_removed
                );
                let Some(seconds) = every.filter(|_| !report.stopped) else { break };
                // Later passes look only at what changed since the previous one began.
                if let Selection::ChangedSince(_) = options.selection {
                    options.selection = Selection::ChangedSince(pass_started);
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(seconds)) => {}
                    _ = options.stop.stopped() => break,
                }
            }
        }
        Command::Status => unreachable!("handled before connecting to ScyllaDB"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `chat-migrate status`: PostgreSQL's side first, then ScyllaDB's; when ScyllaDB does not
/// answer (when status is needed most), PostgreSQL's side is still shown, and exit code 3 says so.
async fn status(cli: &Cli, pg: &PgStore) -> Result<ExitCode, MigrateError> {
    let scylla = scylla_config(cli)?;
    println!("{}", chat_migrate::shared_phase::read(pg).await?);
    let (sessions, turns, steps) = pg.row_counts().await?;
    println!("PostgreSQL schema `{}`: {sessions} sessions, {turns} turns, {steps} steps", cli.postgres_schema);
    let lag = pg.outbox_lag().await?;
    println!(
        "outbox: {} changes waiting for ScyllaDB, oldest {}",
        lag.depth,
        lag.oldest_age.map_or("-".to_owned(), |age| format!("{:.1} s old", age.as_secs_f64()))
    );
    let client = pg.client().await?;
    let row = client
        .query_typed_one(
            "SELECT count(*), count(*) FILTER (WHERE done), coalesce(sum(sessions), 0)::int8,
                    coalesce(sum(rows), 0)::int8
             FROM backfill_ranges WHERE keyspace = $1",
            typed![&scylla.keyspace],
        )
        .await
        .map_err(|source| conversation_store::StoreError::Relational {
            action: "reading backfill progress".into(),
            source: Box::new(source),
        })?;
    let (ranges, done, copied, rows): (i64, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
    if ranges == 0 {
        println!("backfill into `{}`: not started", scylla.keyspace);
    } else {
        println!(
            "backfill into `{}`: {done} of {ranges} ranges done, {copied} sessions ({rows} ScyllaDB rows) copied",
            scylla.keyspace
        );
    }
    let depth = match Database::connect(&scylla).await {
        Ok(db) => {
            let relay =
                PostgresRelay::new(ConversationStore::new(db).with_steps_by_session(cli.steps_by_session), pg.clone());
            relay.depth().await
        }
        Err(error) => Err(error.into()),
    };
    let dead_letters = chat_migrate::relay::to_postgres::dead_letters(pg).await?;
    let to_postgres = match depth {
        Ok(depth) => depth.to_string(),
        Err(error) => {
            println!(
                "pg_outbox (scylla-primary): ScyllaDB is unreachable ({error}); {dead_letters} changes refused by \
                 PostgreSQL (relay_dead_letters)"
            );
            return Ok(ExitCode::from(3));
        }
    };
    println!(
        "pg_outbox (scylla-primary): {to_postgres} changes waiting for PostgreSQL, {dead_letters} refused by it \
         (relay_dead_letters)"
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `measure` every [`MEASURE_EVERY`] in the background, while the command serves metrics.
fn measure_while_serving<F, Fut>(serving: bool, mut measure: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    if !serving {
        return;
    }
    tokio::spawn(async move {
        loop {
            measure().await;
            tokio::time::sleep(MEASURE_EVERY).await;
        }
    });
}

/// Heeds SIGTERM and SIGINT from now on (see [`signals`]).
fn stop_on_signals() -> Result<chat_migrate::StopSignal, MigrateError> {
    signals::stop_on_signals().map_err(|error| MigrateError::InvalidInput(format!("cannot handle signals: {error}")))
}

/// The ScyllaDB connection of the command line's flags and environment.
fn scylla_config(cli: &Cli) -> Result<ConnectionConfig, MigrateError> {
    let mut scylla = ConnectionConfig::from_env("chat")?;
    if let Some(uri) = &cli.scylla_uri {
        scylla.contact_points = uri.split(',').map(|point| point.trim().to_owned()).collect();
    }
    if let Some(keyspace) = &cli.keyspace {
        scylla.keyspace = keyspace.clone();
    }
    Ok(scylla)
}

/// `chat-migrate phase`: shows or moves the shared phase. ScyllaDB is needed only to leave
/// scylla-primary; when it does not answer, the rest still works.
async fn phase(cli: &Cli, pg: &PgStore, action: Option<&PhaseAction>) -> Result<ExitCode, MigrateError> {
    use chat_migrate::shared_phase;
    let scylla = scylla_config(cli)?;
    let to_postgres = match Database::connect(&scylla).await {
        Ok(db) => {
            Some(PostgresRelay::new(ConversationStore::new(db).with_steps_by_session(cli.steps_by_session), pg.clone()))
        }
        Err(error) => {
            eprintln!("ScyllaDB is unreachable ({error}); showing PostgreSQL's side");
            None
        }
    };
    match action {
        None => {
            let shared = shared_phase::read(pg).await?;
            println!("{shared}");
            let instances = shared_phase::instances(pg).await?;
            if instances.is_empty() {
                println!("instances: none follows the shared phase");
            }
            for instance in &instances {
                println!(
                    "instance {}: epoch {} ({}), last heard {:.1} s ago{}",
                    instance.instance,
                    instance.epoch,
                    instance.phase,
                    instance.silent_for.as_secs_f64(),
                    if instance.is_live() { "" } else { " (silent: crashed, or cut off from PostgreSQL?)" }
                );
            }
            let here = shared.routing.phase;
            let neighbours = chat_migrate::Phase::ALL.into_iter().filter(|to| *to != here && here.can_move_to(*to));
            for to in neighbours {
                let conditions =
                    shared_phase::preconditions(pg, &scylla.keyspace, here, to, to_postgres.as_ref()).await?;
                println!("to {to}:{}", if conditions.is_empty() { " no preconditions" } else { "" });
                for condition in conditions {
                    println!("  {condition}");
                }
            }
        }
        Some(PhaseAction::Forget { instance }) => {
            if shared_phase::forget(pg, instance).await? {
                println!("forgot instance {instance}");
            } else {
                return Err(MigrateError::InvalidInput(format!("no instance `{instance}` is registered")));
            }
        }
        Some(PhaseAction::Set { phase, shadow_share, scylla_read_percent, wait }) => {
            let target = chat_migrate::Routing::new(*phase)
                .with_shadow_share(*shadow_share)
                .with_scylla_read_percent(*scylla_read_percent);
            let options = chat_migrate::SetOptions {
                fleet_wait: Duration::from_secs(*wait),
                drain_wait: Duration::from_secs(*wait),
            };
            let change = shared_phase::set(pg, &scylla.keyspace, target, to_postgres.as_ref(), options).await?;
            println!("{} -> {}", change.from, change.to);
            if let Some(copied) = change.copied_to_postgres {
                println!("writes paused while the relay copied the last {copied} change(s) to PostgreSQL");
            }
            if !change.lagging.is_empty() {
                println!(
                    "not yet followed by {} instance(s): {}",
                    change.lagging.len(),
                    shared_phase::describe(&change.lagging)
                );
                return Ok(ExitCode::from(4));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn rehearse(
    cli: &Cli,
    quick: bool,
    node_dir: &std::path::Path,
    out: &std::path::Path,
    yes: bool,
    max_live_p99: Option<Duration>,
) -> Result<ExitCode, MigrateError> {
    use chat_lab::rehearsal::{rehearse, LoadRates, RehearsalConfig, REHEARSAL_NAME};
    let mut scylla = ConnectionConfig::from_env("chat")?;
    if let Some(uri) = &cli.scylla_uri {
        scylla.contact_points = uri.split(',').map(|point| point.trim().to_owned()).collect();
    }
    if !yes {
        let pg = PgStore::connect(&PgConfig::new(&cli.postgres, REHEARSAL_NAME)).await?;
        let schema_exists: bool = pg
            .client()
            .await?
            .query_typed_one("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", typed![&REHEARSAL_NAME])
            .await
            .map_err(|source| conversation_store::StoreError::Relational {
                action: "looking for the rehearsal's schema".into(),
                source: Box::new(source),
            })?
            .get(0);
        let db = Database::connect(&scylla).await?;
        let keyspace_exists = db
            .session()
            .query_unpaged(
                "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                (REHEARSAL_NAME,),
            )
            .await
            .map_err(|error| MigrateError::InvalidInput(format!("looking for the rehearsal's keyspace: {error}")))?
            .into_rows_result()
            .is_ok_and(|rows| rows.rows_num() > 0);
        if schema_exists || keyspace_exists {
            return Err(MigrateError::InvalidInput(format!(
                "the rehearsal drops and makes again PostgreSQL schema and ScyllaDB keyspace `{REHEARSAL_NAME}`, \
                 and {} exists here. Pass --yes to drop it",
                if schema_exists { "the schema" } else { "the keyspace" }
            )));
        }
    }
    let node = match local_cassandra::LocalNode::find(node_dir) {
        Ok(node) => Some(node),
        Err(why) => {
            tracing::warn!(%why, "no local node to freeze: the outage step is skipped");
            None
        }
    };
    let (scale, rates, step) = if quick {
        let rates = LoadRates { writes: 20.0, loads: 60.0, recent_sessions: 30.0, children: 30.0 };
        (chat_lab::dataset::Scale::QUICK, rates, Duration::from_secs(20))
    } else {
        let rates = LoadRates { writes: 50.0, loads: 150.0, recent_sessions: 75.0, children: 75.0 };
        (chat_lab::dataset::Scale::DEFAULT, rates, Duration::from_secs(60))
    };
    let config = RehearsalConfig {
        name: chat_lab::rehearsal::REHEARSAL_NAME.to_owned(),
        scale,
        seed: 42,
        rates,
        step,
        outage: Duration::from_secs(22),
        max_live_p99,
        postgres_url: cli.postgres.clone(),
        scylla,
        node,
        out_dir: out.to_owned(),
    };
    let outcome = rehearse(config).await?;
    println!("\n{}", chat_lab::rehearsal::summary(&outcome));
    println!("Report: {}\nPlot:   {}", outcome.report_path.display(), outcome.plot_path.display());
    println!("Total time: {:.0} s", outcome.total_time.as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// `adopt`: the pre-flight, then the SQL (`--dry-run`), the adoption, or its removal.
async fn adopt(pg: &PgStore, dry_run: bool, remove: bool) -> Result<ExitCode, MigrateError> {
    if remove {
        pg.remove_adoption().await?;
        println!(
            "removed the adoption's triggers and checks from schema `{}`; its columns and tables stay",
            pg.config().schema
        );
        return Ok(ExitCode::SUCCESS);
    }
    if dry_run {
        let (preflight, script) = pg.adoption_sql().await?;
        println!("{preflight}");
        if !preflight.problems.is_empty() {
            return Ok(ExitCode::from(2));
        }
        println!("{script}");
        return Ok(ExitCode::SUCCESS);
    }
    let started = std::time::Instant::now();
    let adoption = pg.adopt(|step| tracing::info!(step, "adopting")).await?;
    println!("{adoption}adopted schema `{}` in {:.1} s", pg.config().schema, started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// `schema apply|check`: both databases' tables.
async fn schema(cli: &Cli, pg: &PgStore, action: SchemaAction) -> Result<ExitCode, MigrateError> {
    let scylla = scylla_config(cli)?;
    match action {
        SchemaAction::Apply => {
            let applied = pg.apply_schema().await?;
            if applied.is_empty() {
                println!("PostgreSQL schema `{}`: every migration was applied already", cli.postgres_schema);
            } else {
                println!("PostgreSQL schema `{}`: applied {}", cli.postgres_schema, applied.join(", "));
            }
            let db = Database::connect(&scylla).await?;
            ensure_scylla_schema(&db, Some(&scylla.replication)).await?;
            println!("ScyllaDB keyspace `{}`: the conversation tables are in place", scylla.keyspace);
        }
        SchemaAction::Check => {
            pg.check_schema().await?;
            let adopted = if pg.is_adopted().await? { ", adopted (triggers installed)" } else { "" };
            println!("PostgreSQL schema `{}`: every migration applied{adopted}", cli.postgres_schema);
            let db = Database::connect(&scylla).await?;
            ensure_scylla_schema(&db, None).await?;
            println!("ScyllaDB keyspace `{}`: the conversation tables are as this build defines them", scylla.keyspace);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A number of milliseconds above 0 and at most an hour.
fn positive_millis(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(millis) if millis > 0.0 && millis <= 3_600_000.0 => Ok(Duration::from_secs_f64(millis / 1e3)),
        _ => Err(format!("`{text}` is not a number of milliseconds above 0 and at most an hour (3600000)")),
    }
}
