//! Cost as the data grows: the same patterns on data sets of several sizes, each loaded into both
//! stores, with the load times and what each store holds on disk. `cargo xtask bench --sessions
//! 10000,100000` runs it and writes `target/bench/scale.md` and `scale.png`.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::rehearsal::format_ms as ms;
use crate::storage::{measure_storage, mib, Storage, DESIGN_STORAGE_INCREASE, DESIGN_TABLES, LOOKUP_TABLES};
use local_cassandra::LocalNode;
use plotters::prelude::*;

use crate::data_set::prepare_dataset;
use crate::dataset::{Counts, Scale};
use crate::driver::print_point;
use crate::driver::{closed_loop, Measurement};
use crate::model::{BenchConfig, BenchError, Pattern, System, P99_TARGET_MS};
use crate::priority::ClientPriority;
use crate::rate_search::highest_load_rates;
use crate::sides::{warm_up_node, Sides};

/// The lowest rate of the scale run's rate ladder, when the config's ladder goes that high.
const SCALE_LADDER_START: f64 = 100.0;

/// One pattern on one system at one size.
pub struct SystemAtSize {
    pub pattern: Pattern,
    pub system: System,
    pub single_client: Measurement,
    pub saturated: Measurement,
    /// Load conversation only: the highest open-loop rate with p99 within the target.
    pub highest_rate: Option<f64>,
}

/// Everything measured at one data-set size.
pub struct SizePoint {
    pub scale: Scale,
    pub counts: Counts,
    pub loaded: bool,
    pub postgres_load_time: Duration,
    pub scylla_load_time: Duration,
    pub storage: Storage,
    pub systems: Vec<SystemAtSize>,
}

pub struct ScaleOutcome {
    pub sizes: Vec<SizePoint>,
    pub clients: usize,
    pub client_priority: ClientPriority,
    pub total_time: Duration,
    pub report_path: PathBuf,
    pub plot_path: PathBuf,
}

/// Runs the patterns at each size in `sessions`, with `base`'s points, clients and rate ladder.
pub async fn run(base: BenchConfig, sessions: &[usize]) -> Result<ScaleOutcome, BenchError> {
    let started = Instant::now();
    let clients = base.concurrencies.iter().copied().max().unwrap_or(1);
    let node = match LocalNode::find(&base.node_dir) {
        Ok(node) => Some(node),
        Err(why) => {
            println!("The node's size on disk is not measured: {why}");
            None
        }
    };
    let mut sizes = Vec::new();
    for &count in sessions {
        // The rates under a few hundred a second pass everywhere; the knee is what matters here.
        let ladder = base.load_rate_ladder.iter().copied().filter(|rate| *rate >= SCALE_LADDER_START).collect();
        let config = BenchConfig { scale: Scale::sized(count), load_rate_ladder: ladder, ..base.clone() };
        let dataset = prepare_dataset(&config).await?;
        let storage = measure_storage(&dataset.pg, &dataset.db, node.as_ref()).await;
        let sides = Sides::open(&dataset, &config).await?;
        warm_up_node(&sides, &dataset.targets, &config).await;
        let mut measured = Vec::new();
        for pattern in Pattern::ALL {
            for system in pattern.served_by() {
                let op = sides.operation(pattern, system, &dataset.targets);
                println!("{} sessions, {} on {}", count, pattern.title(), system.label());
                let server = sides.server_cpu(system);
                let single_client = closed_loop(op.clone(), server, 1, config.warmup, config.point, config.seed).await;
                print_point("closed,   1 client ", &single_client);
                let saturated =
                    closed_loop(op.clone(), server, clients, config.warmup, config.point, config.seed).await;
                print_point(&format!("closed, {clients:>3} clients"), &saturated);
                measured.push(SystemAtSize { pattern, system, single_client, saturated, highest_rate: None });
            }
        }
        println!("{count} sessions, load conversation: highest open-loop rate, the systems side by side at each rate");
        let loads: Vec<&mut SystemAtSize> =
            measured.iter_mut().filter(|at| at.pattern == Pattern::LoadConversation).collect();
        let systems: Vec<System> = loads.iter().map(|at| at.system).collect();
        let found = highest_load_rates(&sides, &systems, &dataset.targets, &config).await;
        for (at, found) in loads.into_iter().zip(found) {
            at.highest_rate = found.rate_per_second;
        }
        sizes.push(SizePoint {
            scale: config.scale,
            counts: dataset.counts,
            loaded: dataset.loaded,
            postgres_load_time: dataset.postgres_load_time,
            scylla_load_time: dataset.scylla_load_time,
            storage,
            systems: measured,
        });
    }
    std::fs::create_dir_all(&base.out_dir)
        .map_err(|error| BenchError::Other(format!("cannot create {}: {error}", base.out_dir.display())))?;
    let mut outcome = ScaleOutcome {
        sizes,
        clients,
        client_priority: base.client_priority,
        total_time: Duration::ZERO,
        report_path: base.out_dir.join("scale.md"),
        plot_path: base.out_dir.join("scale.png"),
    };
    plot(&outcome.plot_path, &outcome)
        .map_err(|error| BenchError::Other(format!("cannot draw the scale plot: {error}")))?;
    outcome.total_time = started.elapsed();
    std::fs::write(&outcome.report_path, markdown(&outcome, sessions))
        .map_err(|error| BenchError::Other(format!("cannot write {}: {error}", outcome.report_path.display())))?;
    Ok(outcome)
}

