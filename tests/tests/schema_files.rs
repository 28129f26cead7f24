//! `schema/` is what `cargo xtask gen-cql` writes today.

use std::path::Path;

use scylla_table::schema::{render_schema_files, schema_drift, GENERATED_HEADER};

#[test]
fn schema_folder_is_fresh() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema");
    let expected = render_schema_files(conversation_store::all_tables());
    let drift = schema_drift(&dir, &expected).expect("schema/ is readable");
    let report: Vec<String> = drift.iter().map(ToString::to_string).collect();
    assert!(report.is_empty(), "{}: run `cargo xtask gen-cql` and commit", report.join("; "));
}

#[test]
fn generated_files_are_deterministic() {
    let first = render_schema_files(conversation_store::all_tables());
    let second = render_schema_files(conversation_store::all_tables());
    assert_eq!(first, second);
    for (name, contents) in &first {
        assert!(contents.starts_with(GENERATED_HEADER), "{name} starts with the generated header");
        assert!(contents.ends_with(";\n"), "{name} ends with a newline");
        assert!(!contents.contains('\r'), "{name} uses LF line endings");
    }
    let names: Vec<&String> = first.keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}
