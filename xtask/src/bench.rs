//! `cargo xtask bench [FLAGS]`: starts both databases, builds the benchmark (`chat-bench`, in
//! the lab crate) in release mode and runs it with FLAGS, which are the benchmark's own:
//! `cargo xtask bench --help` lists them. The report goes to `target/bench/` unless `--out` says
//! otherwise. `cargo xtask bench --mapper` runs the criterion benchmark of the row mapping
//! instead (`target/bench/mapper.md`).

use crate::{db, postgres};

#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct Flags {
    /// The benchmark's flags, passed on as they are (`--help` shows them), or `--mapper`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// The benchmark binary, built in release mode.
const CHAT_BENCH: [&str; 5] = ["--release", "--package", "chat-lab", "--bin", "chat-bench"];

pub fn run(flags: &Flags) -> Result<(), String> {
    let args = &flags.args;
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        crate::cargo_run(&CHAT_BENCH, ["--help"], "the benchmark's help")?;
        println!(
            "\nThrough cargo xtask, the local databases are started first, and --postgres and --out default to \
             them and to target/bench.\n`cargo xtask bench --mapper` runs the criterion benchmark of the row \
             mapping instead (target/bench/mapper.md)."
        );
        return Ok(());
    }
    db::up()?;
    if args.iter().any(|arg| arg == "--mapper") {
        if args.len() > 1 {
            return Err("--mapper takes no other flag".to_owned());
        }
        return mapper();
    }
    postgres::up()?;
    let mut forwarded: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    let given = |flag: &str| args.iter().any(|arg| arg == flag || arg.starts_with(&format!("{flag}=")));
    if !given("--postgres") {
        forwarded.extend(["--postgres".into(), postgres::connection_string().into()]);
    }
    if !given("--out") {
        forwarded.extend(["--out".into(), crate::workspace_root().join("target").join("bench").into()]);
    }
    crate::cargo_run(&CHAT_BENCH, forwarded, "the benchmark")
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
