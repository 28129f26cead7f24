//! Shared fixtures for the workspace's integration tests (in `tests/tests/`).

pub mod app_sql;
pub mod fixtures;
pub mod live;

/// The node of `cargo xtask db up` in this workspace, for the tests that freeze it.
pub fn local_node() -> Result<local_cassandra::LocalNode, String> {
    local_cassandra::LocalNode::find(&local_node_dir())
}

/// Where `cargo xtask db up` keeps the local node.
pub fn local_node_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/cassandra")
}
pub mod tcp_proxy;

/// The runtime under another path, for the hygiene test's `#[table(crate = ...)]`.
pub mod reexport {
    pub use scylla_table;
}

/// Compiles the README's Rust examples as doctests, so the front page cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;

/// The guides' Rust examples, compiled the same way.
#[cfg(doctest)]
#[doc = include_str!("../../docs/conversation-store.md")]
pub struct ConversationStoreGuideExamples;

#[cfg(doctest)]
#[doc = include_str!("../../docs/migration.md")]
pub struct MigrationGuideExamples;
