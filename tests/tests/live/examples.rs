//! The example an application team copies to start, run as they would run it.

use std::process::Command;

use tests::live::{example_binary, TestKeyspace};

#[tokio::test]
async fn the_own_tables_example_applies_writes_updates_slices_and_reads_back_its_tables() {
    let keyspace = TestKeyspace::new("own_tables_example").await;
    let output = Command::new(example_binary("own_tables"))
        .env("SCYLLA_KEYSPACE", &keyspace.config.keyspace)
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));

    let expected = [
        format!("schema of keyspace {} applied and validated", keyspace.config.keyspace),
        "newest two: T-45, T-20".to_owned(),
        "opened after 09:10, oldest first: T-20, T-45".to_owned(),
        "T-45 Normal \"Ticket opened at 09:45\" tags=[\"email\"] fields={\"plan\": \"pro\"} reporter=Ana \
         note=Some(\"Payments incident at 09:20\")"
            .to_owned(),
        "T-20 Urgent \"Checkout is down\" tags=[\"email\", \"outage\"] fields={\"plan\": \"pro\", \"region\": \"eu\"} \
         reporter=Ana note=Some(\"Payments incident at 09:20\")"
            .to_owned(),
        "T-5 Low \"Ticket opened at 09:05\" tags=[\"email\"] fields={\"plan\": \"pro\"} reporter=Ana \
         note=Some(\"Payments incident at 09:20\")"
            .to_owned(),
        "counted: opened 3, urgent 1".to_owned(),
    ];
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, expected, "{stdout}");
    keyspace.drop().await;
}

#[tokio::test]
async fn a_teams_own_xtask_writes_and_checks_its_schema_folder_and_migrates_its_keyspace() {
    let keyspace = TestKeyspace::new("own_xtask_example").await;
    let dir = std::env::temp_dir().join(format!("own_xtask_schema_{}", std::process::id()));
    let xtask = |args: &[&str]| {
        Command::new(example_binary("own_xtask"))
            .args(args)
            .env("SCYLLA_KEYSPACE", &keyspace.config.keyspace)
            .output()
            .expect("the example runs")
    };
    let text = |output: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    };
    let folder = dir.to_str().expect("a UTF-8 temp path");

    let written = xtask(&["gen-cql", folder]);
    assert!(written.status.success(), "{}", text(&written));
    let ticket_file = std::fs::read_to_string(dir.join("tickets_by_day.cql")).expect("the table's file is written");
    let type_at = ticket_file.find("CREATE TYPE IF NOT EXISTS contact").expect("the type is in the table's file");
    let table_at = ticket_file.find("CREATE TABLE IF NOT EXISTS tickets_by_day").expect("and the table");
    assert!(type_at < table_at, "the type comes first:\n{ticket_file}");
    let checked = xtask(&["gen-cql", "--check", folder]);
    assert!(checked.status.success(), "{}", text(&checked));
    std::fs::write(dir.join("ticket_counts.cql"), "-- edited by hand\n").unwrap();
    let stale = xtask(&["gen-cql", "--check", folder]);
    assert!(!stale.status.success(), "a stale folder fails the check");
    assert!(text(&stale).contains("`schema/ticket_counts.cql` is not up to date"), "{}", text(&stale));
    std::fs::remove_dir_all(&dir).unwrap();

    let planned = xtask(&["migrate", "--dry-run"]);
    assert!(planned.status.success(), "{}", text(&planned));
    let plan = text(&planned);
    let ks = &keyspace.config.keyspace;
    let steps: Vec<&str> = plan.lines().filter(|line| line.starts_with("apply")).collect();
    assert_eq!(
        steps,
        [
            format!("apply   create type {ks}.contact"),
            format!("apply   create table {ks}.tickets_by_day"),
            format!("apply   create table {ks}.ticket_counts"),
        ],
        "{plan}"
    );
    let migrated = xtask(&["migrate"]);
    assert!(migrated.status.success(), "{}", text(&migrated));
    let again = xtask(&["migrate", "--dry-run"]);
    assert!(text(&again).contains("nothing to do"), "{}", text(&again));
    keyspace.drop().await;
}
