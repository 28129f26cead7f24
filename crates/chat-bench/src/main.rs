//! `chat-bench [--quick] [--reload]`: run through `cargo xtask bench`, which starts the databases
//! and builds this in release mode.

use std::path::PathBuf;
use std::process::ExitCode;

use chat_bench::{report, BenchConfig};
use scylla_table::ConnectionConfig;

const USAGE: &str = "usage: chat-bench [--quick | --tiny] [--reload] --postgres <connection string> --out <dir>";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|arg| arg == flag).and_then(|index| args.get(index + 1)).cloned();
    let (Some(postgres), Some(out)) = (value("--postgres"), value("--out")) else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let scylla = match ConnectionConfig::from_env("bench") {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let out = PathBuf::from(out);
    let mut config = if args.iter().any(|arg| arg == "--tiny") {
        BenchConfig::tiny(scylla, postgres, out)
    } else if args.iter().any(|arg| arg == "--quick") {
        BenchConfig::quick(scylla, postgres, out)
    } else {
        BenchConfig::default_run(scylla, postgres, out)
    };
    config.reload = args.iter().any(|arg| arg == "--reload");
    match chat_bench::run(config).await {
        Ok(outcome) => {
            println!("\n{}\n", report::summary(&outcome));
            println!("Report: {}", outcome.report_path.display());
            for plot in &outcome.plots {
                println!("Plot:   {}", plot.display());
            }
            println!("Total time: {:.0} s", outcome.total_time.as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
