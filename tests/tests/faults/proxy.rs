//! Lies told to the driver. A proxy (`scylla-proxy`) in front of each cluster node forges the
//! server's errors and drops replies, and counts on which node every attempt of the statement
//! under test arrives. The first test checks, for each kind of statement the runtime sends, which
//! errors the driver retries and where, against what its `DefaultRetryPolicy` documents, and that
//! a list append or a counter increment whose reply was lost is applied once, not twice. The
//! second shows that the store neither loses nor doubles a turn or a step whose reply was lost,
//! and that a lightweight transaction with an unknown outcome is settled by reading.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use chat_migrate::audit_all;
use chat_migrate::projection::Layout;
use chrono::NaiveDate;
use conversation_store::{new_id, ConversationStore, StoreError, TurnLocation};
use scylla::errors::{DbError, WriteType};
use scylla::statement::Consistency;
use scylla::value::Counter;
use scylla_proxy::{
    Condition, Node, Proxy, ProxyError, Reaction, RequestFrame, RequestOpcode, RequestReaction, RequestRule,
    ResponseOpcode, ResponseReaction, ResponseRule, RunningProxy, ShardAwareness, TargetShard,
};
use scylla_table::schema::StatementKind;
use scylla_table::{ConnectionConfig, Database, InsertOutcome, ScyllaTable};
use tests::fixtures::{events as event_columns, Event, EventPrimaryKey, PageViews, PageViewsPrimaryKey};
use tokio::sync::mpsc;

use crate::cluster::{on_node, until_settled, FaultKeyspace, NODES, SERIAL};

/// Where the proxies listen, one per node of `NODES`, in the same order.
const PROXIES: [&str; 3] = ["127.0.0.21:9042", "127.0.0.22:9042", "127.0.0.23:9042"];
/// Short, so that a request nothing answers fails soon; longer than a held reply.
const PROXIED_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// A reply is held this long when it is to be lost, and its connection dropped after CUT_AFTER:
/// the node has long applied the request by then, and the driver never sees the reply.
const REPLY_HELD: Duration = Duration::from_secs(1);
const CUT_AFTER: Duration = Duration::from_millis(300);

/// The cluster behind one proxy per node, a session through the proxies, and a direct one.
struct Proxied {
    proxy: RunningProxy,
    direct: FaultKeyspace,
    db: Database,
}

impl Proxied {
    async fn start(name: &str) -> Proxied {
        let direct = FaultKeyspace::new(name).await;
        let nodes = NODES.iter().zip(PROXIES).map(|(real, proxy)| {
            Node::builder()
                .real_address(real.parse().unwrap())
                .proxy_address(proxy.parse().unwrap())
                .shard_awareness(ShardAwareness::Unaware)
                .build()
        });
        let proxy = Proxy::new(nodes);
        // The nodes report their own addresses; the session must dial the proxies instead.
        let translation: BTreeMap<SocketAddr, SocketAddr> = proxy.translation_map().into_iter().collect();
        let proxy = proxy.run().await.expect("the proxies listen on 127.0.0.21-23:9042");
        let mut config = ConnectionConfig::new(PROXIES, direct.keyspace.clone())
            .replication(direct.config.replication.clone())
            .request_timeout(PROXIED_REQUEST_TIMEOUT);
        for (advertised, reachable) in translation {
            config = config.map_address(advertised, reachable);
        }
        let db = Database::connect(&config).await.expect("connects through the proxies");
        let fixtures = [Event::table_schema(), PageViews::table_schema()];
        until_settled("creating the fixture tables", || direct.db.apply_schema(&direct.config.replication, &fixtures))
            .await;
        Proxied { proxy, direct, db }
    }

    /// Applies `fault` to every frame of `frames`, on every node, and reports each such frame on
    /// the channel of the node it reached.
    fn inject(&mut self, frames: Condition, fault: Fault, write_type: WriteType) -> Vec<mpsc::UnboundedReceiver<Seen>> {
        let mut seen = Vec::new();
        for node in self.proxy.running_nodes.iter_mut() {
            let (tx, rx) = mpsc::unbounded_channel();
            seen.push(rx);
            node.change_request_rules(Some(vec![RequestRule(
                frames.clone(),
                fault.reaction(write_type.clone()).with_feedback_when_performed(tx),
            )]));
            // A reply to be lost is held back on every data connection (the control connection
            // registers for events and is left alone) until after its connection is cut.
            let held = (fault == Fault::LostReply).then(|| {
                vec![ResponseRule(
                    Condition::ResponseOpcode(ResponseOpcode::Result)
                        .and(Condition::not(Condition::ConnectionRegisteredAnyEvent)),
                    ResponseReaction::delay(REPLY_HELD),
                )]
            });
            node.change_response_rules(held);
        }
        seen
    }

