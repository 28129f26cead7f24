//! `cargo xtask <command>`: the project's automation, one binary with subcommands.

mod bench;
mod db;
mod demo;
mod gen_cql;
mod migrate;
mod node_tls;
mod postgres;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  demo                write a sample conversation tree and run the three read patterns
  gen-cql [--check]   write schema/ from the table structs; --check fails if it is stale
  test                fmt check, schema freshness, clippy, and every test, the live ones
                      against the local Cassandra node and PostgreSQL (started if needed)
  db up|down|status   start, stop or show the local Cassandra node (127.0.0.1:9042) and
                      PostgreSQL server (127.0.0.1:54329, for the benchmark)
  bench [--quick] [--reload]
                      the three read patterns on both stores; writes target/bench/report.md
  migrate [--dry-run] [--allow-destructive]
                      apply (or print) the additive schema changes the code needs; uses
                      SCYLLA_URI and SCYLLA_KEYSPACE (default chat)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["gen-cql"] => gen_cql::run(gen_cql::Mode::Write),
        ["gen-cql", "--check"] => gen_cql::run(gen_cql::Mode::Check),
        ["test"] => test::run(),
        ["demo"] => demo::run(),
        ["db", "up"] => db::up().and_then(|_| postgres::up()).map(|_| ()),
        ["db", "down"] => db::down().and_then(|()| postgres::down()),
        ["db", "status"] => db::status().map(|()| postgres::status()),
        ["bench", flags @ ..] if flags.iter().all(|flag| ["--quick", "--reload"].contains(flag)) => bench::run(flags),
        ["migrate", flags @ ..] if flags.iter().all(|flag| ["--dry-run", "--allow-destructive"].contains(flag)) => {
            migrate::run(migrate::Options {
                dry_run: flags.contains(&"--dry-run"),
                allow_destructive: flags.contains(&"--allow-destructive"),
            })
        }
        ["help" | "--help" | "-h"] | [] => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(format!("unknown command `{}`\n\n{USAGE}", args.join(" "))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
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
