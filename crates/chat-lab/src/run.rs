//! The benchmark's run from start to end: the data set, the node's warm-up, every series, the
//! client's CPU, the ladder and saturation, the migration's costs, then the report and plots.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::data_set::{dataset_name, prepare_dataset};
use crate::driver::{closed_loop, open_loop, print_point};
use crate::model::{BenchConfig, BenchError, Pattern, System, P99_TARGET_MS};
use crate::outcome::{BenchOutcome, Series, SustainedRate};
use crate::rate_search::highest_load_rates;
use crate::saturation::load_at_saturation;
use crate::setup::ServerSetup;
use crate::sides::{warm_up_node, Sides};
use crate::{migration, plot, profile, read_path, report};

/// Runs the whole benchmark and writes the report and plots.
pub async fn run(config: BenchConfig) -> Result<BenchOutcome, BenchError> {
    let started = Instant::now();
    let dataset = prepare_dataset(&config).await?;
    let sides = Sides::open(&dataset, &config).await?;
    let keyspace = dataset_name(&config.scale);
    let setup = ServerSetup::read(&dataset.db, &keyspace, &dataset.pg, &config.node_dir).await;
    let targets = &dataset.targets;
    let max_concurrency = config.concurrencies.iter().copied().max().unwrap_or(1);
    warm_up_node(&sides, targets, &config).await;

    let mut series = Vec::new();
    for pattern in Pattern::ALL {
        for &system in pattern.systems() {
            let op = sides.operation(pattern, system, targets);
            let server = sides.server_cpu(system);
            let cost = read_path::measure(pattern, system, &op, &sides, &dataset.db, targets).await;
            println!(
                "{} on {}: {:.1} requests, {} server reads, {:.0} rows, {:.0} bytes per operation",
                pattern.title(),
                system.label(),
                cost.requests,
                cost.server_reads.map_or("n/a".to_owned(), |reads| format!("{reads:.1}")),
                cost.rows,
                cost.bytes
            );
            // The references only need the two points the client's CPU is compared at.
            let concurrencies =
                if system.is_reference() { vec![max_concurrency] } else { config.concurrencies.clone() };
            let mut closed = Vec::new();
            for concurrency in concurrencies {
                let measurement =
                    closed_loop(op.clone(), server, concurrency, config.warmup, config.point, config.seed).await;
                print_point(&format!("closed, {concurrency:>3} clients"), &measurement);
                closed.push((concurrency, measurement));
            }
            let mut open = Vec::new();
            if pattern != Pattern::LoadConversation && !system.is_reference() {
                for &rate in &config.open_rates {
                    let measurement =
                        open_loop(op.clone(), server, rate, config.warmup, config.point, config.seed).await;
                    print_point(&format!("open, {rate:>6.0}/s"), &measurement);
                    open.push(measurement);
                }
            }
            let moderate = if system.is_scylla() {
                let measurement =
                    open_loop(op.clone(), server, config.moderate_rate, config.warmup, config.point, config.seed).await;
                print_point(&format!("open, {:>6.0}/s (client CPU)", config.moderate_rate), &measurement);
                Some(measurement)
            } else {
                None
            };
            series.push(Series { pattern, system, cost, closed, open, moderate });
        }
    }

    let mut cpu = Vec::new();
    for measured in &series {
        let (pattern, system) = (measured.pattern, measured.system);
        let Some(reference) = system.reference() else { continue };
        println!("Client CPU: {} on {} against {}", pattern.title(), system.label(), reference.label());
        let (ours, theirs) = (sides.operation(pattern, system, targets), sides.operation(pattern, reference, targets));
        let requests = measured.cost.requests;
        cpu.push(
            read_path::compare_cpu(pattern, system, reference, &ours, &theirs, requests, max_concurrency, &config)
                .await,
        );
    }

    let profiles = if config.profile {
        let mut profiles = Vec::new();
        for system in [System::Scylla, System::ScyllaTwoReads] {
            let op = sides.operation(Pattern::LoadConversation, system, targets);
            println!("Profiling the client: load conversation on {}, {max_concurrency} clients", system.label());
            profiles.push(profile::record(system, &op, max_concurrency, &config).await);
        }
        profiles
    } else {
        Vec::new()
    };

    let ladder_systems = [System::Scylla, System::ScyllaTwoReads, System::Postgres, System::PostgresParentJoin];
    println!("Load conversation: highest open-loop rate with p99 <= {P99_TARGET_MS} ms, the systems side by side at each rate");
    let mut sustained = Vec::new();
    let found = highest_load_rates(&sides, &ladder_systems, targets, &config).await;
    for (system, found) in ladder_systems.into_iter().zip(found) {
        if let Some(series) =
            series.iter_mut().find(|series| series.pattern == Pattern::LoadConversation && series.system == system)
        {
            // The ladder's points are this pattern's open-loop measurements.
            series.open = found.tried;
        }
        sustained.push(SustainedRate { system, rate_per_second: found.rate_per_second, rounds: found.rounds });
    }
    println!("Load conversation at saturation, {max_concurrency} clients, the systems side by side in rounds");
    let saturation = load_at_saturation(&sides, &ladder_systems, targets, max_concurrency, &config).await;

    let migration = if config.migration {
        println!("Migration: insert ceiling, backfill, dual-write cost");
        let counts = &dataset.counts;
        let rows = 2 * counts.sessions + 3 * counts.turns + counts.steps;
        Some(migration::measure(&config, &dataset.pg, rows as u64).await?)
    } else {
        None
    };

    std::fs::create_dir_all(&config.out_dir)
        .map_err(|error| BenchError::Other(format!("cannot create {}: {error}", config.out_dir.display())))?;
    let plots = plot::write_plots(&config.out_dir, &series).map_err(BenchError::Other)?;
    let mut outcome = BenchOutcome {
        config,
        setup,
        counts: dataset.counts,
        loaded: dataset.loaded,
        load_time: dataset.postgres_load_time + dataset.scylla_load_time,
        series,
        sustained,
        saturation,
        migration,
        profiles,
        cpu,
        total_time: Duration::ZERO,
        report_path: PathBuf::new(),
        plots,
    };
    outcome.total_time = started.elapsed();
    outcome.report_path = outcome.config.out_dir.join("report.md");
    std::fs::write(&outcome.report_path, report::markdown(&outcome))
        .map_err(|error| BenchError::Other(format!("cannot write {}: {error}", outcome.report_path.display())))?;
    Ok(outcome)
}
