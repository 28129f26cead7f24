//! Where the client's CPU goes: `perf record` (Debian's `linux-perf`) sampling this process while
//! it loads conversations at saturation, summarized as the top functions and as shares per
//! component (the driver, the async runtime, allocation, the kernel's network stack, this project).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cpu_time::ServerCpu;
use crate::driver::{closed_loop, Operation};
use crate::model::{BenchConfig, System};

/// Samples per second per CPU: enough for a stable top list in a few seconds.
const SAMPLE_FREQUENCY: &str = "999";

/// Top functions kept for the report.
const TOP_FRAMES: usize = 15;

/// One function's share of the samples.
#[derive(Debug, Clone)]
pub struct Frame {
    pub percent: f64,
    /// `[k]` kernel or `[.]` user space, as perf marks it.
    pub kernel: bool,
    pub object: String,
    pub symbol: String,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub system: System,
    pub clients: usize,
    pub duration: Duration,
    pub throughput: f64,
    pub top: Vec<Frame>,
    /// Shares per component, largest first.
    pub components: Vec<(&'static str, f64)>,
    /// Why there is no profile, when there is none.
    pub note: Option<String>,
    pub data_file: Option<PathBuf>,
}

/// Runs `operation` at `clients` for the config's point (twice over, for samples) under `perf record`.
pub async fn record(system: System, operation: &Operation, clients: usize, config: &BenchConfig) -> Profile {
    let duration = config.point * 2;
    let mut profile = Profile {
        system,
        clients,
        duration,
        throughput: 0.0,
        top: Vec::new(),
        components: Vec::new(),
        note: None,
        data_file: None,
    };
    if let Err(error) = std::fs::create_dir_all(&config.out_dir) {
        profile.note = Some(format!("cannot create {}: {error}", config.out_dir.display()));
        return profile;
    }
    let data_file = config.out_dir.join(format!("perf-{}.data", slug(system)));
    let perf = Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-F", SAMPLE_FREQUENCY, "-p", &std::process::id().to_string(), "-o"])
        .arg(&data_file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let perf = match perf {
        Ok(child) => child,
        Err(error) => {
            profile.note = Some(format!(
                "`perf` could not start ({error}); install it with `apt-get install linux-perf` to get this profile"
            ));
            return profile;
        }
    };
    // perf needs a moment to attach before the samples that matter.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let measurement =
        closed_loop(operation.clone(), &ServerCpu::default(), clients, config.warmup, duration, config.seed).await;
    profile.throughput = measurement.throughput();
    // SIGINT makes perf write its data file and exit.
    let _ = Command::new("kill").args(["-INT", &perf.id().to_string()]).status();
    let output = match perf.wait_with_output() {
        Ok(output) => output,
        Err(error) => {
            profile.note = Some(format!("perf record failed: {error}"));
            return profile;
        }
    };
    if !data_file.exists() {
        profile.note = Some(format!(
            "perf record wrote no data ({}); is /proc/sys/kernel/perf_event_paranoid too strict for this user?",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
        return profile;
    }
    match Command::new("perf")
        .args(["report", "--stdio", "--no-children", "--sort", "dso,symbol", "--percent-limit", "0.05", "-i"])
        .arg(&data_file)
        .stderr(Stdio::null())
        .output()
    {
        Ok(report) => {
            let frames = parse_report(&String::from_utf8_lossy(&report.stdout));
            profile.components = components(&frames);
            profile.top = frames.into_iter().take(TOP_FRAMES).collect();
            if profile.top.is_empty() {
                profile.note = Some("perf report found no samples".to_owned());
            }
        }
        Err(error) => profile.note = Some(format!("perf report failed: {error}")),
    }
    profile.data_file = Some(data_file);
    profile
}

fn slug(system: System) -> &'static str {
    match system {
        System::ScyllaTwoReads => "two-reads",
        _ => "one-plus-n",
    }
}

/// The sample lines of `perf report --stdio --sort dso,symbol`: `  12.34%  object  [.] symbol`.
fn parse_report(text: &str) -> Vec<Frame> {
    let mut frames: Vec<Frame> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let line = line.trim();
            let (percent, rest) = line.split_once('%')?;
            let percent: f64 = percent.trim().parse().ok()?;
            let rest = rest.trim_start();
            let (object, rest) = rest.split_once(char::is_whitespace)?;
            let rest = rest.trim_start();
            let kernel = rest.starts_with("[k]");
            // perf pads the symbol column and may print placeholder columns after it; a symbol
            // never holds two spaces in a row.
            let symbol = rest.get(3..).unwrap_or("").trim_start().split("  ").next().unwrap_or("").to_owned();
            Some(Frame { percent, kernel, object: object.to_owned(), symbol })
        })
        .collect();
    frames.sort_by(|a, b| b.percent.total_cmp(&a.percent));
    frames
}

/// The component a function belongs to, by where it lives and the crate its name starts with.
fn component(frame: &Frame) -> &'static str {
    if frame.kernel {
        return "kernel: system calls, TCP, scheduling";
    }
    let symbol = frame.symbol.trim_start_matches('<');
    let crate_name = symbol.split("::").next().unwrap_or("");
    let object = frame.object.as_str();
    if object.starts_with("libc") || object.starts_with("ld-linux") {
        if ["malloc", "free", "realloc", "calloc", "_int_", "cfree", "tcache"].iter().any(|name| symbol.contains(name))
        {
            return "allocation (libc malloc/free)";
        }
        return "libc: copies and other";
    }
    match crate_name {
        "scylla" | "scylla_cql" | "scylla_cql_core" => "scylla driver",
        "tokio" | "mio" | "futures_util" | "futures_core" | "futures_channel" => "async runtime (tokio, futures)",
        "scylla_table" | "conversation_store" | "chat_lab" | "chat_dataset" => "this project and the benchmark",
        "hdrhistogram" => "benchmark: latency histograms",
        "alloc" | "core" | "std" | "hashbrown" | "bytes" | "chrono" | "uuid" => "Rust std and small crates",
        _ if symbol.starts_with("__rust") || symbol.contains("malloc") || symbol.contains("free") => {
            "allocation (libc malloc/free)"
        }
        _ => "other",
    }
}

