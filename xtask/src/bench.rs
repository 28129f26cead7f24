//! `cargo xtask bench [--quick] [--reload] [--no-migration] [--no-profile] [--sessions N,...]`:
//! starts both databases, builds the benchmark in release mode and runs it. The report goes to
//! `target/bench/`.

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
}

pub fn run(flags: &Flags) -> Result<(), String> {
    db::up()?;
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
