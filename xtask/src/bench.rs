//! `cargo xtask bench [--quick] [--reload] [--no-migration] [--no-profile] [--sessions N,...]`:
//! starts both databases, builds the benchmark in release mode and runs it. The report goes to
//! `target/bench/`. `cargo xtask bench --mapper` runs the criterion benchmark of the row mapping
//! instead (`target/bench/mapper.md`).

use crate::{db, postgres};

#[derive(clap::Args)]
pub struct Flags {
    /// About 1K sessions and 3 s per point: a few minutes.
    #[arg(long)]
    quick: bool,
    /// Load both stores again even if they hold this data set.
    #[arg(long)]
    reload: bool,
    /// Skip the migration measurements (insert ceiling, backfill, dual-write cost).
    #[arg(long)]
    no_migration: bool,
    /// Skip profiling the client with `perf`.
    #[arg(long)]
    no_profile: bool,
    /// Run the patterns at each of these data-set sizes (sessions, comma-separated) instead:
    /// cost as the data grows, in target/bench/scale.md and scale.png.
    #[arg(long, value_name = "N,...")]
    sessions: Option<String>,
    /// Run the mapper cost benchmark instead (criterion): generated row code against hand-written
    /// driver code, per row and end to end against the node; target/bench/mapper.md.
    #[arg(long, conflicts_with_all = ["quick", "reload", "no_migration", "no_profile", "sessions"])]
    mapper: bool,
}

pub fn run(flags: &Flags) -> Result<(), String> {
    db::up()?;
    if flags.mapper {
        return mapper();
    }
    postgres::up()?;
    let out = crate::workspace_root().join("target").join("bench");
    let forwarded = [
        (flags.quick, "--quick"),
        (flags.reload, "--reload"),
        (flags.no_migration, "--no-migration"),
        (flags.no_profile, "--no-profile"),
    ];
    let mut args: Vec<std::ffi::OsString> =
        forwarded.iter().filter(|(set, _)| *set).map(|(_, flag)| (*flag).into()).collect();
    if let Some(sessions) = &flags.sessions {
        args.extend(["--sessions".into(), sessions.into()]);
    }
    args.extend(["--postgres".into(), postgres::connection_string().into(), "--out".into(), out.into()]);
    crate::run_release("chat-bench", args, "the benchmark")
}

fn mapper() -> Result<(), String> {
    let status = crate::cargo_command()
        .args(["bench", "--quiet", "--package", "mapper-bench", "--bench", "mapper"])
        .env("CRITERION_HOME", crate::workspace_root().join("target").join("criterion"))
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("the mapper benchmark failed (see above)".to_owned())
    }
}
