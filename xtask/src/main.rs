//! `cargo xtask <command>`: the project's automation, one binary with subcommands.

mod bench;
mod cassandra;
mod cluster;
mod db;
mod demo;
mod gen_cql;
mod leftovers;
mod migrate;
mod node_tls;
mod postgres;
mod postgres_tls;
mod rehearse;
mod snapshot;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The project's automation.
#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    after_help = "Examples:\n  cargo xtask demo          # the main job: a conversation tree, written and read\n  \
                  cargo xtask test          # everything CI checks\n  \
                  cargo xtask bench --quick # reads and migration costs on 1K sessions\n  \
                  cargo xtask rehearse --quick # every migration phase under load, about 5 minutes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a sample conversation tree and run the three read patterns.
    Demo,
    /// Write schema/ from the table structs.
    GenCql {
        /// Write nothing; fail if schema/ is stale.
        #[arg(long)]
        check: bool,
    },
    /// Format check, schema freshness, clippy, and every test, the live ones against the local
    /// Cassandra node and PostgreSQL (started if needed, and stopped again).
    Test(test::Flags),
    /// The local Cassandra node (127.0.0.1:9042) and PostgreSQL server (127.0.0.1:54329).
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// A local 3-node Cassandra cluster on 127.0.0.11-13 for the fault tests, and the faults.
    Cluster {
        #[command(subcommand)]
        action: cluster::Action,
    },
    /// The three read patterns on both stores, and the migration's costs, in target/bench/report.md;
    /// the flags are the benchmark's own (`cargo xtask bench --help`).
    Bench(bench::Flags),
    /// The whole migration on the benchmark's data set under a live load, with the node frozen
    /// for 22 s on the way; writes target/rehearsal/report.md and timeline.png.
    Rehearse(rehearse::Flags),
    /// Apply (or print) the additive schema changes the code needs; uses SCYLLA_URI and
    /// SCYLLA_KEYSPACE (default chat).
    Migrate {
        /// Print the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also drop columns and tables the code no longer has.
        #[arg(long)]
        allow_destructive: bool,
    },
}

#[derive(Subcommand)]
enum DbAction {
    /// Start both servers (fetching Cassandra from Maven Central the first time).
    Up,
    /// Stop both servers.
    Down,
    /// Show whether they run.
    Status,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::GenCql { check: false } => gen_cql::run(gen_cql::Mode::Write),
        Command::GenCql { check: true } => gen_cql::run(gen_cql::Mode::Check),
        Command::Test(flags) => test::run(&flags),
        Command::Demo => demo::run(),
        Command::Db { action: DbAction::Up } => db::up().and_then(|_| postgres::up()).map(|_| ()),
        Command::Db { action: DbAction::Down } => db::down().and_then(|()| postgres::down()),
        Command::Db { action: DbAction::Status } => db::status().map(|()| postgres::status()),
        Command::Cluster { action } => cluster::run(&action),
        Command::Bench(flags) => bench::run(&flags),
        Command::Rehearse(flags) => rehearse::run(&flags),
        Command::Migrate { dry_run, allow_destructive } => {
            migrate::run(migrate::Options { dry_run, allow_destructive })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `cargo run --quiet <target> -- <args>` in the workspace root; `target` names the package
/// and binary, and `--release` where it matters; `what` names it in the error when it fails.
fn cargo_run<I, S>(target: &[&str], args: I, what: &str) -> Result<(), String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let status = cargo_command()
        .args(["run", "--quiet"])
        .args(target)
        .arg("--")
        .args(args)
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed (see above)"))
    }
}

/// `cargo` (the one running xtask), to run in the workspace root.
fn cargo_command() -> std::process::Command {
    let mut command = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(workspace_root());
    command
}

/// The workspace root: the parent of this crate's folder.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(PathBuf::from).unwrap_or(manifest_dir)
}
