//! `cargo xtask bench [--quick] [--reload] [--no-migration]`: starts both databases, builds the
//! benchmark in release mode and runs it. The report goes to `target/bench/`.

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
}

pub fn run(flags: &Flags) -> Result<(), String> {
    db::up()?;
    postgres::up()?;
    let out = crate::workspace_root().join("target").join("bench");
    let forwarded = [(flags.quick, "--quick"), (flags.reload, "--reload"), (flags.no_migration, "--no-migration")];
    let mut args: Vec<std::ffi::OsString> =
        forwarded.iter().filter(|(set, _)| *set).map(|(_, flag)| (*flag).into()).collect();
    args.extend(["--postgres".into(), postgres::connection_string().into(), "--out".into(), out.into()]);
    crate::run_release("chat-bench", args, "the benchmark")
}
