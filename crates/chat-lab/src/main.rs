//! `chat-bench`: run through `cargo xtask bench`, which starts the databases and builds this in
//! release mode.

use std::path::PathBuf;
use std::process::ExitCode;

use chat_lab::priority::{raise_client_priority, ClientPriority};
use chat_lab::{report, BenchConfig};
use clap::Parser;
use scylla_table::ConnectionConfig;

/// The conversation platform's read patterns on ScyllaDB and on PostgreSQL, side by side, and
/// what the migration costs.
#[derive(Parser)]
#[command(
    version,
    after_help = "Examples:\n  cargo xtask bench                 # default data set (10K sessions), about 35 minutes\n  \
                  cargo xtask bench --quick         # 1K sessions, a few minutes\n  \
                  cargo xtask bench --sessions 10000,100000   # cost as the data grows: scale.md and scale.png\n  \
                  chat-bench --tiny --postgres 'host=127.0.0.1 port=54329 user=postgres dbname=chat' --out /tmp/bench\n\n\
                  ScyllaDB is SCYLLA_URI (default 127.0.0.1:9042); the keyspaces are bench_<data set> and scratch ones \
                  the run drops."
)]
struct Args {
    /// About 1K sessions and 3 s per point: a few minutes.
    #[arg(long, conflicts_with = "tiny")]
    quick: bool,
    /// A few hundred sessions and sub-second points: proves the pipeline, measures nothing.
    #[arg(long)]
    tiny: bool,
    /// Load both stores again even if they hold this data set.
    #[arg(long)]
    reload: bool,
    /// Skip the migration measurements (insert ceiling, backfill, dual-write cost).
    #[arg(long)]
    no_migration: bool,
    /// Skip profiling the client with `perf`.
    #[arg(long)]
    no_profile: bool,
    /// Skip measuring dual-write with the local node frozen (SIGSTOP for a few seconds).
    #[arg(long)]
    no_freeze: bool,
    /// Instead of the full report, run the patterns at each of these data-set sizes (sessions,
    /// comma-separated) and write scale.md and scale.png: cost as the data grows.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["quick", "tiny"])]
    sessions: Vec<usize>,
    /// How many times the load-conversation rate ladder and closed loop at saturation run, all
    /// systems side by side; each system's figure is the median over the rounds [default: 3, or 1
    /// with --quick or --tiny]
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    ladder_rounds: Option<u16>,
    /// The local node's folder, for its CPU time and, in the scale run, its size on disk.
    #[arg(long, default_value = "target/cassandra")]
    node_dir: PathBuf,
    /// PostgreSQL connection (`host=... port=...` or a postgres:// URL).
    #[arg(
        long,
        env = "POSTGRES_URL",
        hide_env_values = true,
        default_value = "host=127.0.0.1 port=54329 user=postgres dbname=chat"
    )]
    postgres: String,
    /// Where report.md and the plots go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Before the runtime starts its threads, which inherit the priority.
    let client_priority = raise_client_priority();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(args, client_priority)),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, client_priority: ClientPriority) -> ExitCode {
    let scylla = match ConnectionConfig::from_env("bench") {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = if args.tiny {
        BenchConfig::tiny(scylla, args.postgres, args.out)
    } else if args.quick {
        BenchConfig::quick(scylla, args.postgres, args.out)
    } else {
        BenchConfig::default_run(scylla, args.postgres, args.out)
    };
    config.reload = args.reload;
    config.migration = !args.no_migration;
    config.profile &= !args.no_profile;
    config.freeze_node &= !args.no_freeze;
    config.client_priority = client_priority;
    config.node_dir = args.node_dir;
    if let Some(rounds) = args.ladder_rounds {
        config.ladder_rounds = rounds.into();
    }
    if !args.sessions.is_empty() {
        return match chat_lab::scale::run(config, &args.sessions).await {
            Ok(outcome) => {
                println!("\nReport: {}", outcome.report_path.display());
                println!("Plot:   {}", outcome.plot_path.display());
                println!("Total time: {:.0} s", outcome.total_time.as_secs_f64());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    match chat_lab::run(config).await {
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
