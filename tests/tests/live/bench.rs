//! The benchmark runs end to end on tiny data against both live stores and writes its report and
//! plots. Its numbers are not checked: timings belong to `cargo xtask bench`, not to tests.

use chat_lab::dataset::Scale;
use chat_lab::{BenchConfig, Pattern, System};
use scylla_table::ConnectionConfig;
use tests::live::Leftovers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_runs_on_tiny_data_and_writes_its_report() {
    let out = std::env::temp_dir().join(format!("chat-bench-test-{}", std::process::id()));
    let scylla = ConnectionConfig::from_env("bench").expect("SCYLLA_* variables are valid");
    let mut config = BenchConfig::tiny(scylla.clone(), tests::live::postgres_connection(), out.clone());
    config.reload = true;
    config.node_dir = tests::local_node_dir();
    // The node's CPU is read only from a node this machine runs (not one SCYLLA_URI names).
    let node_is_local = local_cassandra::LocalNode::find(&config.node_dir).is_ok();
    let name = chat_lab::dataset_name(&Scale::TINY);
    let leftovers = Leftovers::default()
        .keyspace(&ConnectionConfig { keyspace: name.clone(), ..scylla })
        .schema(&conversation_pg::PgConfig::new(config.postgres.clone(), &name));
    let outcome = chat_lab::run(config).await.expect("the benchmark runs against both stores");

    assert_eq!(outcome.config.scale, Scale::TINY);
    assert!(outcome.loaded);
    assert_eq!(
        outcome.series.len(),
        12,
        "3 patterns on 3 systems (ScyllaDB, its raw-driver reference, PostgreSQL), plus the two-read load with its \
         reference and the parent-join load"
    );
    for series in &outcome.series {
        let (pattern, system) = (series.pattern, series.system);
        let expected_points = if system.is_reference() { 1 } else { 2 };
        assert_eq!(series.closed.len(), expected_points, "{pattern:?} {system:?}");
        for measurement in series.closed.iter().map(|(_, m)| m).chain(series.moderate.as_ref()) {
            assert!(measurement.operations() > 0, "{pattern:?} {system:?} ran");
            assert_eq!(measurement.errors, 0, "{:?}", measurement.first_error);
        }
        if node_is_local && system.is_scylla() && !system.is_reference() {
            for measurement in series.closed.iter().map(|(_, m)| m).chain(&series.open) {
                assert!(
                    measurement.server_cpu.is_some_and(|cpu| !cpu.is_zero()),
                    "{pattern:?} {system:?}: the node's CPU is read during each point"
                );
            }
        }
        assert_eq!(series.open.is_empty(), system.is_reference(), "{pattern:?} {system:?}: open-loop points");
        assert_eq!(series.moderate.is_some(), system.is_scylla(), "{pattern:?} {system:?}: the moderate-rate point");
        let cost = series.cost;
        assert!(cost.rows > 0.0 && cost.bytes > cost.rows, "{pattern:?} {system:?} returns rows: {cost:?}");
        let expected_requests = match (pattern, system) {
            (Pattern::LoadConversation, System::ScyllaTwoReads | System::RawDriverTwoReads) => 2.0,
            (Pattern::LoadConversation, System::Scylla | System::RawDriver) => cost.requests.max(2.0),
            _ => 1.0,
        };
        assert_eq!(cost.requests, expected_requests, "{pattern:?} {system:?}: requests per operation");
        if let Some(reads) = cost.server_reads {
            // The node counts one local read per single-partition request.
            assert!((reads - cost.requests).abs() < 0.5, "{pattern:?} {system:?}: {reads} server reads per op");
        }
    }
    let load = |system| {
        outcome.series.iter().find(|series| series.pattern == Pattern::LoadConversation && series.system == system)
    };
    let (one_plus_n, two_reads) = (load(System::Scylla).unwrap(), load(System::ScyllaTwoReads).unwrap());
    assert_eq!(one_plus_n.cost.rows, two_reads.cost.rows, "both load paths read the same rows");
    assert_eq!(outcome.cpu.len(), 4, "each ScyllaDB series with a raw-driver reference is compared with it");
    for comparison in &outcome.cpu {
        assert_eq!(comparison.saturated.len(), chat_lab::read_path::CPU_ROUNDS);
        assert_eq!(comparison.moderate.len(), chat_lab::read_path::CPU_ROUNDS);
        assert!(comparison.saturated_ratio().is_some_and(|ratio| ratio > 0.0), "{comparison:?}");
    }
    assert_eq!(outcome.saturation.len(), 4, "every system of the rate ladder is loaded at saturation too");
    for rounds in &outcome.saturation {
        assert_eq!(rounds.rounds.len(), outcome.config.ladder_rounds, "{:?}: one closed loop per round", rounds.system);
        assert!(rounds.throughput().is_some_and(|rate| rate > 0.0), "{:?} loaded conversations", rounds.system);
    }
    let report = std::fs::read_to_string(&outcome.report_path).expect("report.md is written");
    for needle in [
        "- **At saturation** (4 clients in closed loop",
        "| Load conversation | 50-500 ms | 5-20 ms |",
        "| Recent sessions |",
        "| Thread navigation |",
        "p99.9",
        "## The read path",
        "of the raw driver's CPU per request at saturation",
        "Server CPU per op (µs)",
    ] {
        assert!(report.contains(needle), "the report has `{needle}`");
    }
    if node_is_local {
        assert!(report.contains("**Where the cores go**"), "the report says what each server spent per load");
    }
    // The setup is read from the servers, not assumed.
    let setup = &outcome.setup;
    assert!(
        setup.cql_server.starts_with("Apache Cassandra ") || setup.cql_server.starts_with("ScyllaDB "),
        "{setup:?}"
    );
    assert!(setup.nodes >= 1 && setup.replication.contains("Strategy"), "{setup:?}");
    assert!(setup.postgres_version.chars().next().is_some_and(|first| first.is_ascii_digit()), "{setup:?}");
    assert!(setup.postgres_settings.iter().any(|(name, value)| *name == "fsync" && (value == "on" || value == "off")));
    assert_eq!(setup.node_heap.is_some(), node_is_local, "the heap of a node on this machine: {setup:?}");
    assert!(report.contains(&setup.cql_server) && report.contains(&setup.postgres_settings_text()), "{setup:?}");
    let migration = outcome.migration.as_ref().expect("the migration is measured by default");
    let rows = 2 * outcome.counts.sessions + 3 * outcome.counts.turns + outcome.counts.steps;
    assert_eq!(migration.ceiling.rows, rows as u64, "the insert ceiling writes every row of the data set once");
    assert_eq!(migration.backfill.rows, rows as u64, "the backfill copies every row of the data set once");
    assert!(migration.backfill.requests < migration.backfill.rows, "the backfill batches rows of one partition");
    // The tests share the node: a tiny run never freezes it.
    assert!(!outcome.config.freeze_node && migration.dual_write.iter().all(|point| !point.node_frozen));
    assert_eq!(migration.dual_write.len(), 2, "one client and many");
    for point in &migration.dual_write {
        for measurement in [&point.postgres_only, &point.dual_write] {
            assert!(measurement.operations() > 0);
            assert_eq!(measurement.errors, 0, "{:?}", measurement.first_error);
        }
    }
    assert_eq!(migration.dual_write_outbox_left, 0, "with the node up, every inline copy lands");
    let adoption = &migration.adoption;
    assert!(adoption.rows >= 10_000, "a database of relational rows is adopted");
    let filled: u64 = adoption.adoption.filled.iter().map(|(_, rows)| rows).sum();
    assert_eq!(filled, adoption.rows, "adopt versions every row it found");
    assert_eq!(adoption.inserts.len(), 2, "one client and many");
    for point in &adoption.inserts {
        for measurement in [&point.without_triggers, &point.postgres_phase, &point.dual_write_phase] {
            assert!(measurement.operations() > 0);
            assert_eq!(measurement.errors, 0, "{:?}", measurement.first_error);
        }
    }
    assert!(report.contains("## What the migration costs"), "the report has the migration section");
    assert!(report.contains("### Adopting a database"), "the report has the adoption's cost");
    assert_eq!(outcome.plots.len(), 3);
    for plot in &outcome.plots {
        let bytes = std::fs::read(plot).expect("the plot is written");
        assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", plot.display());
    }
    std::fs::remove_dir_all(&out).ok();

    // The data set's keyspace and schema are kept between benchmark runs; a test drops them.
    leftovers.done();
    let db = scylla_table::Database::connect(&outcome.config.scylla).await.unwrap();
    db.drop_keyspace(&name).await.expect("the bench keyspace drops");
    let pg = conversation_pg::PgStore::connect(&conversation_pg::PgConfig::new(outcome.config.postgres.clone(), &name))
        .await
        .unwrap();
    pg.drop_schema().await.expect("the bench schema drops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_run_measures_every_size_and_writes_its_table_and_plot() {
    let out = std::env::temp_dir().join(format!("chat-bench-scale-test-{}", std::process::id()));
    let scylla = ConnectionConfig::from_env("bench").expect("SCYLLA_* variables are valid");
    let mut config = BenchConfig::tiny(scylla.clone(), tests::live::postgres_connection(), out.clone());
    config.reload = true;
    config.node_dir = tests::local_node_dir();
    let sizes = [20, 40];
    let leftovers = sizes.iter().fold(Leftovers::default(), |leftovers, sessions| {
        let name = chat_lab::dataset_name(&Scale::sized(*sessions));
        leftovers
            .keyspace(&ConnectionConfig { keyspace: name.clone(), ..scylla.clone() })
            .schema(&conversation_pg::PgConfig::new(config.postgres.clone(), &name))
    });
    let outcome =
        chat_lab::scale::run(config.clone(), &sizes).await.expect("the scale run loads and measures each size");

    assert_eq!(outcome.sizes.len(), 2);
    for (size, sessions) in outcome.sizes.iter().zip(sizes) {
        assert_eq!(size.counts.sessions, sessions);
        assert!(size.loaded && size.counts.steps > size.counts.turns);
        assert_eq!(size.systems.len(), 8, "load conversation on four systems, the other patterns on two");
        for at in &size.systems {
            for measurement in [&at.single_client, &at.saturated] {
                assert!(measurement.operations() > 0, "{:?} on {:?} ran", at.pattern, at.system);
                assert_eq!(measurement.errors, 0, "{:?}", measurement.first_error);
            }
        }
        assert!(size.storage.postgres_bytes > 0, "PostgreSQL's size is measured: {:?}", size.storage.note);
        if tests::local_node().is_ok() {
            assert!(
                size.storage.scylla_bytes.get("steps_by_turn").is_some_and(|bytes| *bytes > 0),
                "the local node's tables are measured after a flush: {:?}",
                size.storage
            );
        }
    }
    let report = std::fs::read_to_string(&outcome.report_path).expect("scale.md is written");
    assert!(report.contains("cargo xtask bench --sessions 20,40"), "the report names its command");
    assert!(report.contains("| 20 |") && report.contains("| 40 |"), "one row per size:\n{report}");
    let plot = std::fs::read(&outcome.plot_path).expect("scale.png is written");
    assert!(plot.starts_with(b"\x89PNG"));
    std::fs::remove_dir_all(&out).ok();

    leftovers.done();
    let db = scylla_table::Database::connect(&scylla).await.unwrap();
    for sessions in sizes {
        let name = chat_lab::dataset_name(&Scale::sized(sessions));
        db.drop_keyspace(&name).await.expect("the size's keyspace drops");
        let pg = conversation_pg::PgStore::connect(&conversation_pg::PgConfig::new(config.postgres.clone(), &name))
            .await
            .unwrap();
        pg.drop_schema().await.expect("the size's schema drops");
    }
}
