//! `cargo xtask test`: everything CI checks, in the order that fails fastest, with the live tests
//! against a real node. A node this command starts is stopped again, pass or fail.

use crate::{db, postgres};

pub fn run() -> Result<(), String> {
    let static_checks: [(&str, &[&str]); 3] = [
        ("format", &["fmt", "--all", "--check"]),
        ("schema files", &["run", "--quiet", "--package", "xtask", "--", "gen-cql", "--check"]),
        ("clippy", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
    ];
    for (name, args) in static_checks {
        cargo(name, args)?;
    }
    // Build the tests before starting the node, so the node does not wait on the compiler.
    cargo("build tests", &["test", "--workspace", "--no-run"])?;
    println!("==> databases");
    let started = db::up()?;
    let postgres_started = match postgres::up() {
        Ok(started) => started,
        Err(error) => {
            stop(started == db::Started::Now, false)?;
            return Err(error);
        }
    };
    let result = cargo("tests", &["test", "--workspace"]);
    stop(started == db::Started::Now, postgres_started)?;
    result?;
    println!("==> all checks passed");
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
