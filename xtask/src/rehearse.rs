//! `cargo xtask rehearse [--quick]`: starts both databases, builds `chat-migrate` in release mode
//! and runs `chat-migrate rehearse` against them. The report goes to `target/rehearsal/`.

use crate::{db, postgres};

#[derive(clap::Args)]
pub struct Flags {
    /// 1K sessions and 20 s steps: about 5 minutes. Without it: 10K sessions and 60 s steps.
    #[arg(long)]
    quick: bool,
    /// The live reads' p99 (milliseconds) the throttled backfill holds to; by default twice the
    /// p99 of the `dual-write` step before the backfills.
    #[arg(long, value_name = "MS")]
    max_live_p99: Option<String>,
}

pub fn run(flags: &Flags) -> Result<(), String> {
    db::up()?;
    postgres::up()?;
    let target = crate::workspace_root().join("target");
    let mut args: Vec<std::ffi::OsString> = vec!["rehearse".into()];
    if flags.quick {
        args.push("--quick".into());
    }
    if let Some(millis) = &flags.max_live_p99 {
        args.extend(["--max-live-p99".into(), millis.into()]);
    }
    // The local databases are this checkout's own: the rehearsal may drop what an earlier one left.
    if std::env::var_os("SCYLLA_URI").is_none_or(|uri| uri.is_empty()) {
        args.push("--yes".into());
    }
    args.extend([
        "--postgres".into(),
        postgres::connection_string().into(),
        "--node-dir".into(),
        target.join("cassandra").into(),
        "--out".into(),
        target.join("rehearsal").into(),
    ]);
    crate::cargo_run(&["--release", "--package", "chat-migrate-cli", "--bin", "chat-migrate"], args, "the rehearsal")
}