fn load_time(time: Duration, loaded: bool) -> String {
    match (loaded, time.is_zero()) {
        (true, _) => format!("{:.0} s", time.as_secs_f64()),
        (false, false) => format!("{:.0} s (an earlier run)", time.as_secs_f64()),
        (false, true) => "reused; not recorded".to_owned(),
    }
}

/// `scale.md`: sizes, load times and disk, then each pattern's latency and rates against size.
pub fn markdown(outcome: &ScaleOutcome, sessions: &[usize]) -> String {
    let mut out = String::new();
    let sizes: Vec<String> = sessions.iter().map(usize::to_string).collect();
    let _ = writeln!(out, "# Cost as the data grows\n");
    let _ = writeln!(
        out,
        "Generated by `cargo xtask bench --sessions {}` on {} in {:.0} s. Machine: {}. The client and both \
         servers share it; {}. Each size is the default data set's shape (a tenth as many accounts as sessions, log-normal turns and \
         steps), loaded into PostgreSQL by `chat-migrate seed` and copied to the node by `chat-migrate backfill`.\n",
        sizes.join(","),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        outcome.total_time.as_secs_f64(),
        crate::report::machine(),
        outcome.client_priority.describe()
    );
    let _ = writeln!(
        out,
        "| Sessions | Turns | Steps | PostgreSQL load | ScyllaDB backfill | PostgreSQL on disk | Node: design's four tables | Node: lookups | Node: steps_by_session | Design's four against PostgreSQL (design: {:+.0}%) | All node tables against PostgreSQL |",
        DESIGN_STORAGE_INCREASE * 100.0
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
    for size in &outcome.sizes {
        let storage = &size.storage;
        let design = storage.scylla_bytes_of(&DESIGN_TABLES);
        let lookups = storage.scylla_bytes_of(&LOOKUP_TABLES);
        let by_session = storage.scylla_bytes_of(&["steps_by_session"]);
        let against = |bytes: u64| {
            if bytes > 0 && storage.postgres_bytes > 0 {
                format!("{:+.0}%", (bytes as f64 / storage.postgres_bytes as f64 - 1.0) * 100.0)
            } else {
                format!("not measured ({})", storage.note.as_deref().unwrap_or("no sizes"))
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            size.counts.sessions,
            size.counts.turns,
            size.counts.steps,
            load_time(size.postgres_load_time, size.loaded),
            load_time(size.scylla_load_time, size.loaded),
            mib(storage.postgres_bytes),
            mib(design),
            mib(lookups),
            mib(by_session),
            against(design),
            against(design + lookups + by_session)
        );
    }
    let _ = writeln!(
        out,
        "\nThe node's sizes are after a flush, compressed (LZ4, the table default); PostgreSQL's are its four tables with their \
         indexes and TOAST.\n"
    );
    let _ = writeln!(out, "![p99 and highest rate against data size](scale.png)\n");
    let _ = writeln!(
        out,
        "| Pattern | System | Sessions | p50 / p99, 1 client (ms) | Throughput, {} clients | p99 at {} clients (ms) | Highest rate with p99 <= {P99_TARGET_MS:.0} ms |",
        outcome.clients, outcome.clients
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for pattern in Pattern::ALL {
        for system in pattern.served_by() {
            for size in &outcome.sizes {
                let Some(at) = size.systems.iter().find(|at| at.pattern == pattern && at.system == system) else {
                    continue;
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} / {} | {:.0}/s | {} | {} |",
                    pattern.title(),
                    system.label(),
                    size.counts.sessions,
                    ms(at.single_client.percentile_ms(50.0)),
                    ms(at.single_client.percentile_ms(99.0)),
                    at.saturated.throughput(),
                    ms(at.saturated.percentile_ms(99.0)),
                    match (pattern, at.highest_rate) {
                        (Pattern::LoadConversation, Some(rate)) => format!("{rate:.0}/s"),
                        (Pattern::LoadConversation, None) => "below the lowest rate tried".to_owned(),
                        _ => "-".to_owned(),
                    }
                );
            }
        }
    }
    out
}

/// Two panels against data size (log scale): load conversation's one-client p99, and its highest
/// rate with p99 within the target.
fn plot(path: &Path, outcome: &ScaleOutcome) -> Result<(), Box<dyn std::error::Error>> {
    crate::rehearsal::register_font()?;
    let root = BitMapBackend::new(path, (1200, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(600);
    let sessions: Vec<f64> = outcome.sizes.iter().map(|size| size.counts.sessions as f64).collect();
    let (min_x, max_x) =
        (sessions.iter().copied().fold(f64::MAX, f64::min) / 2.0, sessions.iter().copied().fold(1.0, f64::max) * 2.0);
    type Pick = fn(&SystemAtSize) -> Option<f64>;
    let panels: [(&DrawingArea<_, _>, &str, &str, Pick); 2] = [
        (&left, "Load conversation: p99, one client", "p99 (ms)", |at| Some(at.single_client.percentile_ms(99.0))),
        (&right, "Load conversation: highest rate, p99 <= 20 ms", "loads/s", |at| at.highest_rate),
    ];
    for (area, title, y_label, pick) in panels {
        let lines: Vec<(System, Vec<(f64, f64)>)> = Pattern::LoadConversation
            .served_by()
            .map(|system| {
                let points = outcome
                    .sizes
                    .iter()
                    .filter_map(|size| {
                        let at = size
                            .systems
                            .iter()
                            .find(|at| at.pattern == Pattern::LoadConversation && at.system == system)?;
                        Some((size.counts.sessions as f64, pick(at)?))
                    })
                    .collect();
                (system, points)
            })
            .collect();
        let max_y = lines.iter().flat_map(|(_, points)| points.iter().map(|(_, y)| *y)).fold(1.0, f64::max) * 1.3;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((min_x.max(1.0)..max_x).log_scale(), 0.0..max_y)?;
        chart
            .configure_mesh()
            .x_desc("sessions (log scale)")
            .y_desc(y_label)
            // A log axis labels every minor step by default; the sizes themselves are what matter.
            .x_labels(4)
            .x_label_formatter(&|sessions| format!("{}K", (sessions / 1000.0).round()))
            .label_style(("sans-serif", 12))
            .draw()?;
        for (system, points) in lines {
            let colour = crate::plot::colour(system);
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                .label(system.label())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
            chart.draw_series(points.iter().map(|point| Circle::new(*point, 4, colour.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .draw()?;
    }
    root.present()?;
    Ok(())
}
