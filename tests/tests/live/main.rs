//! Tests against a real CQL node (Cassandra 5.0 from `cargo xtask db up`, or `SCYLLA_URI`).
//! Each test works in a keyspace of its own and drops it when done.

mod adoption;
mod batches;
mod bench;
mod cli;
mod conformance;
mod connection;
mod conversations;
mod examples;
mod microseconds;
mod migration;
mod operating;
mod operations;
mod pgbouncer;
mod read_side;
mod round_trip;
mod schema;
mod scylla_primary;
mod shared_phase;
mod tls;
mod truth;
