//! Faults on the local 3-node cluster of `cargo xtask cluster up` (127.0.0.11-13), in a keyspace
//! with replication factor 3 and the store's defaults (writes at QUORUM, reads at ONE):
//!
//! - `nodes`: nodes killed, two at once, and paused, under a steady load of conversation writes.
//!   Every test counts what the writers were told succeeded (acked), what of that cannot be read
//!   back (lost, must be 0), and what was stored that no writer asked for (duplicated, must be 0).
//! - `proxy`: a proxy in front of each node drops replies and forges the server's errors, to show
//!   which statements the driver retries, and that the store neither loses nor doubles a write
//!   whose reply was lost.
//! - `datacenters`: the same three nodes as two datacenters (`cargo xtask cluster up --dcs 2`):
//!   one datacenter lost under load at LOCAL_QUORUM, and one node of the local datacenter lost.
//! - `relay`: the relay toward PostgreSQL with one replica that missed every write (hinted
//!   handoff off): it must copy what a quorum acknowledged.
//!
//! These tests kill processes, so they run only through `cargo xtask test --faults`, which brings
//! the cluster up, runs them one at a time (`--ignored --test-threads=1`) and stops it again.
//! They signal only the nodes that command started, through `cargo xtask cluster`.

mod cluster;
mod datacenters;
mod load;
mod nodes;
mod proxy;
mod relay;
mod snapshots;