fn components(frames: &[Frame]) -> Vec<(&'static str, f64)> {
    let mut shares: Vec<(&'static str, f64)> = Vec::new();
    for frame in frames {
        let name = component(frame);
        match shares.iter_mut().find(|(existing, _)| *existing == name) {
            Some((_, share)) => *share += frame.percent,
            None => shares.push((name, frame.percent)),
        }
    }
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "# Samples: 12K of event 'cpu-clock'\n#\n# Overhead  Shared Object  Symbol\n\
        # ........  .............  ......\n#\n\
        \x20   12.50%  [kernel.kallsyms]  [k] tcp_sendmsg_locked          -     -   \n\
        \x20    8.25%  chat-bench         [.] scylla_cql::frame::response::result::deser_rows\n\
        \x20    3.00%  libc.so.6          [.] _int_malloc\n\
        \x20    1.00%  chat-bench         [.] <tokio::runtime::task::Task as Drop>::drop\n";

    #[test]
    fn a_report_is_read_into_frames_and_components() {
        let frames = parse_report(REPORT);
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0].symbol, "tcp_sendmsg_locked");
        assert!(frames[0].kernel);
        assert_eq!(frames[1].object, "chat-bench");
        let components = components(&frames);
        assert_eq!(components[0], ("kernel: system calls, TCP, scheduling", 12.5));
        assert_eq!(components[1], ("scylla driver", 8.25));
        assert!(components.contains(&("allocation (libc malloc/free)", 3.0)));
        assert!(components.contains(&("async runtime (tokio, futures)", 1.0)));
    }
}
