//! The client's CPU time per insert and per partition read against a live node, at a fixed rate:
//! `Table<T>`'s generated path against the same prepared statements run through the driver with
//! hand-written row impls, in paired rounds (see `paired`). CPU time is the process's
//! (`CLOCK_PROCESS_CPUTIME_ID`): the driver's connection tasks run on this one thread too.

use std::time::{Duration, Instant};

use conversation_store::{StepByTurn, StepByTurnPartitionKey, TurnBySession, TurnBySessionPartitionKey};
use scylla::client::session::Session;
use scylla::deserialize::row::DeserializeRow;
use scylla::response::PagingState;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla_table::schema::StatementKind;
use scylla_table::{ConnectionConfig, Database, Replication, ScyllaTable, Table};
use tokio::runtime::Runtime;

use crate::paired;
use crate::rows::{self, HandStep, HandTurn};

/// Operations a second: a moderate, steady load, far below what one client saturates at.
pub const RATE: u32 = 2_000;
const KEYSPACE: &str = "bench_mapper";
/// Rows in the partition each read returns.
const TURNS_PER_SESSION: usize = 20;
const STEPS_PER_TURN: usize = 8;
const INSERT_POOL: usize = 1_000;
/// Operations per batch: half a second at [`RATE`].
const OPS_PER_ROUND: u64 = 1_000;
const ROUNDS: usize = 40;

fn process_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec to write into; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    Duration::new(u64::try_from(now.tv_sec).unwrap_or(0), u32::try_from(now.tv_nsec).unwrap_or(0))
}

struct Setup {
    db: Database,
    turns: Table<TurnBySession>,
    steps: Table<StepByTurn>,
    turn_pool: Vec<TurnBySession>,
    hand_turn_pool: Vec<HandTurn>,
    step_pool: Vec<StepByTurn>,
    hand_step_pool: Vec<HandStep>,
}

async fn setup() -> Result<Setup, String> {
    let config = ConnectionConfig::from_env(KEYSPACE).map_err(|error| error.to_string())?;
    let db = Database::connect(&config).await.map_err(|error| error.to_string())?;
    let tables = [TurnBySession::table_schema(), StepByTurn::table_schema()];
    db.apply_schema(&Replication::Simple { factor: 1 }, &tables).await.map_err(|error| error.to_string())?;
    let (turns, steps) = (db.table::<TurnBySession>(), db.table::<StepByTurn>());
    for index in 0..TURNS_PER_SESSION {
        turns.insert(&rows::turn(index)).await.map_err(|error| error.to_string())?;
    }
    for index in 0..STEPS_PER_TURN {
        steps.insert(&rows::step(index)).await.map_err(|error| error.to_string())?;
    }
    // Inserts go to other partitions than the reads, cycling through a pool of prepared rows.
    let turn_pool: Vec<TurnBySession> = (0..INSERT_POOL)
        .map(|index| TurnBySession { session_uid: format!("insert-{}", index % 50), ..rows::turn(index) })
        .collect();
    let step_pool: Vec<StepByTurn> = (0..INSERT_POOL)
        .map(|index| StepByTurn { turn_uid: format!("insert-{}", index % 50), ..rows::step(index) })
        .collect();
    let hand_turn_pool = turn_pool.iter().cloned().map(HandTurn).collect();
    let hand_step_pool = step_pool.iter().cloned().map(HandStep).collect();
    Ok(Setup { db, turns, steps, turn_pool, hand_turn_pool, step_pool, hand_step_pool })
}

/// Runs `operation` `iterations` times at [`RATE`], one at a time, and returns the CPU time used.
async fn paced<F, Fut>(iterations: u64, mut operation: F) -> Duration
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / RATE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = process_cpu_time();
    for index in 0..iterations {
        ticks.tick().await;
        operation(usize::try_from(index).unwrap_or(0)).await;
    }
    process_cpu_time().saturating_sub(start)
}

/// Inserts of the rows of `pool` through `Table<T>`, against the same statement run by the driver
/// with the hand-written `H` of each row.
fn compare_inserts<T: ScyllaTable, H: SerializeRow + Sync>(
    runtime: &Runtime,
    session: &Session,
    table: &Table<T>,
    statement: &PreparedStatement,
    pool: &[T],
    hand_pool: &[H],
) -> paired::Paired {
    paired::measure(
        ROUNDS,
        OPS_PER_ROUND,
        || {
            runtime.block_on(paced(OPS_PER_ROUND, |index| async move {
                table.insert(&pool[index % pool.len()]).await.expect("inserts");
            }))
        },
        || {
            runtime.block_on(paced(OPS_PER_ROUND, |index| async move {
                session.execute_unpaged(statement, &hand_pool[index % hand_pool.len()]).await.expect("inserts");
            }))
        },
    )
}

