//! What the generated row code costs: `cargo xtask bench --mapper`.
//!
//! Per row, without a node: serialize and deserialize a `turns_by_session` and a `steps_by_turn`
//! row with the derive's generated code, with hand-written `SerializeRow`/`DeserializeRow` impls
//! and with the driver's own derives (criterion), then generated against hand-written in paired
//! rounds for the ratio. End to end, against the node: the client's CPU time per insert and per
//! partition read at a fixed rate, generated against hand-written, in paired rounds. The figures
//! go to `target/bench/mapper.md`.

mod end_to_end;
mod paired;
mod rows;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::Criterion;
use scylla::deserialize::row::{ColumnIterator, DeserializeRow};
use scylla::deserialize::FrameSlice;
use scylla::frame::response::result::ColumnSpec;
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::writers::RowWriter;
use scylla_table::{RowValues, TableRow};

use rows::{DerivedStep, DerivedTurn, HandStep, HandTurn};

/// The three ways of mapping a row, in the order the report lists them.
pub const VARIANTS: [&str; 3] = ["generated", "hand-written", "driver-derive"];

fn main() {
    let home = criterion_home();
    // Criterion reads its output directory from the environment when it is built.
    std::env::set_var("CRITERION_HOME", &home);
    let mut criterion = Criterion::default().configure_from_args();
    per_row(&mut criterion);
    criterion.final_summary();
    let ratios = per_row_paired();
    let end_to_end = end_to_end::run();
    if let Err(error) = write_report(&home, &ratios, end_to_end.as_deref()) {
        eprintln!("could not write the report: {error}");
    }
}

fn criterion_home() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/criterion")))
}

fn serialized(values: &impl SerializeRow, specs: &[ColumnSpec<'_>]) -> Vec<u8> {
    let mut buffer = Vec::new();
    values
        .serialize(&RowSerializationContext::from_specs(specs), &mut RowWriter::new(&mut buffer))
        .expect("the row fits its columns");
    buffer
}

fn read<'frame, 'metadata, R: DeserializeRow<'frame, 'metadata>>(
    specs: &'metadata [ColumnSpec<'metadata>],
    bytes: &'frame [u8],
) -> R {
    R::type_check(specs).expect("the row's types fit");
    R::deserialize(ColumnIterator::new(specs, FrameSlice::new_borrowed(bytes))).expect("the row reads back")
}

/// One row serialized and deserialized each way; each way must write the same bytes and read
/// the same row, or the comparison would be of different work.
fn per_row(criterion: &mut Criterion) {
    let (turn, step) = (rows::turn(1), rows::step(1));
    let (turn_specs, step_specs) = (rows::turn_specs(), rows::step_specs());
    let (hand_turn, derived_turn) = (HandTurn(turn.clone()), DerivedTurn::from(&turn));
    let (hand_step, derived_step) = (HandStep(step.clone()), DerivedStep::from(&step));

    let turn_bytes = serialized(&RowValues::new(&turn), &turn_specs);
    assert_eq!(serialized(&hand_turn, &turn_specs), turn_bytes);
    assert_eq!(serialized(&derived_turn, &turn_specs), turn_bytes);
    let step_bytes = serialized(&RowValues::new(&step), &step_specs);
    assert_eq!(serialized(&hand_step, &step_specs), step_bytes);
    assert_eq!(serialized(&derived_step, &step_specs), step_bytes);
    assert_eq!(read::<TableRow<conversation_store::TurnBySession>>(&turn_specs, &turn_bytes).0, turn);
    assert_eq!(read::<HandTurn>(&turn_specs, &turn_bytes), hand_turn);
    assert_eq!(read::<DerivedTurn>(&turn_specs, &turn_bytes), derived_turn);
    assert_eq!(read::<TableRow<conversation_store::StepByTurn>>(&step_specs, &step_bytes).0, step);
    assert_eq!(read::<HandStep>(&step_specs, &step_bytes), hand_step);
    assert_eq!(read::<DerivedStep>(&step_specs, &step_bytes), derived_step);

    let mut buffer = Vec::with_capacity(4096);
    let mut serialize =
        |criterion: &mut Criterion, group: &str, specs: &[ColumnSpec<'_>], ways: [&dyn SerializeRow; 3]| {
            let context = RowSerializationContext::from_specs(specs);
            let mut group = criterion.benchmark_group(group);
            for (variant, values) in VARIANTS.iter().zip(ways) {
                group.bench_function(*variant, |bencher| {
                    bencher.iter(|| {
                        buffer.clear();
                        let mut writer = RowWriter::new(&mut buffer);
                        black_box(values).serialize(&context, &mut writer).expect("the row fits");
                        black_box(buffer.len())
                    })
                });
            }
            group.finish();
        };
    let turn_values = RowValues::new(&turn);
    serialize(criterion, "serialize_turns_by_session", &turn_specs, [&turn_values, &hand_turn, &derived_turn]);
    let step_values = RowValues::new(&step);
    serialize(criterion, "serialize_steps_by_turn", &step_specs, [&step_values, &hand_step, &derived_step]);

    deserialize_group::<TableRow<conversation_store::TurnBySession>, HandTurn, DerivedTurn>(
        criterion,
        "deserialize_turns_by_session",
        &turn_specs,
        &turn_bytes,
    );
    deserialize_group::<TableRow<conversation_store::StepByTurn>, HandStep, DerivedStep>(
        criterion,
        "deserialize_steps_by_turn",
        &step_specs,
        &step_bytes,
    );
}

