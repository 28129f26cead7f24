//! `cargo xtask rehearse [--quick]`: starts both databases, builds `chat-migrate` in release mode
//! and runs `chat-migrate rehearse` against them. The report goes to `target/rehearsal/`.

use crate::{db, postgres};

#[derive(clap::Args)]
pub struct Flags {
    /// 1K sessions and 20 s steps: about 5 minutes. Without it: 10K sessions and 60 s steps.
    #[arg(long)]
    quick: bool,
}

pub fn run(flags: &Flags) -> Result<(), String> {
    db::up()?;
    postgres::up()?;
    let root = crate::workspace_root();
    let status = crate::cargo_command()
        .args(["run", "--release", "--quiet", "--package", "chat-migrate", "--", "rehearse"])
        .args(flags.quick.then_some("--quick"))
        .arg("--postgres")
        .arg(postgres::connection_string())
        .arg("--node-dir")
        .arg(root.join("target").join("cassandra"))
        .arg("--out")
        .arg(root.join("target").join("rehearsal"))
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("the rehearsal failed (see above)".to_owned())
    }
}
