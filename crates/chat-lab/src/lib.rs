//! The lab: what runs on a developer's machine to measure and rehearse the migration, never in
//! the application.
//!
//! - **The benchmark** (`chat-bench`, run by `cargo xtask bench [--quick]`) measures the
//!   conversation platform's three read patterns on the ScyllaDB schema and on the relational
//!   schema it replaces, side by side. It loads the same deterministic data set into both stores
//!   (or reuses it), drives each pattern in closed loop at several concurrencies and in open loop
//!   at fixed rates, measures what the migration costs (backfill against the node's insert
//!   ceiling, dual-write against PostgreSQL alone, adoption's triggers), and writes
//!   `target/bench/report.md` and PNG plots. [`model`] says what is measured (configuration,
//!   patterns, systems), [`data_set`] loads it, [`sides`] runs each pattern on each system
//!   through [`driver`], [`setup`] reads what the servers are, [`outcome`] holds what a run found,
//!   [`report`] and [`plot`] render it, and [`run`] runs it all; [`scale`] repeats it at several
//!   sizes.
//! - **The rehearsal** ([`rehearsal`], `chat-migrate rehearse`) runs every phase of the migration
//!   under load against the local node, freezes it, and writes a report with plots.
//! - **`seed`** ([`seed`]) writes the data set into PostgreSQL only, for trying a backfill.
//! - [`storage`] measures what each store holds on disk; [`progress_bar`] draws progress on the
//!   terminal.

// Bottom up: the model, the driver, the data set and the sides that run the patterns on it; the
// measurements (read paths, ladder, saturation, profiles, the migration's and adoption's costs);
// then the outcome, its report and plots, and the run on top. The rehearsal, the seed and the
// storage sizes stand beside the benchmark.
pub mod model;

pub mod cpu_time;
pub mod driver;
pub mod priority;

pub mod data_set;
pub mod postgres_side;
pub mod raw_driver;
pub mod scylla_side;
pub mod setup;
pub mod sides;

pub mod adoption;
pub mod migration;
pub mod profile;
pub mod rate_search;
pub mod read_path;
pub mod saturation;
pub mod scale;

pub mod outcome;
pub mod plot;
pub mod report;
pub mod run;

pub mod progress_bar;
pub mod rehearsal;
pub mod seed;
pub mod storage;

pub use chat_dataset as dataset;
pub use chat_dataset::rng;

pub use data_set::dataset_name;
pub use model::{BenchConfig, BenchError, Pattern, System, P99_TARGET_MS};
pub use outcome::{BenchOutcome, Series, SustainedRate};
pub use run::run;
