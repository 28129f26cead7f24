//! Shared fixtures for the workspace's integration tests (in `tests/tests/`).

pub mod fixtures;
pub mod live;
pub mod local_node;
pub mod tcp_proxy;

/// The runtime under another path, for the hygiene test's `#[table(crate = ...)]`.
pub mod reexport {
    pub use scylla_table;
}

/// Compiles the README's Rust examples as doctests, so the front page cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