/// Reads of one partition of `expected` rows through `Table<T>`, against the same statement run
/// by the driver into the hand-written `H`.
fn compare_reads<T, H>(
    runtime: &Runtime,
    session: &Session,
    table: &Table<T>,
    statement: &PreparedStatement,
    partition: &T::PartitionKey,
    expected: usize,
) -> paired::Paired
where
    T: ScyllaTable,
    H: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
{
    paired::measure(
        ROUNDS,
        OPS_PER_ROUND,
        || {
            runtime.block_on(paced(OPS_PER_ROUND, |_| async {
                let rows = table.partition_vec(partition).await.expect("reads");
                assert_eq!(rows.len(), expected);
            }))
        },
        || {
            runtime.block_on(paced(OPS_PER_ROUND, |_| async {
                let (result, _) =
                    session.execute_single_page(statement, partition, PagingState::start()).await.expect("reads");
                let result = result.into_rows_result().expect("rows");
                let rows = result.rows::<H>().expect("typed").collect::<Result<Vec<_>, _>>().expect("rows");
                assert_eq!(rows.len(), expected);
            }))
        },
    )
}

/// The four end-to-end comparisons, or `None` when no node answers. Returns the report section.
pub fn run() -> Option<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let setup = match runtime.block_on(setup()) {
        Ok(setup) => setup,
        Err(error) => {
            eprintln!("end-to-end part skipped: {error}");
            return None;
        }
    };
    let started = Instant::now();
    let (insert_turn, insert_step, read_turns, read_steps) = runtime.block_on(async {
        (
            setup.turns.prepared_statement(StatementKind::Insert).await,
            setup.steps.prepared_statement(StatementKind::Insert).await,
            setup.turns.prepared_statement(StatementKind::SelectPartition).await,
            setup.steps.prepared_statement(StatementKind::SelectPartition).await,
        )
    });
    let (insert_turn, insert_step) = (insert_turn.expect("prepares"), insert_step.expect("prepares"));
    let (read_turns, read_steps) = (read_turns.expect("prepares"), read_steps.expect("prepares"));
    let session = setup.db.session();
    let turn_partition = TurnBySessionPartitionKey { session_uid: rows::turn(0).session_uid };
    let step_partition = StepByTurnPartitionKey { turn_uid: rows::step(0).turn_uid };
    println!("End to end: {ROUNDS} paired rounds of {OPS_PER_ROUND} operations at {RATE}/s per comparison");
    let insert_turns =
        compare_inserts(&runtime, session, &setup.turns, &insert_turn, &setup.turn_pool, &setup.hand_turn_pool);
    let insert_steps =
        compare_inserts(&runtime, session, &setup.steps, &insert_step, &setup.step_pool, &setup.hand_step_pool);
    let read_turn_partitions =
        compare_reads::<_, HandTurn>(&runtime, session, &setup.turns, &read_turns, &turn_partition, TURNS_PER_SESSION);
    let read_step_partitions =
        compare_reads::<_, HandStep>(&runtime, session, &setup.steps, &read_steps, &step_partition, STEPS_PER_TURN);
    if let Err(error) = runtime.block_on(setup.db.drop_keyspace(KEYSPACE)) {
        eprintln!("could not drop `{KEYSPACE}`: {error}");
    }
    let mut section = format!(
        "## End to end, client CPU per operation\n\nOne client on a current-thread runtime against the node, one \
         operation at a time at {RATE}/s; a read returns a partition of {TURNS_PER_SESSION} turns or {STEPS_PER_TURN} \
         steps. {ROUNDS} paired rounds of {OPS_PER_ROUND} operations per line (median CPU per operation; ratio median \
         and interquartile range); {:.0} s in all.\n\n| | generated | hand-written | generated / hand-written |\n\
         |---|---:|---:|---:|\n",
        started.elapsed().as_secs_f64()
    );
    for (operation, paired) in [
        ("insert a turns_by_session row", insert_turns),
        ("insert a steps_by_turn row", insert_steps),
        ("read a turns_by_session partition", read_turn_partitions),
        ("read a steps_by_turn partition", read_step_partitions),
    ] {
        let micros = |per_op: Duration| format!("{:.1} µs", per_op.as_secs_f64() * 1e6);
        section.push_str(&format!(
            "| {operation} | {} | {} | {} |\n",
            micros(paired.a_per_op),
            micros(paired.b_per_op),
            crate::ratio_cell(&paired)
        ));
    }
    Some(section)
}
