//! `cargo xtask bench [--quick] [--reload]`: starts both databases, builds the benchmark in
//! release mode and runs it. The report goes to `target/bench/`.

use crate::{db, postgres};

pub fn run(flags: &[&str]) -> Result<(), String> {
    db::up()?;
    postgres::up()?;
    let out = crate::workspace_root().join("target").join("bench");
    let status = crate::cargo_command()
        .args(["run", "--release", "--quiet", "--package", "chat-bench", "--"])
        .args(flags)
        .arg("--postgres")
        .arg(postgres::connection_string())
        .arg("--out")
        .arg(&out)
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("the benchmark failed (see above)".to_owned())
    }
}
