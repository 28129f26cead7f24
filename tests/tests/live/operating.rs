//! The long-running commands as an operator runs them under systemd or Kubernetes: they answer
//! a Prometheus scrape while they work (`--metrics-addr`), write JSON logs when asked, and stop
//! cleanly on SIGTERM: the work in flight finishes, checkpoints are saved, the summary is
//! printed, the exit code is 0, and nothing copied is lost.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chat_dataset::Scale;
use chat_migrate::monitoring::METRICS;
use chat_migrate::{ensure_scylla_schema, ScanOptions, ScyllaCopier, Selection};
use conversation_store::ConversationApi;
use local_cassandra::{signal, Signal};
use tests::live::{example_binary, postgres_connection, TestKeyspace, TestSchema};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The binary `cargo test --workspace` built beside this test, started on the test's schema and
/// keyspace.
fn chat_migrate(schema: &TestSchema, keyspace: &TestKeyspace) -> Command {
    let exe = std::env::current_exe().expect("the test knows where it runs");
    let path: PathBuf = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>").join("chat-migrate");
    assert!(path.exists(), "{} is missing: build it with `cargo build -p chat-migrate-cli`", path.display());
    let mut command = Command::new(path);
    for var in ["POSTGRES_URL", "POSTGRES_SCHEMA", "SCYLLA_KEYSPACE", "STEPS_BY_SESSION", "LOG_FORMAT", "METRICS_ADDR"]
    {
        command.env_remove(var);
    }
    command.args([
        "--quiet",
        "--postgres",
        &postgres_connection(),
        "--postgres-schema",
        &schema.store.config().schema,
        "--keyspace",
        &keyspace.config.keyspace,
    ]);
    command
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port").port()
}

/// The exposition text of `/metrics`, or `None` while nothing answers.
async fn scrape(port: u16) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await.ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.ok()?;
    reply.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

/// Scrapes until `ready` holds for the text, or panics after `within`.
async fn scrape_until(port: u16, within: Duration, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Some(text) = scrape(port).await.filter(|text| ready(text)) {
            return text;
        }
        assert!(Instant::now() < deadline, "no scrape of port {port} showed what was awaited within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The value of the sample of metric `name` with exactly these labels, in any order, if any.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<String> = labels.iter().map(|(key, value)| format!("{key}=\"{value}\"")).collect();
    wanted.sort();
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, mut found) = match series.split_once('{') {
            Some((metric, rest)) => {
                (metric, rest.strip_suffix('}')?.split(',').map(str::to_owned).collect::<Vec<String>>())
            }
            None => (series, Vec::new()),
        };
        found.sort();
        (metric == name && found == wanted).then(|| value.parse().ok()).flatten()
    })
}

