//! Shared fixtures for the workspace's integration tests (in `tests/tests/`).

pub mod fixtures;
pub mod live;

/// The runtime under another path, for the hygiene test's `#[table(crate = ...)]`.
pub mod reexport {
    pub use scylla_table;
}
