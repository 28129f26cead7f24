//! `cargo xtask demo`: starts the local node (unless `SCYLLA_URI` names a cluster) and runs the
//! demo, `examples/demo.rs`: a conversation tree written and read back with the three read
//! patterns.

use crate::db;

pub fn run() -> Result<(), String> {
    if db::scylla_uri().is_none() {
        db::up()?;
    }
    // Built with the workspace's features, as `cargo xtask test` builds, so nothing is built twice.
    let status = crate::cargo_command()
        .args(["build", "--quiet", "--workspace", "--example", "demo"])
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err("building the demo failed (see above)".to_owned());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"));
    let demo = target.join("debug").join("examples").join("demo");
    let status = std::process::Command::new(&demo)
        .status()
        .map_err(|error| format!("cannot run {}: {error}", demo.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err("the demo failed (see above)".to_owned())
    }
}
