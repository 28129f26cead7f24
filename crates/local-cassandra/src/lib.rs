//! The local Apache Cassandra processes that `cargo xtask db up` and `cargo xtask cluster up`
//! start: xtask, the tests and the lab share this crate to find a node's JVM, signal it, ask it
//! through `nodetool` and measure what it holds on disk. Starting a node (its config, JVM flags
//! and jars) stays in xtask.
//!
//! Only a process that is provably the node is ever signalled: it is found through the pid file
//! its folder holds, and its command line must name that folder's config.
//!
//! | Module | What |
//! |---|---|
//! | [`process`] | a process's state, signals, and whether a pid is the Cassandra of a given config |
//! | [`mod@nodetool`] | `nodetool` from the shared jars, against one node's JMX port |
//! | [`node`] | the single development node: found, paused, flushed, measured on disk |

pub mod node;
pub mod nodetool;
pub mod process;

pub use node::{LocalNode, Paused};
pub use nodetool::nodetool;
pub use process::{process_state, runs_cassandra_with, signal, wait_until_gone, ProcessState, Signal};
