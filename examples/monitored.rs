//! An application instance during the migration, with its metrics on a Prometheus endpoint: the
//! exporter installed beside a `MigratingStore` that follows the fleet's shared phase. Every
//! family of `chat_migrate::monitoring` that the store records (phase, breakers, inline copies,
//! reads served and fallen back, shadow comparisons) is then scraped with the application's own.
//!
//! Needs both databases: `cargo xtask db up`, then
//! `cargo run -p examples --example monitored` (METRICS_ADDR sets the endpoint, default
//! 127.0.0.1:9464; POSTGRES_URL and SCYLLA_URI the databases). It works in a PostgreSQL schema
//! and a keyspace of its own (POSTGRES_SCHEMA and SCYLLA_KEYSPACE, by default
//! `monitored_example`), moves their shared phase to dual-write, serves a few requests, prints
//! what a scrape returns, and stops.

use std::error::Error;
use std::net::SocketAddr;

use chat_migrate::{
    shared_phase, DualWriteStore, MigratingOptions, MigratingStore, Phase, RelayConfig, Routing, ScyllaCopier,
    ScyllaRelay, SetOptions,
};
use conversation_pg::{PgConfig, PgStore};
use conversation_store::{ConversationApi, ConversationStore};
use metrics_exporter_prometheus::PrometheusBuilder;
use scylla_table::{ConnectionConfig, Database};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NAME: &str = "monitored_example";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let address: SocketAddr = std::env::var("METRICS_ADDR").unwrap_or_else(|_| "127.0.0.1:9464".into()).parse()?;
    // The application's recorder: the migration's metrics go wherever the application's go.
    PrometheusBuilder::new().with_http_listener(address).install()?;
    chat_migrate::monitoring::describe();

    let named = |variable: &str| std::env::var(variable).ok().filter(|name| !name.is_empty());
    let schema = named("POSTGRES_SCHEMA").unwrap_or_else(|| NAME.into());
    let pg = PgStore::connect(&PgConfig::new(PgConfig::from_env().url, schema)).await?;
    pg.apply_schema().await?;
    let scylla_config = ConnectionConfig::from_env(&named("SCYLLA_KEYSPACE").unwrap_or_else(|| NAME.into()))?;
    let db = Database::connect(&scylla_config).await?;
    chat_migrate::ensure_scylla_schema(&db, Some(&scylla_config.replication)).await?;
    // The first step of the migration, as `chat-migrate phase set dual-write` takes it.
    if shared_phase::read(&pg).await?.routing.phase == Phase::Postgres {
        let dual_write = Routing::new(Phase::DualWrite);
        shared_phase::set(&pg, &scylla_config.keyspace, dual_write, None, SetOptions::default()).await?;
    }

    let relay = ScyllaRelay::new(pg.clone(), ScyllaCopier::new(db.clone()), RelayConfig::default());
    let (store, follower) =
        MigratingStore::following(DualWriteStore::new(relay), ConversationStore::new(db), MigratingOptions::default())
            .await?;
    let account = "monitored-account";
    for n in 0..5 {
        let session = store.create_session(account, &format!("question {n}")).await?;
        let turn = store.append_human_turn(account, &session.session_uid, None, "How is the move going?", None).await?;
        store.append_agent_turn(account, &session.session_uid, &turn.turn_uid, None).await?;
        store.load_conversation(account, &session.session_uid).await?;
    }
    println!("served 5 conversations in phase {}; a scrape of http://{address}/metrics:", store.status().routing.phase);
    for line in scrape(address).await?.lines().filter(|line| line.starts_with("chat_migrate_")) {
        println!("  {line}");
    }
    follower.stop().await?;
    Ok(())
}

/// What Prometheus would read.
async fn scrape(address: SocketAddr) -> Result<String, Box<dyn Error>> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    Ok(reply.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default())
}