    /// Lets every frame pass again, and waits until the session has a working connection to
    /// every node: a connection the proxy cut is reopened in the background.
    async fn heal(&mut self) {
        for node in self.proxy.running_nodes.iter_mut() {
            node.change_request_rules(None);
            node.change_response_rules(None);
        }
        self.reconnected().await;
    }

    /// Waits until the session can reach every node.
    async fn reconnected(&self) {
        let started = Instant::now();
        for node in self.db.session().get_cluster_state().get_nodes_info() {
            loop {
                match self.db.session().query_unpaged(on_node("SELECT key FROM system.local", node), ()).await {
                    Ok(_) => break,
                    Err(error) => {
                        assert!(
                            started.elapsed() < Duration::from_secs(30),
                            "no connection to {}: {error}",
                            node.address
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    }

    async fn finish(self) {
        // scylla-proxy 0.0.8 counts its workers out before they drop their error senders, so
        // `finish` can see every worker gone while an error sender is still alive, and then
        // panics with "Worker await logic bug!" although nothing failed. Only that panic is
        // forgiven; every other panic and every proxy error still fails the test.
        match tokio::spawn(self.proxy.finish()).await {
            // A worker reports its connection closing: the tests cut connections on purpose.
            Ok(Ok(()) | Err(ProxyError::Worker(_))) => {}
            Ok(Err(error)) => panic!("the proxies failed: {error}"),
            Err(join_error) if join_error.is_panic() => {
                let payload = join_error.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|message| message.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                if !message.contains("Worker await logic bug") {
                    std::panic::resume_unwind(payload);
                }
            }
            Err(join_error) => panic!("the proxies' shutdown did not finish: {join_error}"),
        }
        self.direct.finish().await;
    }
}

/// One request frame of the statement under test, as a proxy saw it.
type Seen = (RequestFrame, Option<TargetShard>);

/// What the proxies do to every attempt of the statement under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    /// The coordinator refuses it: overloaded.
    Overloaded,
    /// The coordinator fails on it with an internal error.
    ServerError,
    /// The coordinator timed out waiting for replicas, for the statement's own write type.
    WriteTimeout,
    /// A logged batch timed out writing its batchlog.
    BatchLogTimeout,
    /// Enough replicas answered a read, but not the one with the data.
    ReadTimeout,
    /// Too few live replicas for the consistency level.
    Unavailable,
    /// The request reaches the node and is applied; its reply is lost with the connection.
    LostReply,
    /// The request never reaches a node, and nothing answers.
    NoReply,
}

impl Fault {
    /// The proxies' reaction to a frame of a statement that writes with `write_type`.
    fn reaction(self, write_type: WriteType) -> RequestReaction {
        let forge = |error| RequestReaction::forge_with_error(error);
        match self {
            Fault::Overloaded => forge(DbError::Overloaded),
            Fault::ServerError => forge(DbError::ServerError),
            Fault::WriteTimeout => forge(write_timeout(write_type)),
            Fault::BatchLogTimeout => forge(write_timeout(WriteType::BatchLog)),
            Fault::ReadTimeout => forge(DbError::ReadTimeout {
                consistency: Consistency::One,
                received: 1,
                required: 1,
                data_present: false,
            }),
            Fault::Unavailable => {
                forge(DbError::Unavailable { consistency: Consistency::Quorum, required: 2, alive: 1 })
            }
            Fault::LostReply => RequestReaction {
                to_addressee: RequestReaction::noop().to_addressee,
                drop_connection: Some(Some(CUT_AFTER)),
                ..RequestReaction::drop_frame()
            },
            Fault::NoReply => RequestReaction::drop_frame(),
        }
    }

    /// Whether the request reaches a node, so that it is applied there.
    fn reaches_a_node(self) -> bool {
        self == Fault::LostReply
    }
}

fn write_timeout(write_type: WriteType) -> DbError {
    DbError::WriteTimeout { consistency: Consistency::Quorum, received: 1, required: 2, write_type }
}

/// The kinds of statement the runtime sends, and the idempotence it marks them with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Insert,
    LoggedBatch,
    InsertIfNotExists,
    ListAppend,
    CounterUpdate,
    Read,
}

impl Kind {
    const ALL: [Kind; 6] =
        [Kind::Insert, Kind::LoggedBatch, Kind::InsertIfNotExists, Kind::ListAppend, Kind::CounterUpdate, Kind::Read];

    fn is_idempotent(self) -> bool {
        matches!(self, Kind::Insert | Kind::LoggedBatch | Kind::Read)
    }

    fn faults(self) -> Vec<Fault> {
        let mut faults =
            vec![Fault::Overloaded, Fault::ServerError, Fault::Unavailable, Fault::LostReply, Fault::NoReply];
        match self {
            Kind::Read => faults.push(Fault::ReadTimeout),
            Kind::LoggedBatch => faults.extend([Fault::WriteTimeout, Fault::BatchLogTimeout]),
            _ => faults.push(Fault::WriteTimeout),
        }
        faults.sort();
        faults
    }

    fn write_type(self) -> WriteType {
        match self {
            Kind::LoggedBatch => WriteType::Batch,
            Kind::InsertIfNotExists => WriteType::Cas,
            Kind::CounterUpdate => WriteType::Counter,
            _ => WriteType::Simple,
        }
    }
}

/// How many attempts the driver makes, and where, by `DefaultRetryPolicy`'s documentation:
/// overloaded, server errors and broken connections go to the next node, only when the statement
/// is idempotent; unavailable goes to the next node once, whatever the statement; a write
/// timeout is retried (on the same node) only for an idempotent batch's batchlog; a read timeout
/// with enough replies but no data is retried on the same node once; a client timeout ends the
/// request. The plan holds the replicas (three here), and after them any node that may be down.
/// Plus the runtime's own rule: a lightweight transaction whose outcome is unknown is
/// settled by a SERIAL read: the row it finds, or a plain failure (not applied) when it finds none.
#[derive(Debug)]
struct Expected {
    attempts: RangeInclusive<usize>,
    /// The attempts' nodes: 1 for "the same node", attempts for "a new node each time", None
    /// where the policy leaves it open.
    nodes: Option<usize>,
    outcome: CallerSees,
}

/// What the caller was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallerSees {
    Ok,
    /// The statement failed and nothing was applied (a refusal, an error of the server).
    Failed,
    /// Refused for too few replicas: nothing was applied.
    Unavailable,
    /// It may or may not have been applied.
    OutcomeUnknown,
}

impl CallerSees {
    fn of<T>(result: &scylla_table::Result<T>) -> CallerSees {
        match result {
            Ok(_) => CallerSees::Ok,
            Err(scylla_table::Error::Unavailable { .. }) => CallerSees::Unavailable,
            Err(scylla_table::Error::OutcomeUnknown { .. }) => CallerSees::OutcomeUnknown,
            Err(_) => CallerSees::Failed,
        }
    }
}

fn expected(kind: Kind, fault: Fault) -> Expected {
    let next_node_if_idempotent = |outcome| match kind.is_idempotent() {
        true => Expected { attempts: 3..=3, nodes: Some(3), outcome },
        false => Expected { attempts: 1..=1, nodes: Some(1), outcome },
    };
    let lwt_unknown = kind == Kind::InsertIfNotExists;
    match fault {
        Fault::Overloaded | Fault::ServerError => next_node_if_idempotent(CallerSees::Failed),
        Fault::Unavailable => Expected { attempts: 2..=2, nodes: Some(2), outcome: CallerSees::Unavailable },
        // The SERIAL read finds the transaction's row: its own, settled without a second try.
        Fault::LostReply if lwt_unknown => Expected { attempts: 1..=1, nodes: Some(1), outcome: CallerSees::Ok },
        // If the first node's connection is still down when the rest of the plan is made, that
        // node is not among its live replicas but among the nodes that may be down, at its end:
        // it comes once more, last (the plan filters out only its first pick, with its shard).
        Fault::LostReply if kind.is_idempotent() => {
            Expected { attempts: 3..=4, nodes: Some(3), outcome: CallerSees::OutcomeUnknown }
        }
        Fault::LostReply => next_node_if_idempotent(CallerSees::OutcomeUnknown),
        // The SERIAL read finds nothing: the outcome is known, not applied.
        Fault::WriteTimeout | Fault::NoReply if lwt_unknown => {
            Expected { attempts: 1..=1, nodes: Some(1), outcome: CallerSees::Failed }
        }
        Fault::WriteTimeout | Fault::NoReply => {
            Expected { attempts: 1..=1, nodes: Some(1), outcome: CallerSees::OutcomeUnknown }
        }
        Fault::BatchLogTimeout => Expected { attempts: 2..=2, nodes: Some(1), outcome: CallerSees::OutcomeUnknown },
        Fault::ReadTimeout => Expected { attempts: 2..=2, nodes: Some(1), outcome: CallerSees::Failed },
    }
}

/// One statement under test: its rows are keyed by `marker`, which the proxies look for.
struct Case {
    kind: Kind,
    marker: String,
}

impl Case {
    fn event(&self, seq: i32) -> Event {
        Event { stream: self.marker.clone(), bucket: 0, seq, body: "body".into(), tags: Vec::new() }
    }

    fn event_key(&self) -> EventPrimaryKey {
        self.event(0).primary_key()
    }

    fn views(&self) -> PageViews {
        PageViews { page: self.marker.clone(), day: day(), views: Counter(1), unique_visitors: Counter(0) }
    }

    /// The frames of this statement: its opcode, its prepared statement's id, and its marker.
    async fn condition(&self, db: &Database) -> Condition {
        let (events, views) = (db.table::<Event>(), db.table::<PageViews>());
        let (opcode, statement) = match self.kind {
            Kind::Insert => (RequestOpcode::Execute, events.prepared_statement(StatementKind::Insert).await),
            Kind::LoggedBatch => (RequestOpcode::Batch, events.prepared_statement(StatementKind::Insert).await),
            Kind::InsertIfNotExists => {
                (RequestOpcode::Execute, events.prepared_statement(StatementKind::InsertIfNotExists).await)
            }
            Kind::ListAppend => {
                (RequestOpcode::Execute, events.prepared_statement(StatementKind::AddTo { column_index: 4 }).await)
            }
            Kind::CounterUpdate => (RequestOpcode::Execute, views.prepared_statement(StatementKind::Update).await),
            Kind::Read => (RequestOpcode::Execute, events.prepared_statement(StatementKind::SelectRow).await),
        };
        let id = statement.expect("the statement prepares").get_id().to_vec();
        statement_frames(opcode, &id, self.marker.as_bytes())
    }

    /// Writes what the statement needs to find: a list append needs its row.
    async fn arrange(&self, direct: &Database) {
        if self.kind == Kind::ListAppend {
            direct.table::<Event>().insert(&self.event(0)).await.expect("the row to append to is written");
        }
    }

    /// Sends the statement through the proxies.
    async fn run(&self, db: &Database) -> CallerSees {
        let events = db.table::<Event>();
        match self.kind {
            Kind::Insert => CallerSees::of(&events.insert(&self.event(0)).await),
            Kind::LoggedBatch => {
                let (first, second) = (self.event(0), self.event(1));
                let mut batch = db.logged_batch();
                batch.insert(&first).await.expect("the batch takes the row");
                batch.insert(&second).await.expect("the batch takes the row");
                CallerSees::of(&batch.execute().await)
            }
            Kind::InsertIfNotExists => {
                let mine = self.event(0);
                let result = events.insert_if_not_exists(&mine).await;
                if let Ok(InsertOutcome::NotApplied(found)) = &result {
                    assert_eq!(*found, mine, "nothing else writes this key: the row found is this insert's");
                }
                CallerSees::of(&result)
            }
            Kind::ListAppend => CallerSees::of(
                &events
                    .append_to_list(&self.event_key(), event_columns::tags, std::slice::from_ref(&self.marker))
                    .await,
            ),
            Kind::CounterUpdate => CallerSees::of(&db.table::<PageViews>().update(&self.views()).await),
            Kind::Read => CallerSees::of(&events.get(&self.event_key()).await),
        }
    }

    /// How many times the statement took effect, read from every replica.
    async fn applied(&self, direct: &Database) -> usize {
        let events = direct.table::<Event>().with_read_consistency(Consistency::All);
        let stored = events.get(&self.event_key()).await.expect("reads the row at ALL");
        match self.kind {
            Kind::Insert | Kind::InsertIfNotExists => usize::from(stored.is_some()),
            Kind::LoggedBatch => {
                let rows = events.partition_vec(&self.event(0).partition_key()).await.expect("reads the partition");
                rows.len() / 2
            }
            Kind::ListAppend => stored.map_or(0, |row| row.tags.iter().filter(|tag| **tag == self.marker).count()),
            Kind::CounterUpdate => {
                let key = PageViewsPrimaryKey { page: self.marker.clone(), day: day() };
                let views = direct.table::<PageViews>().with_read_consistency(Consistency::All).get(&key).await;
                views.expect("reads the counter at ALL").map_or(0, |row| row.views.0 as usize)
            }
            Kind::Read => 0,
        }
    }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
}

/// Frames with this opcode that carry this prepared statement's id and this value.
fn statement_frames(opcode: RequestOpcode, prepared_id: &[u8], value: &[u8]) -> Condition {
    Condition::RequestOpcode(opcode)
        .and(Condition::BodyContainsCaseSensitive(prepared_id.into()))
        .and(Condition::BodyContainsCaseSensitive(value.into()))
}

/// Attempts seen by each node's proxy since the channels were made.
fn attempts_by_node(seen: &mut [mpsc::UnboundedReceiver<Seen>]) -> Vec<usize> {
    seen.iter_mut()
        .map(|node| {
            let mut count = 0;
            while node.try_recv().is_ok() {
                count += 1;
            }
            count
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the 3-node cluster: run with `cargo xtask test --faults`"]
async fn each_kind_of_statement_is_retried_as_the_driver_documents_and_applied_at_most_once() {
    let _serial = SERIAL.lock().await;
    let mut proxied = Proxied::start("retries").await;
    let mut mismatches = Vec::new();
    println!("| statement | fault | attempts (nodes) | caller sees | applied |");
    println!("|---|---|---|---|---|");
    for kind in Kind::ALL {
        for fault in kind.faults() {
            let case = Case { kind, marker: format!("{kind:?}-{fault:?}-{}", new_id()) };
            case.arrange(&proxied.direct.db).await;
            let condition = case.condition(&proxied.db).await;
            let mut seen = proxied.inject(condition, fault, kind.write_type());
            let outcome = case.run(&proxied.db).await;
            let by_node = attempts_by_node(&mut seen);
            proxied.heal().await;
            let applied = case.applied(&proxied.direct.db).await;

            let attempts: usize = by_node.iter().sum();
            let nodes = by_node.iter().filter(|count| **count > 0).count();
            let want = expected(kind, fault);
            // A statement that reached a node took effect; a list append or a counter increment
            // exactly once, because the driver never repeats them.
            let want_applied = match kind {
                Kind::Read => 0,
                _ => usize::from(fault.reaches_a_node()),
            };
            println!("| {kind:?} | {fault:?} | {attempts} ({nodes}) | {outcome:?} | {applied} |");
            let as_expected = want.attempts.contains(&attempts)
                && want.nodes.is_none_or(|want_nodes| want_nodes == nodes)
                && want.outcome == outcome
                && applied == want_applied;
            if !as_expected {
                mismatches.push(format!(
                    "{kind:?} x {fault:?}: expected {want:?} applied {want_applied}, got {attempts} attempts on \
                     {nodes} nodes {by_node:?}, {outcome:?}, applied {applied}"
                ));
            }
        }
    }
    proxied.finish().await;
    assert!(mismatches.is_empty(), "{} case(s) differ:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the 3-node cluster: run with `cargo xtask test --faults`"]
async fn a_turn_or_step_whose_reply_is_lost_is_neither_lost_nor_doubled() {
    let _serial = SERIAL.lock().await;
    let mut proxied = Proxied::start("lost_replies").await;
    let store = ConversationStore::new(proxied.db.clone());
    let account = "lost-replies";
    let session = store.create_session(account, "replies").await.expect("the session is written").session_uid;
    let mut acked = Vec::new();

    // The turn's logged batch reaches every replica's coordinator in turn and is applied, and
    // every reply is lost: the caller learns that the outcome is unknown...
    let human = new_id();
    let batch = Condition::RequestOpcode(RequestOpcode::Batch)
        .and(Condition::BodyContainsCaseSensitive(human.as_bytes().into()));
    let mut seen = proxied.inject(batch, Fault::LostReply, WriteType::Batch);
    let first = store.append_human_turn(account, &session, None, "lost?", Some(&human)).await;
    let attempts: usize = attempts_by_node(&mut seen).iter().sum();
    proxied.heal().await;
    assert!(matches!(&first, Err(StoreError::Database(scylla_table::Error::OutcomeUnknown { .. }))), "{first:?}");
    assert!(
        (3..=4).contains(&attempts),
        "the idempotent batch went to each replica, the first perhaps once more: {attempts} attempts"
    );
    // ...and repeating the append with the same id finds the turn written then and returns it.
    let retried = store.append_human_turn(account, &session, None, "lost?", Some(&human)).await;
    let retried = retried.expect("the repeated append succeeds");
    acked.push(human.clone());

    // The claim of a new turn's id is a lightweight transaction: with its reply lost, the
    // store reads to learn that it won, instead of sending it again.
    let agent = new_id();
    let claim = proxied.db.table::<TurnLocation>().prepared_statement(StatementKind::InsertIfNotExists).await;
    let claim = statement_frames(RequestOpcode::Execute, claim.unwrap().get_id(), agent.as_bytes());
    let mut seen = proxied.inject(claim, Fault::LostReply, WriteType::Cas);
    let appended = store.append_agent_turn(account, &session, &human, Some(&agent)).await;
    let claims: usize = attempts_by_node(&mut seen).iter().sum();
    proxied.heal().await;
    appended.expect("a claim with a lost reply is settled by a SERIAL read");
    assert_eq!(claims, 1, "the transaction is not sent again");
    acked.push(agent.clone());

    // The same for a step: written once, and the same call again returns it.
    let content = format!("step of {agent}");
    let steps = proxied.db.table::<conversation_store::StepByTurn>();
    let step = steps.prepared_statement(StatementKind::InsertIfNotExists).await.unwrap();
    let step = statement_frames(RequestOpcode::Execute, step.get_id(), content.as_bytes());
    let mut seen = proxied.inject(step, Fault::LostReply, WriteType::Cas);
    let appended = store.append_step(account, &session, &agent, 0, 1, &content).await;
    let steps_sent: usize = attempts_by_node(&mut seen).iter().sum();
    proxied.heal().await;
    let step = appended.expect("a step with a lost reply is settled by a SERIAL read");
    assert_eq!(steps_sent, 1, "the step's transaction is not sent again");
    let again = store.append_step(account, &session, &agent, 0, 1, &content).await.expect("the same step again");
    assert_eq!(again, step, "repeating a step returns the one written");
    let other = store.append_step(account, &session, &agent, 0, 1, "something else").await;
    assert!(matches!(other, Err(StoreError::Conflict { .. })), "another step at the same index: {other:?}");

    // Forged refusals and timeouts of a turn's batch: the caller is told, and a retry with the
    // same id writes the turn once.
    for fault in [Fault::Overloaded, Fault::ServerError, Fault::WriteTimeout] {
        let turn = new_id();
        let batch = Condition::RequestOpcode(RequestOpcode::Batch)
            .and(Condition::BodyContainsCaseSensitive(turn.as_bytes().into()));
        proxied.inject(batch, fault, WriteType::Batch);
        let failed = store.append_human_turn(account, &session, None, "refused?", Some(&turn)).await;
        proxied.heal().await;
        assert!(failed.is_err(), "{fault:?} reaches the caller: {failed:?}");
        store.append_human_turn(account, &session, None, "refused?", Some(&turn)).await.expect("the retry succeeds");
        acked.push(turn);
    }

    // Every acknowledged turn is there once, read from every replica; the store's invariants hold.
    let direct = proxied
        .direct
        .store()
        .with_consistency(scylla_table::ConsistencyLevels { read: Consistency::All, write: Consistency::Quorum });
    let conversation = direct.load_conversation(account, &session).await.expect("the conversation loads at ALL");
    let stored: Vec<&str> = conversation.turns.iter().map(|turn| turn.turn.turn_uid.as_str()).collect();
    let lost: Vec<&String> = acked.iter().filter(|uid| !stored.contains(&uid.as_str())).collect();
    let mut copies: BTreeMap<&str, usize> = BTreeMap::new();
    for uid in &stored {
        *copies.entry(uid).or_default() += 1;
    }
    // A second copy of a turn, or a turn no append asked for.
    let duplicated = stored.len() - copies.len() + copies.keys().filter(|uid| !acked.iter().any(|a| a == *uid)).count();
    println!("lost replies and forged errors: acked {}, lost {}, duplicated {duplicated}", acked.len(), lost.len());
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert_eq!(duplicated, 0, "each turn is stored once: {stored:?}");
    let stored_human = conversation.turn(&human).expect("the turn whose reply was lost");
    // Its active child is the agent turn appended since.
    let as_appended = conversation_store::TurnBySession { active_child: None, ..stored_human.turn.clone() };
    assert_eq!(as_appended, retried, "the repeated append returned the turn as stored");
    assert_eq!(conversation.turn(&agent).expect("the agent turn").steps, vec![step]);
    let audit = audit_all(&proxied.direct.tables(Consistency::All), Layout::default()).await.expect("the audit runs");
    assert!(audit.is_clean(), "{:?}", audit.violations);
    proxied.finish().await;
}
