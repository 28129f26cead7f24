//! The `chat-migrate` binary as an operator runs it: `adopt`, `schema apply|check`, the guard on
//! `seed`, `.env`, exit codes, and no password in anything it prints.

use std::path::PathBuf;
use std::process::{Command, Output};

use tests::app_sql::{app_conversation, APP_SCHEMA};
use tests::live::{postgres_connection, TestSchema};

/// The binary `cargo test --workspace` built beside this test.
fn chat_migrate() -> Command {
    let exe = std::env::current_exe().expect("the test knows where it runs");
    let path: PathBuf = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>").join("chat-migrate");
    assert!(path.exists(), "{} is missing: build it with `cargo build -p chat-migrate-cli`", path.display());
    let mut command = Command::new(path);
    // Only what each test sets: no .env of the workspace, no variables of the caller's shell.
    for var in ["POSTGRES_URL", "POSTGRES_SCHEMA", "SCYLLA_KEYSPACE", "STEPS_BY_SESSION"] {
        command.env_remove(var);
    }
    command.arg("--quiet");
    command
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_schema_and_seed_from_the_command_line() {
    let schema = TestSchema::empty("cli_adopt").await;
    let name = schema.store.config().schema.clone();
    let keyspace = format!("{name}_ks");
    let client = schema.store.client().await.unwrap();
    client.batch_execute(APP_SCHEMA).await.unwrap();
    client.batch_execute(&app_conversation("cli")).await.unwrap();
    let run = |args: &[&str]| {
        chat_migrate()
            .args(["--postgres", &postgres_connection(), "--postgres-schema", &name, "--keyspace", &keyspace])
            .args(args)
            .output()
            .expect("chat-migrate runs")
    };

    let dry_run = run(&["adopt", "--dry-run"]);
    assert!(dry_run.status.success(), "{}", text(&dry_run));
    assert!(text(&dry_run).contains("with sub-millisecond times") && text(&dry_run).contains("CREATE TRIGGER"));
    assert!(!schema.store.is_adopted().await.unwrap(), "a dry run changes nothing");
    let not_yet = run(&["schema", "check"]);
    assert_eq!(not_yet.status.code(), Some(2), "{}", text(&not_yet));

    let adopted = run(&["adopt"]);
    assert!(adopted.status.success(), "{}", text(&adopted));
    assert!(text(&adopted).contains("given a version"), "{}", text(&adopted));
    assert!(schema.store.is_adopted().await.unwrap());
    let again = run(&["adopt"]);
    assert!(again.status.success(), "adopt runs again: {}", text(&again));

    let applied = run(&["schema", "apply"]);
    assert!(applied.status.success(), "{}", text(&applied));
    let checked = run(&["schema", "check"]);
    assert!(checked.status.success() && text(&checked).contains("adopted (triggers installed)"), "{}", text(&checked));

    let refused = run(&["seed", "--sessions", "1"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("--yes"), "{}", text(&refused));
    let seeded = run(&["seed", "--sessions", "1", "--yes"]);
    assert!(seeded.status.success(), "{}", text(&seeded));

    // Settings from a .env file in the working directory.
    let dir = std::env::temp_dir().join(format!("{name}_env"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(".env"),
        format!("POSTGRES_URL=\"{}\"\nPOSTGRES_SCHEMA={name}\nSCYLLA_KEYSPACE={keyspace}\n", postgres_connection()),
    )
    .unwrap();
    let from_env_file = chat_migrate().current_dir(&dir).args(["schema", "check"]).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(from_env_file.status.success(), "{}", text(&from_env_file));
    assert!(text(&from_env_file).contains(&format!("schema `{name}`")), "{}", text(&from_env_file));

    let db =
        scylla_table::Database::connect(&scylla_table::ConnectionConfig::from_env(&keyspace).unwrap()).await.unwrap();
    db.drop_keyspace(&keyspace).await.unwrap();
    drop(client);
    schema.drop().await;
}

#[test]
fn a_password_in_postgres_url_shows_in_no_output_of_the_binary() {
    const SECRET: &str = "s3cret-Pa55";
    let unreachable = format!("postgres://app:{SECRET}@127.0.0.1:1/chat?sslmode=disable");
    let status = chat_migrate().env("POSTGRES_URL", &unreachable).arg("status").output().unwrap();
    assert_eq!(status.status.code(), Some(3), "unreachable: {}", text(&status));
    assert!(!text(&status).contains(SECRET), "{}", text(&status));
    let help = chat_migrate().env("POSTGRES_URL", &unreachable).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(!text(&help).contains(SECRET), "{}", text(&help));
    let malformed =
        chat_migrate().env("POSTGRES_URL", format!("host=db port=x password={SECRET}")).arg("status").output();
    let malformed = malformed.unwrap();
    assert_eq!(malformed.status.code(), Some(2), "bad input: {}", text(&malformed));
    assert!(!text(&malformed).contains(SECRET), "{}", text(&malformed));
}
