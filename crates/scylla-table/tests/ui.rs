//! Compile-fail tests: every bad input gets an error under the offending token.
//!
//! The `.stderr` files are the compiler's exact output, so they are tied to one compiler version.
//! Regenerate them with `TRYBUILD=overwrite cargo test -p scylla-table --test ui` after a toolchain change.

/// The rustc the `.stderr` files were written with.
const PINNED_RUSTC: &str = "rustc 1.95.0";

#[test]
fn ui() {
    let version = std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned()))
        .arg("--version")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        version.starts_with(PINNED_RUSTC),
        "the UI expectations were written with {PINNED_RUSTC}, but this is `{}`: use that toolchain, or \
         regenerate with `TRYBUILD=overwrite cargo test -p scylla-table --test ui` and review the diff",
        version.trim()
    );
    // A pattern that matches nothing passes: count the cases first.
    let groups =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui")).expect("the cases are in tests/ui");
    let cases = groups
        .flatten()
        .filter_map(|group| std::fs::read_dir(group.path()).ok())
        .flatten()
        .flatten()
        .filter(|case| case.path().extension().is_some_and(|extension| extension == "rs"))
        .count();
    assert!(cases >= 40, "only {cases} compile-fail cases under tests/ui/*/");
    trybuild::TestCases::new().compile_fail("tests/ui/*/*.rs");
}
