//! `cargo xtask test`: everything CI checks, in the order that fails fastest, with the live tests
//! against a real node. A node this command starts is stopped again, pass or fail. On the local
//! databases, what an earlier killed run left is swept first, and leftovers of this run fail it.
//! `cargo xtask test --faults`: the fault suite on the local 3-node cluster instead.

use crate::cluster::Layout;
use crate::{cluster, db, leftovers, postgres};

#[derive(clap::Args)]
pub struct Flags {
    /// Run the fault suite (nodes killed under load) on a local 3-node cluster instead:
    /// `cargo xtask cluster up`, the tests one at a time, then `cluster down`.
    #[arg(long)]
    faults: bool,
}

pub fn run(flags: &Flags) -> Result<(), String> {
    if flags.faults {
        return faults();
    }
    let static_checks: [(&str, &[&str]); 4] = [
        ("format", &["fmt", "--all", "--check"]),
        ("schema files", &["run", "--quiet", "--package", "xtask", "--", "gen-cql", "--check"]),
        ("clippy", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
        // The library crates' API docs: broken links and bad examples fail the run.
        (
            "docs",
            &[
                "doc",
                "--no-deps",
                "--package",
                "scylla-table",
                "--package",
                "scylla-table-schema",
                "--package",
                "scylla-table-derive",
                "--config",
                "build.rustdocflags=[\"-D\", \"warnings\"]",
            ],
        ),
    ];
    for (name, args) in static_checks {
        cargo(name, args)?;
    }
    // Build the tests before starting the node, so the node does not wait on the compiler.
    cargo("build tests", &["test", "--workspace", "--no-run"])?;
    // The command line's own binary, which a live test runs as an operator does.
    // With the workspace's features, as the tests were built: only the binary itself is compiled.
    cargo("build chat-migrate", &["build", "--workspace", "--bin", "chat-migrate"])?;
    println!("==> databases");
    let started = db::up()?;
    let postgres_started = match postgres::up() {
        Ok(started) => started,
        Err(error) => {
            stop(started == db::Started::Now, false)?;
            return Err(error);
        }
    };
    let result = tests_leaving_nothing_behind();
    stop(started == db::Started::Now, postgres_started)?;
    result?;
    println!("==> all checks passed");
    Ok(())
}

/// The tests; on the local databases, which belong to this checkout (a cluster `SCYLLA_URI`
/// points at is not ours), first drops what a killed earlier run left, and afterwards fails if
/// this run left anything.
fn tests_leaving_nothing_behind() -> Result<(), String> {
    let local = std::env::var_os("SCYLLA_URI").is_none_or(|uri| uri.is_empty());
    if local {
        leftovers::sweep()?;
    }
    cargo("tests", &["test", "--workspace"])?;
    if local {
        leftovers::check()?;
    }
    Ok(())
}

/// The fault suite: its tests are ignored in the normal run because they kill nodes. The relay
/// toward PostgreSQL is among them, so the local PostgreSQL server runs too. The datacenter tests
/// (`datacenters::`) run last, on the two-datacenter layout of the same three addresses.
fn faults() -> Result<(), String> {
    // `--workspace`, as `cargo xtask test` builds: the same features, so nothing is built again.
    cargo("build fault tests", &["test", "--workspace", "--test", "faults", "--no-run"])?;
    println!("==> 3-node cluster and PostgreSQL");
    let already_up = cluster::is_up(Layout::OneDatacenter);
    cluster::run(&cluster::Action::Up { dcs: 1 })?;
    let postgres_started = postgres::up()?;
    // The tests inject faults through this very binary (`cluster kill N` and so on).
    let xtask = std::env::current_exe().map_err(|error| format!("cannot find the xtask binary: {error}"))?;
    std::env::set_var("XTASK_BIN", xtask);
    let test = |filter: &str| {
        cargo(
            "fault tests",
            &["test", "--workspace", "--test", "faults", "--", "--ignored", "--test-threads=1", "--nocapture", filter],
        )
    };
    let one_datacenter = test("--skip=datacenters::");
    println!("==> the same 3 nodes as two datacenters: dc1 of nodes 1 and 2, dc2 of node 3");
    let two_datacenters = cluster::run(&cluster::Action::Up { dcs: 2 }).and_then(|()| test("datacenters::"));
    // Every step of the cleanup runs, whatever failed before it; the tests' failures come first.
    println!("==> stopping the two-datacenter cluster");
    let down = cluster::run(&cluster::Action::Down);
    let back = if already_up {
        println!("==> starting the one-datacenter cluster again, as it was before this run");
        cluster::run(&cluster::Action::Up { dcs: 1 })
    } else {
        Ok(())
    };
    let stopped = stop(false, postgres_started);
    one_datacenter?;
    two_datacenters?;
    down?;
    back?;
    stopped?;
    println!("==> the fault suite passed");
    Ok(())
}

/// Stops what this run started, and nothing else.
fn stop(cassandra: bool, postgres: bool) -> Result<(), String> {
    if cassandra {
        println!("==> stopping the Cassandra node this run started");
        db::down()?;
    }
    if postgres {
        println!("==> stopping the PostgreSQL server this run started");
        postgres::down()?;
    }
    Ok(())
}

fn cargo(name: &str, args: &[&str]) -> Result<(), String> {
    println!("==> {name}: cargo {}", args.join(" "));
    let status = crate::cargo_command().args(args).status().map_err(|error| format!("cannot run cargo: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed (cargo {})", args.join(" ")))
    }
}
