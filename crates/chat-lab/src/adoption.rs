//! What adopting a team's own database costs (`chat-migrate adopt`):
//!
//! - the **triggers' cost**: the application's own insert of a step, plain SQL on a pooled
//!   connection, closed loop, on the tables as the team made them, then with the triggers in the
//!   `postgres` phase (a version), then in `dual-write` (a version and an outbox entry);
//! - **adopt's time** on a database of relational rows made by plain SQL (then vacuumed, as
//!   autovacuum would, before the triggers are measured).
//!
//! The schema made here is dropped at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_migrate::{shared_phase, Phase, Routing, SetOptions};
use conversation_pg::adoption::Adoption;
use conversation_pg::{PgConfig, PgStore};

use crate::cpu_time::ServerCpu;
use crate::driver::{closed_loop, Measurement, Operation};
use crate::driver::{operation, print_point};
use crate::model::{BenchConfig, BenchError};

/// The relational model as a team's own code made it: no `version`, no `active_root`, the
/// default collation, a `varchar` id, and a nullable column the copy needs.
pub const APP_SCHEMA: &str = "
    CREATE TABLE sessions (uid varchar(64) PRIMARY KEY, account_uid text NOT NULL, title text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz);
    CREATE TABLE human_turns (uid text PRIMARY KEY,
        session_uid text NOT NULL REFERENCES sessions (uid) ON DELETE CASCADE,
        parent_uid text, active_child text, prompt text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE agent_turns (uid text PRIMARY KEY,
        session_uid text NOT NULL REFERENCES sessions (uid) ON DELETE CASCADE,
        parent_uid text NOT NULL, active_child text, liked boolean, created_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE steps (agent_turn_uid text NOT NULL REFERENCES agent_turns (uid) ON DELETE CASCADE,
        idx int NOT NULL, tpe int NOT NULL, content text, created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (agent_turn_uid, idx));";

/// Relational rows per generated session: the session, 5 human and 5 agent turns, 40 steps.
const ROWS_PER_SESSION: u64 = 51;

/// The application's insert at one concurrency, in the three states.
pub struct InsertPoint {
    pub clients: usize,
    pub without_triggers: Measurement,
    pub postgres_phase: Measurement,
    pub dual_write_phase: Measurement,
}

pub struct AdoptionOutcome {
    /// Relational rows in the adopted database.
    pub rows: u64,
    pub adoption: Adoption,
    pub adopt_time: Duration,
    pub inserts: Vec<InsertPoint>,
}

/// The database to adopt: 1M relational rows (a few thousand for the tests' tiny run).
fn rows_for(config: &BenchConfig) -> u64 {
    if config.scale.sessions < 500 {
        10_000
    } else {
        1_000_000
    }
}

pub async fn measure(config: &BenchConfig) -> Result<AdoptionOutcome, BenchError> {
    const NAME: &str = "bench_adoption";
    let clients = [1, config.concurrencies.iter().copied().max().unwrap_or(1).min(16)];
    let pg = PgStore::connect(&PgConfig::new(config.postgres.clone(), NAME).with_pool_size(clients[1] + 2)).await?;
    pg.drop_schema().await?;
    let client = pg.client().await?;
    let sessions = rows_for(config).div_ceil(ROWS_PER_SESSION);
    let generate = format!(
        "CREATE SCHEMA {NAME};
         {APP_SCHEMA}
         INSERT INTO sessions (uid, account_uid, title, created_at)
             SELECT 's' || g, 'a' || (g % 1000), 'title ' || g, now() - random() * interval '365 days'
             FROM generate_series(1, {sessions}) g;
         INSERT INTO human_turns (uid, session_uid, parent_uid, prompt, created_at)
             SELECT 's' || s || '-h' || t, 's' || s, CASE WHEN t > 1 THEN 's' || s || '-a' || (t - 1) END,
                    'a prompt of some length', now() - random() * interval '365 days'
             FROM generate_series(1, {sessions}) s, generate_series(1, 5) t;
         INSERT INTO agent_turns (uid, session_uid, parent_uid, created_at)
             SELECT 's' || s || '-a' || t, 's' || s, 's' || s || '-h' || t, now() - random() * interval '365 days'
             FROM generate_series(1, {sessions}) s, generate_series(1, 5) t;
         INSERT INTO steps (agent_turn_uid, idx, tpe, content, created_at)
             SELECT 's' || s || '-a' || t, i, 1, 'a step of the answer', now() - random() * interval '365 days'
             FROM generate_series(1, {sessions}) s, generate_series(1, 5) t, generate_series(0, 7) i;
         ANALYZE;"
    );
    client
        .batch_execute(&generate)
        .await
        .map_err(|source| BenchError::Postgres { action: "making the database to adopt".into(), source })?;
    drop(client);
    println!("  adoption: {} relational rows made by plain SQL", sessions * ROWS_PER_SESSION);

    // The application's insert: a new step of one of the agent turns, its own SQL.
    let counter = Arc::new(AtomicU64::new(0));
    let insert: Operation = {
        let pg = pg.clone();
        operation(move |_| {
            let (pg, counter) = (pg.clone(), counter.clone());
            async move {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let turn = format!("s{}-a1", 1 + n % sessions);
                let idx = i32::try_from(100 + n / sessions).unwrap_or(i32::MAX);
                let client = pg.client().await.map_err(|error| error.to_string())?;
                client
                    .execute(
                        "INSERT INTO steps (agent_turn_uid, idx, tpe, content) VALUES ($1, $2, 1, 'one more step')",
                        &[&turn, &idx],
                    )
                    .await
                    .map(|_| 1)
                    .map_err(|error| error.to_string())
            }
        })
    };
    let run = |clients: usize, label: &'static str| {
        let insert = insert.clone();
        async move {
            let measurement =
                closed_loop(insert, &ServerCpu::default(), clients, config.warmup, config.point, config.seed).await;
            print_point(&format!("app insert, {clients:>2} clients, {label:<22}"), &measurement);
            measurement
        }
    };
    let mut without = Vec::new();
    for clients in clients {
        without.push(run(clients, "no triggers").await);
    }
    let started = Instant::now();
    let adoption = pg.adopt(|_| {}).await?;
    let adopt_time = started.elapsed();
    println!("  adopt: {:.1} s", adopt_time.as_secs_f64());
    // The fill rewrote every row: vacuumed and analyzed now, as autovacuum would soon do, so that
    // its work does not run beside the measurements.
    pg.client()
        .await?
        .batch_execute("VACUUM (ANALYZE) sessions, human_turns, agent_turns, steps")
        .await
        .map_err(|source| BenchError::Postgres { action: "vacuuming after adopt".into(), source })?;
    let mut postgres_phase = Vec::new();
    for clients in clients {
        postgres_phase.push(run(clients, "triggers, postgres").await);
    }
    let options = SetOptions { fleet_wait: Duration::from_secs(1), drain_wait: Duration::from_secs(5) };
    shared_phase::set(&pg, NAME, Routing::new(Phase::DualWrite), None, options).await?;
    let mut inserts = Vec::new();
    for ((clients, without_triggers), postgres_phase) in clients.into_iter().zip(without).zip(postgres_phase) {
        let dual_write_phase = run(clients, "triggers, dual-write").await;
        inserts.push(InsertPoint { clients, without_triggers, postgres_phase, dual_write_phase });
    }
    pg.drop_schema().await?;
    // The rows adopt found: those made above and the inserts measured before it.
    let rows = adoption.preflight.tables.iter().map(|table| u64::try_from(table.rows).unwrap_or(0)).sum();
    Ok(AdoptionOutcome { rows, adoption, adopt_time, inserts })
}
