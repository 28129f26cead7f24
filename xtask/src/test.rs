//! `cargo xtask test`: everything CI checks, in the order that fails fastest, with the live tests
//! against a real node. A node this command starts is stopped again, pass or fail.

use std::process::Command;

use crate::db;

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
    println!("==> database");
    let started = db::up()?;
    let result = cargo("tests", &["test", "--workspace"]);
    if started == db::Started::Now {
        println!("==> stopping the node this run started");
        db::down()?;
    }
    result?;
    println!("==> all checks passed");
    Ok(())
}

fn cargo(name: &str, args: &[&str]) -> Result<(), String> {
    let program = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("==> {name}: cargo {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(crate::workspace_root())
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed (cargo {})", args.join(" ")))
    }
}