/// One criterion group reading the same row three ways, in [`VARIANTS`] order.
fn deserialize_group<Generated, Hand, Derived>(
    criterion: &mut Criterion,
    group: &str,
    specs: &[ColumnSpec<'_>],
    bytes: &[u8],
) where
    Generated: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    Hand: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    Derived: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
{
    let mut group = criterion.benchmark_group(group);
    group.bench_function(VARIANTS[0], |bencher| bencher.iter(|| deserialize::<Generated>(specs, bytes)));
    group.bench_function(VARIANTS[1], |bencher| bencher.iter(|| deserialize::<Hand>(specs, bytes)));
    group.bench_function(VARIANTS[2], |bencher| bencher.iter(|| deserialize::<Derived>(specs, bytes)));
    group.finish();
}

/// Operations per batch in a per-row round: a few milliseconds.
const ROW_BATCH: u64 = 20_000;
const ROW_ROUNDS: usize = 101;

/// Generated against hand-written for each group, in paired rounds. Each batch works on its own
/// fresh copies of the row and buffers, so where the heap puts them varies from round to round
/// rather than favouring one variant for a whole run.
fn per_row_paired() -> Vec<(&'static str, paired::Paired)> {
    let (turn, step) = (rows::turn(1), rows::step(1));
    let (turn_specs, step_specs) = (rows::turn_specs(), rows::step_specs());
    let (turn_bytes, step_bytes) =
        (serialized(&RowValues::new(&turn), &turn_specs), serialized(&RowValues::new(&step), &step_specs));
    let timed_serialize = |values: &dyn SerializeRow, specs: &[ColumnSpec<'_>]| {
        let context = RowSerializationContext::from_specs(specs);
        let mut buffer = Vec::with_capacity(4096);
        let start = Instant::now();
        for _ in 0..ROW_BATCH {
            buffer.clear();
            black_box(values).serialize(&context, &mut RowWriter::new(&mut buffer)).expect("the row fits");
            black_box(buffer.len());
        }
        start.elapsed()
    };
    fn timed_deserialize<R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>>(
        specs: &[ColumnSpec<'_>],
        bytes: &[u8],
    ) -> Duration {
        let bytes = bytes.to_vec();
        let start = Instant::now();
        for _ in 0..ROW_BATCH {
            black_box(deserialize::<R>(specs, &bytes));
        }
        start.elapsed()
    }
    let measure = |generated: &mut dyn FnMut() -> Duration, hand: &mut dyn FnMut() -> Duration| {
        paired::measure(ROW_ROUNDS, ROW_BATCH, generated, hand)
    };
    vec![
        (
            "serialize_turns_by_session",
            measure(&mut || timed_serialize(&RowValues::new(&turn.clone()), &turn_specs), &mut || {
                timed_serialize(&HandTurn(turn.clone()), &turn_specs)
            }),
        ),
        (
            "serialize_steps_by_turn",
            measure(&mut || timed_serialize(&RowValues::new(&step.clone()), &step_specs), &mut || {
                timed_serialize(&HandStep(step.clone()), &step_specs)
            }),
        ),
        (
            "deserialize_turns_by_session",
            measure(
                &mut || timed_deserialize::<TableRow<conversation_store::TurnBySession>>(&turn_specs, &turn_bytes),
                &mut || timed_deserialize::<HandTurn>(&turn_specs, &turn_bytes),
            ),
        ),
        (
            "deserialize_steps_by_turn",
            measure(
                &mut || timed_deserialize::<TableRow<conversation_store::StepByTurn>>(&step_specs, &step_bytes),
                &mut || timed_deserialize::<HandStep>(&step_specs, &step_bytes),
            ),
        ),
    ]
}

/// One row read from its bytes, as the driver does for each row of a result (the type check is
/// once per result, outside).
fn deserialize<'frame, 'metadata, R: DeserializeRow<'frame, 'metadata>>(
    specs: &'metadata [ColumnSpec<'metadata>],
    bytes: &'frame [u8],
) -> R {
    R::deserialize(ColumnIterator::new(black_box(specs), FrameSlice::new_borrowed(black_box(bytes)))).expect("reads")
}

/// Criterion's median for one benchmark, in nanoseconds.
fn median_ns(home: &std::path::Path, group: &str, variant: &str) -> Option<f64> {
    let path = home.join(group).join(variant).join("new").join("estimates.json");
    let estimates: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

/// `1.003 (0.991-1.012)`: the median ratio and its interquartile range over the rounds.
pub fn ratio_cell(paired: &paired::Paired) -> String {
    format!("{:.3} ({:.3}-{:.3})", paired.ratio, paired.ratio_p25, paired.ratio_p75)
}

fn write_report(
    home: &std::path::Path,
    ratios: &[(&str, paired::Paired)],
    end_to_end: Option<&str>,
) -> std::io::Result<()> {
    let mut report = format!(
        "# Mapper cost\n\nCommand: `cargo xtask bench --mapper`, on {}. The goal is a ratio of at most 1.02 to \
         hand-written code.\n\n## Per row, no node\n\nCriterion medians per row, then the ratio of generated to \
         hand-written code from {ROW_ROUNDS} paired rounds of {ROW_BATCH} rows each (median, interquartile range in \
         brackets): the two alternate, so the machine's drift between them cancels.\n\n\
         | | generated | hand-written | driver derive | generated / hand-written (paired) | driver derive / hand-written |\n\
         |---|---:|---:|---:|---:|---:|\n",
        chat_lab::report::machine()
    );
    for (group, paired) in ratios {
        let medians: Vec<Option<f64>> = VARIANTS.iter().map(|variant| median_ns(home, group, variant)).collect();
        let cell = |value: Option<f64>| value.map_or("-".to_owned(), |ns| format!("{ns:.1} ns"));
        let derive_ratio = match (medians[2], medians[1]) {
            (Some(derived), Some(hand)) if hand > 0.0 => format!("{:.3}", derived / hand),
            _ => "-".to_owned(),
        };
        report.push_str(&format!(
            "| {group} | {} | {} | {} | {} | {derive_ratio} |\n",
            cell(medians[0]),
            cell(medians[1]),
            cell(medians[2]),
            ratio_cell(paired),
        ));
    }
    report.push('\n');
    report.push_str(
        end_to_end.unwrap_or("## End to end\n\nNot measured: no node answered (start one with `cargo xtask db up`).\n"),
    );
    let out = home.parent().unwrap_or(home).join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("mapper.md"), &report)?;
    println!("\n{report}");
    Ok(())
}
