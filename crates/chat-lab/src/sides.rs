//! The three ways the patterns reach the databases (the typed store, the raw driver, and
//! PostgreSQL), each pattern on each system as one operation for the driver.

use std::sync::Arc;
use std::time::Duration;

use crate::cpu_time::ServerCpu;
use crate::data_set::{Dataset, Targets};
use crate::driver::{closed_loop, operation, Operation};
use crate::model::{BenchConfig, BenchError, Pattern, System};
use crate::postgres_side::PostgresSide;
use crate::raw_driver::RawScylla;
use crate::scylla_side::ScyllaSide;

/// The three ways the patterns reach the databases, and the servers' processes when they run
/// on this machine.
#[derive(Clone)]
pub(crate) struct Sides {
    pub scylla: ScyllaSide,
    pub raw: RawScylla,
    pub postgres: Arc<PostgresSide>,
    pub node_cpu: ServerCpu,
    pub postgres_cpu: ServerCpu,
}

impl Sides {
    pub async fn open(dataset: &Dataset, config: &BenchConfig) -> Result<Sides, BenchError> {
        let connections = config.concurrencies.iter().copied().max().unwrap_or(1).min(64);
        let postgres = PostgresSide::open(&config.postgres, &dataset.pg_schema, connections).await?;
        Ok(Sides {
            scylla: ScyllaSide::new(&dataset.db),
            raw: RawScylla::prepare(&dataset.db).await?,
            postgres_cpu: postgres.server_cpu().await,
            postgres: Arc::new(postgres),
            node_cpu: ServerCpu::local_node(&config.node_dir),
        })
    }

    /// The server that serves `system`.
    pub fn server_cpu(&self, system: System) -> &ServerCpu {
        if system.is_scylla() {
            &self.node_cpu
        } else {
            &self.postgres_cpu
        }
    }

    pub fn operation(&self, pattern: Pattern, system: System, targets: &Arc<Targets>) -> Operation {
        make_operation(pattern, system, &self.scylla, &self.raw, &self.postgres, targets)
    }
}

fn make_operation(
    pattern: Pattern,
    system: System,
    scylla: &ScyllaSide,
    raw: &RawScylla,
    postgres: &Arc<PostgresSide>,
    targets: &Arc<Targets>,
) -> Operation {
    let (scylla, raw, postgres, targets) = (scylla.clone(), raw.clone(), postgres.clone(), targets.clone());
    match (pattern, system) {
        (Pattern::LoadConversation, System::RawDriver) => operation(move |random| {
            let (raw, session) = (raw.clone(), targets.session(random));
            async move { raw.load_conversation(session).await.map(|work| work.rows) }
        }),
        (Pattern::LoadConversation, System::RawDriverTwoReads) => operation(move |random| {
            let (raw, session) = (raw.clone(), targets.session(random));
            async move { raw.load_conversation_in_two_reads(session).await.map(|work| work.rows) }
        }),
        (Pattern::RecentSessions, System::RawDriver) => operation(move |random| {
            let (raw, account) = (raw.clone(), targets.account(random));
            async move { raw.recent_sessions(account).await.map(|work| work.rows) }
        }),
        (Pattern::ThreadNavigation, System::RawDriver) => operation(move |random| {
            let (raw, parent) = (raw.clone(), targets.parent(random));
            async move { raw.children(parent).await.map(|work| work.rows) }
        }),
        (Pattern::LoadConversation, System::Scylla) => operation(move |random| {
            let (scylla, session) = (scylla.clone(), targets.session(random));
            async move { scylla.load_conversation(session).await }
        }),
        (Pattern::LoadConversation, System::ScyllaTwoReads) => operation(move |random| {
            let (scylla, session) = (scylla.clone(), targets.session(random));
            async move { scylla.load_conversation_in_two_reads(session).await }
        }),
        (Pattern::LoadConversation, System::Postgres) => operation(move |random| {
            let (postgres, session) = (postgres.clone(), targets.session(random));
            async move { postgres.seed_load_conversation(session).await }
        }),
        (Pattern::LoadConversation, System::PostgresParentJoin) => operation(move |random| {
            let (postgres, session) = (postgres.clone(), targets.session(random));
            async move { postgres.parent_join_load_conversation(session).await }
        }),
        (Pattern::RecentSessions | Pattern::ThreadNavigation, System::ScyllaTwoReads | System::RawDriverTwoReads) => {
            unreachable!("the two-read layout changes only loading a conversation")
        }
        (Pattern::RecentSessions, System::Scylla) => operation(move |random| {
            let (scylla, account) = (scylla.clone(), targets.account(random));
            async move { scylla.recent_sessions(account).await }
        }),
        (Pattern::RecentSessions, _) => operation(move |random| {
            let (postgres, account) = (postgres.clone(), targets.account(random));
            async move { postgres.recent_sessions(account).await }
        }),
        (Pattern::ThreadNavigation, System::Scylla) => operation(move |random| {
            let (scylla, parent) = (scylla.clone(), targets.parent(random));
            async move { scylla.children(parent).await }
        }),
        (Pattern::ThreadNavigation, _) => operation(move |random| {
            let (postgres, parent) = (postgres.clone(), targets.parent(random));
            async move { postgres.children(parent).await }
        }),
    }
}

/// Runs the ScyllaDB patterns for the config's node warm-up, unrecorded.
pub(crate) async fn warm_up_node(sides: &Sides, targets: &Arc<Targets>, config: &BenchConfig) {
    if config.node_warmup.is_zero() {
        return;
    }
    println!("Warming the node up for {:.0} s (unrecorded)", config.node_warmup.as_secs_f64());
    let scylla_series: Vec<(Pattern, System)> = Pattern::ALL
        .into_iter()
        .flat_map(|pattern| {
            pattern.served_by().filter(|system| system.is_scylla()).map(move |system| (pattern, system))
        })
        .collect();
    let share = config.node_warmup / scylla_series.len() as u32;
    for (pattern, system) in scylla_series {
        let op = sides.operation(pattern, system, targets);
        closed_loop(op, &ServerCpu::default(), 16, share, Duration::ZERO, config.seed).await;
    }
}
