//! The demo that `cargo xtask demo` runs once the local node is up: writes a realistic
//! conversation tree and runs the design's three read patterns against it, printing results and
//! timings, then checks the store's invariants on what it wrote.
//!
//! Against another cluster: `SCYLLA_URI=host:9042 cargo run -p examples --example demo`.

use std::future::Future;
use std::time::{Duration, Instant};

use chat_migrate::audit::audit_sessions;
use chat_migrate::projection::Layout;
use conversation_store::sample::write_sample;
use conversation_store::{Conversation, ConversationStore, StoreResult, DEFAULT_PAGE_SIZE};
use scylla_table::{ConnectionConfig, Database};

type DemoResult<T> = Result<T, Box<dyn std::error::Error>>;

const ACCOUNT: &str = "demo-account";
/// Timed repeats of each read after the first; enough for a stable median on a quiet machine.
const REPEATS: usize = 50;

#[tokio::main]
async fn main() -> DemoResult<()> {
    let config = ConnectionConfig::from_env("chat")?;
    println!("Connecting to {} (keyspace `{}`)", config.contact_points.join(", "), config.keyspace);
    let store = ConversationStore::new(Database::connect(&config).await?);
    store.apply_schema(&config.replication).await?;
    println!("Schema applied and validated: 4 query tables + 2 lookup tables\n");

    let started = Instant::now();
    let sample = write_sample(&store, ACCOUNT).await?;
    println!(
        "Wrote {} sessions for `{ACCOUNT}` in {} (ids are deterministic: running the demo again rewrites the same rows)\n",
        sample.sessions.len(),
        millis(started.elapsed())
    );

    heading("1. Load a conversation", "turns_by_session, then steps_by_turn for every agent turn, concurrently");
    let (conversation, timing) = timed(|| store.load_conversation(ACCOUNT, &sample.trip_session)).await?;
    print_conversation(&conversation);
    println!("{timing}\n");

    heading("2. A user's recent conversations", "sessions_by_user, newest first, LIMIT 20");
    let (page, timing) = timed(|| store.recent_sessions(ACCOUNT, DEFAULT_PAGE_SIZE, None)).await?;
    for session in &page.sessions {
        println!(
            "  {}  {:<28} {}",
            session.created_at.format("%Y-%m-%d %H:%M:%S%.3f"),
            session.title,
            session.session_uid
        );
    }
    println!("{timing}\n");

    heading("3. Navigate branches", "turns_by_parent: the children of one turn, oldest first");
    let (children, timing) =
        timed(|| store.children(ACCOUNT, &sample.trip_session, Some(&sample.regenerated_prompt))).await?;
    println!("  children of {}:", sample.regenerated_prompt);
    for child in &children {
        println!("  - {} ({}, {})", child.turn_uid, child.turn_type, child.created_at.format("%H:%M:%S%.3f"));
    }
    println!("{timing}\n");

    // Every copy of every session read back and checked against the store's invariants.
    let report = audit_sessions(store.tables(), &sample.sessions, Layout::default()).await?;
    println!("Consistency check: {}", report.summary());
    for violation in &report.violations {
        println!("  - {violation}");
    }
    println!(
        "\nTimings are single-client wall times on this machine, not a benchmark. The node keeps running:\n\
         inspect the data with any CQL client on {} (keyspace `{}`), stop it with `cargo xtask db down`.",
        config.contact_points.join(", "),
        config.keyspace
    );
    Ok(())
}

fn heading(title: &str, how: &str) {
    println!("{title}\n  ({how})");
}

struct Timing {
    first: Duration,
    median: Duration,
    p95: Duration,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "  time: first call {}, then median {} and p95 {} over {REPEATS} repeats",
            millis(self.first),
            millis(self.median),
            millis(self.p95)
        )
    }
}

/// Runs `call` once for its result, then `REPEATS` more times for the timing.
async fn timed<T, F, Fut>(call: F) -> StoreResult<(T, Timing)>
where
    F: Fn() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let started = Instant::now();
    let result = call().await?;
    let first = started.elapsed();
    let mut samples = Vec::with_capacity(REPEATS);
    for _ in 0..REPEATS {
        let started = Instant::now();
        call().await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    let p95 = samples[(samples.len() * 95 / 100).min(samples.len() - 1)];
    Ok((result, Timing { first, median, p95 }))
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

fn print_conversation(conversation: &Conversation) {
    println!("  \"{}\" ({} turns; * marks the active path)", conversation.session.title, conversation.turns.len());
    for root in conversation.roots() {
        print_turn(conversation, &root.turn.turn_uid, 1);
    }
}

fn print_turn(conversation: &Conversation, turn_uid: &str, depth: usize) {
    let Some(turn) = conversation.turn(turn_uid) else { return };
    let marker = if conversation.active_path.iter().any(|active| active == turn_uid) { "*" } else { " " };
    let indent = "  ".repeat(depth);
    let text = match &turn.turn.prompt {
        Some(prompt) => format!("human: {prompt}"),
        None => format!("agent: {} steps", turn.steps.len()),
    };
    println!("{indent}{marker} {}  {text}", turn.turn.turn_uid);
    for step in &turn.steps {
        println!("{indent}      [{}] tpe={} {}", step.idx, step.tpe, shorten(&step.content, 70));
    }
    for child in &turn.children {
        print_turn(conversation, child, depth + 1);
    }
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max_chars).collect::<String>())
    }
}