/// Sends SIGTERM and waits for the process to end, at most a minute.
fn terminate(mut child: Child) -> Output {
    signal(child.id(), Signal::SIGTERM).expect("the command is running");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("the command can be waited for").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the command did not stop within a minute of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("its output can be read")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Sessions whose copy the backfill's checkpoints count, and ranges not done yet.
async fn checkpoints(schema: &TestSchema, keyspace: &str) -> (i64, i64) {
    let client = schema.store.client().await.unwrap();
    let row = client
        .query_one(
            "SELECT coalesce(sum(sessions), 0)::int8, count(*) FILTER (WHERE NOT done) FROM backfill_ranges
             WHERE keyspace = $1",
            &[&keyspace],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_serves_its_metrics_and_stops_on_sigterm_at_a_checkpoint_it_resumes_from() {
    let schema = TestSchema::new("sigterm_backfill").await;
    let keyspace = TestKeyspace::new("sigterm_backfill").await;
    let ks = keyspace.config.keyspace.clone();
    chat_lab::seed::seed(&schema.store, &Scale::sized(300), 7, false).await.expect("seeds");
    let port = free_port();
    // Slow enough (a few thousand rows of some 20,000) to be stopped in the middle.
    let backfill = chat_migrate(&schema, &keyspace)
        .args(["--metrics-addr", &format!("127.0.0.1:{port}"), "--log-format", "json"])
        .args(["backfill", "--apply-schema", "--ranges", "8", "--rate", "1500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chat-migrate starts");

    let scraped = scrape_until(port, Duration::from_secs(60), |text| {
        sample(text, "chat_migrate_backfill_rows_total", &[]).is_some_and(|rows| rows > 0.0)
    })
    .await;
    assert_eq!(sample(&scraped, "chat_migrate_backfill_ranges", &[]), Some(8.0), "{scraped}");
    assert_eq!(sample(&scraped, "chat_migrate_phase", &[("phase", "postgres")]), Some(1.0), "{scraped}");
    assert!(sample(&scraped, "chat_migrate_backfill_eta_seconds", &[]).is_some_and(|eta| eta > 0.0), "{scraped}");
    assert!(scraped.contains("# HELP chat_migrate_backfill_rows_total"), "descriptions are exported: {scraped}");
    let stopped = terminate(backfill);

    assert_eq!(stopped.status.code(), Some(0), "{}", text(&stopped));
    let stdout = String::from_utf8_lossy(&stopped.stdout);
    assert!(stdout.contains("stopped on request"), "{stdout}");
    let (copied, undone) = checkpoints(&schema, &ks).await;
    assert!(copied > 0 && undone > 0, "stopped in the middle: {copied} sessions checkpointed, {undone} ranges undone");
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    let logs: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
    assert!(!logs.is_empty(), "the backfill logs what it does");
    for line in &logs {
        let parsed: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(parsed.get("level").is_some() && parsed.get("message").is_some(), "{line}");
    }
    assert!(stderr.contains("SIGTERM"), "the stop says why: {stderr}");

    let resumed = chat_migrate(&schema, &keyspace).arg("backfill").output().expect("chat-migrate runs");
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(text(&resumed).contains("resumed from checkpoints"), "{}", text(&resumed));
    assert_eq!(checkpoints(&schema, &ks).await, (300, 0), "every session copied once the second run is through");
    let copier = ScyllaCopier::new(keyspace.db.clone());
    let verified = chat_migrate::scan(&schema.store, &copier, &ScanOptions::new(Selection::All), false).await.unwrap();
    assert_eq!((verified.sessions, verified.divergences()), (300, 0), "{}", verified.summary());

    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_serves_every_family_and_stops_on_sigterm_with_its_summary() {
    let schema = TestSchema::new("sigterm_relay").await;
    let keyspace = TestKeyspace::new("sigterm_relay").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.expect("the tables apply");
    // Changes recorded and not copied: the relay's work.
    let writer = schema.store.clone().with_outbox(true);
    let mut sessions = Vec::new();
    for n in 0..20 {
        let session = writer.create_session("relay-sigterm", &format!("session {n}")).await.unwrap();
        let id = session.session_uid.clone();
        writer.append_human_turn("relay-sigterm", &id, None, "copied by the relay?", None).await.unwrap();
        sessions.push(id);
    }
    let port = free_port();
    let relay = chat_migrate(&schema, &keyspace)
        .args(["--metrics-addr", &format!("127.0.0.1:{port}"), "relay"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chat-migrate starts");

    // Per session: the session (1), a root turn and the session's active root (2).
    let scraped = scrape_until(port, Duration::from_secs(60), |text| {
        let copied = [("to", "scylla"), ("outcome", "copied")];
        sample(text, "chat_migrate_relay_entries_total", &copied) == Some(60.0)
            && sample(text, "chat_migrate_scylla_outbox_depth", &[]) == Some(0.0)
    })
    .await;
    // Every family is described, whether or not this process has recorded it yet.
    for metric in METRICS {
        assert!(scraped.contains(&format!("# HELP {} ", metric.name)) || !scraped.contains(metric.name), "{scraped}");
    }
    for family in ["chat_migrate_scylla_outbox_oldest_age_seconds", "chat_migrate_scylla_outbox_backing_off"] {
        assert_eq!(sample(&scraped, family, &[]), Some(0.0), "{family}: {scraped}");
    }
    let stopped = terminate(relay);

    assert_eq!(stopped.status.code(), Some(0), "{}", text(&stopped));
    assert!(String::from_utf8_lossy(&stopped.stdout).contains("relay: copied 60 changes"), "{}", text(&stopped));
    let copier = ScyllaCopier::new(keyspace.db.clone());
    let verified = chat_migrate::scan(&schema.store, &copier, &ScanOptions::new(Selection::Sessions(sessions)), false)
        .await
        .unwrap();
    assert_eq!(verified.divergences(), 0, "{}", verified.summary());

    keyspace.drop().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitored_example_serves_the_stores_metrics_beside_its_own() {
    let schema = TestSchema::new("monitored_example").await;
    let keyspace = TestKeyspace::new("monitored_example").await;
    let port = free_port();
    let output = Command::new(example_binary("monitored"))
        .env("POSTGRES_URL", postgres_connection())
        .env("POSTGRES_SCHEMA", &schema.store.config().schema)
        .env("SCYLLA_KEYSPACE", &keyspace.config.keyspace)
        .env("METRICS_ADDR", format!("127.0.0.1:{port}"))
        .output()
        .expect("the example runs");

    assert!(output.status.success(), "{}", text(&output));
    let scraped: String =
        String::from_utf8_lossy(&output.stdout).lines().map(|line| format!("{}\n", line.trim_start())).collect();
    assert_eq!(sample(&scraped, "chat_migrate_phase", &[("phase", "dual-write")]), Some(1.0), "{scraped}");
    // Five sessions, each created, asked and answered in dual-write: one inline copy per write.
    assert_eq!(sample(&scraped, "chat_migrate_inline_copies_total", &[("outcome", "copied")]), Some(15.0), "{scraped}");
    assert_eq!(sample(&scraped, "chat_migrate_breaker_state", &[("breaker", "inline copies")]), Some(0.0), "{scraped}");

    keyspace.drop().await;
    schema.drop().await;
}
