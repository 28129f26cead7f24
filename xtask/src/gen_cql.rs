//! `cargo xtask gen-cql`: writes one `.cql` file per table into `schema/`.

use scylla_table_schema::{render_schema_files, schema_drift, write_schema_folder};

pub enum Mode {
    Write,
    Check,
}

pub fn run(mode: Mode) -> Result<(), String> {
    let dir = crate::workspace_root().join("schema");
    let expected = render_schema_files(conversation_store::all_tables());
    let failed = |error: std::io::Error| format!("cannot update {}: {error}", dir.display());
    match mode {
        Mode::Check => {
            let drift = schema_drift(&dir, &expected).map_err(failed)?;
            if drift.is_empty() {
                println!("schema/ is up to date ({} files)", expected.len());
                return Ok(());
            }
            let lines: Vec<String> = drift.iter().map(|drift| format!("  {drift}")).collect();
            Err(format!("schema/ is stale:\n{}\nrun `cargo xtask gen-cql` and commit schema/", lines.join("\n")))
        }
        Mode::Write => {
            for change in write_schema_folder(&dir, &expected).map_err(failed)? {
                println!("{change}: fixed");
            }
            println!("schema/ holds {} files", expected.len());
            Ok(())
        }
    }
}
