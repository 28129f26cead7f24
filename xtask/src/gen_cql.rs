//! `cargo xtask gen-cql`: writes one `.cql` file per table into `schema/`.

use std::fs;

use scylla_table_schema::{render_schema_files, schema_drift, SchemaDrift};

pub enum Mode {
    Write,
    Check,
}

pub fn run(mode: Mode) -> Result<(), String> {
    let dir = crate::workspace_root().join("schema");
    let expected = render_schema_files(conversation_store::all_tables());
    let drift = schema_drift(&dir, &expected).map_err(|error| format!("cannot read {}: {error}", dir.display()))?;
    match mode {
        Mode::Check => {
            if drift.is_empty() {
                println!("schema/ is up to date ({} files)", expected.len());
                return Ok(());
            }
            let lines: Vec<String> = drift.iter().map(|drift| format!("  {drift}")).collect();
            Err(format!("schema/ is stale:\n{}\nrun `cargo xtask gen-cql` and commit schema/", lines.join("\n")))
        }
        Mode::Write => {
            fs::create_dir_all(&dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
            for (name, contents) in &expected {
                let path = dir.join(name);
                fs::write(&path, contents).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            }
            for stale in &drift {
                if let SchemaDrift::Extra(name) = stale {
                    let path = dir.join(name);
                    fs::remove_file(&path).map_err(|error| format!("cannot remove {}: {error}", path.display()))?;
                    println!("removed schema/{name}");
                }
            }
            println!("wrote {} files to schema/", expected.len());
            Ok(())
        }
    }
}
