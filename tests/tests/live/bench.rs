//! The benchmark runs end to end on tiny data against both live stores and writes its report and
//! plots. Its numbers are not checked: timings belong to `cargo xtask bench`, not to tests.

use chat_bench::dataset::Scale;
use chat_bench::BenchConfig;
use scylla_table::ConnectionConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_runs_on_tiny_data_and_writes_its_report() {
    let out = std::env::temp_dir().join(format!("chat-bench-test-{}", std::process::id()));
    let scylla = ConnectionConfig::from_env("bench").expect("SCYLLA_* variables are valid");
    let mut config = BenchConfig::tiny(scylla, tests::live::postgres_connection(), out.clone());
    config.reload = true;
    let outcome = chat_bench::run(config).await.expect("the benchmark runs against both stores");

    assert_eq!(outcome.config.scale, Scale::TINY);
    assert!(outcome.loaded);
    assert_eq!(outcome.series.len(), 8, "3 patterns on 2 systems, plus the two-read and the parent-join loads");
    for series in &outcome.series {
        assert_eq!(series.closed.len(), 2, "{:?} {:?}", series.pattern, series.system);
        for (_, measurement) in &series.closed {
            assert!(measurement.operations() > 0, "{:?} {:?} ran", series.pattern, series.system);
            assert_eq!(measurement.errors, 0, "{:?}", measurement.first_error);
        }
        assert!(!series.open.is_empty());
        assert!(series.rows_per_request > 0.0, "{:?} {:?} returns rows", series.pattern, series.system);
    }
    let report = std::fs::read_to_string(&outcome.report_path).expect("report.md is written");
    for needle in ["| Load conversation | 50-500 ms | 5-20 ms |", "| User history |", "| Thread navigation |", "p99.9"]
    {
        assert!(report.contains(needle), "the report has `{needle}`");
    }
    let migration = outcome.migration.as_ref().expect("the migration is measured by default");
    let rows = 2 * outcome.counts.sessions + 3 * outcome.counts.turns + outcome.counts.steps;
    assert_eq!(migration.ceiling.rows, rows as u64, "the insert ceiling writes every row of the data set once");
    assert_eq!(migration.backfill.rows, rows as u64, "the backfill copies every row of the data set once");
    assert!(migration.backfill.requests < migration.backfill.rows, "the backfill batches rows of one partition");
    assert_eq!(migration.dual_write.len(), 2, "one client and many");
    for point in &migration.dual_write {
        for measurement in [&point.postgres_only, &point.dual_write] {
            assert!(measurement.operations() > 0);
            assert_eq!(measurement.errors, 0, "{:?}", measurement.first_error);
        }
    }
    assert_eq!(migration.dual_write_outbox_left, 0, "with the node up, every inline copy lands");
    assert!(report.contains("## What the migration costs"), "the report has the migration section");
    assert_eq!(outcome.plots.len(), 3);
    for plot in &outcome.plots {
        let bytes = std::fs::read(plot).expect("the plot is written");
        assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", plot.display());
    }
    std::fs::remove_dir_all(&out).ok();

    // The data set's keyspace and schema are kept between benchmark runs; a test drops them.
    let db = scylla_table::Database::connect(&outcome.config.scylla).await.unwrap();
    db.drop_keyspace("bench_tiny").await.expect("the bench keyspace drops");
    let pg = conversation_pg::PgStore::connect(&conversation_pg::PgConfig::new(
        outcome.config.postgres.clone(),
        "bench_tiny",
    ))
    .await
    .unwrap();
    pg.drop_schema().await.expect("the bench schema drops");
}
