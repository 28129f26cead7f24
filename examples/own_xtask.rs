//! A team's own `xtask` for its tables (those of the `own_tables` example): writes and checks its
//! schema folder, and migrates a live keyspace, with the library calls `cargo xtask gen-cql` and
//! `cargo xtask migrate` use for this repository's tables.
//!
//! ```text
//! cargo run -p examples --example own_xtask -- gen-cql [--check] DIR     # the tables' own folder
//! cargo run -p examples --example own_xtask -- migrate [--dry-run]      # SCYLLA_URI, SCYLLA_KEYSPACE
//! ```
#[path = "own_tables/tables.rs"]
mod tables;

use std::path::PathBuf;
use std::process::ExitCode;

use scylla_table::schema::{render_schema_files, schema_drift, write_schema_folder};
use scylla_table::{ConnectionConfig, Database};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|arg| arg == name);
    let result = match args.first().map(String::as_str) {
        // No default folder: the folder belongs to these tables alone, and a write removes the
        // generated files of any other table in it.
        Some("gen-cql") => match args.iter().skip(1).find(|arg| !arg.starts_with("--")) {
            Some(dir) => gen_cql(PathBuf::from(dir), flag("--check")),
            None => Err("gen-cql needs the folder of these tables' schema files".to_owned()),
        },
        Some("migrate") => migrate(flag("--dry-run")).await.map_err(|error| error.to_string()),
        _ => Err("usage: own_xtask gen-cql [--check] DIR | migrate [--dry-run]".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// One `.cql` file per table, each with the types it uses first; `--check` only compares.
fn gen_cql(dir: PathBuf, check: bool) -> Result<(), String> {
    let files = render_schema_files(tables::all_tables());
    let failed = |error: std::io::Error| format!("{}: {error}", dir.display());
    if check {
        let drift = schema_drift(&dir, &files).map_err(failed)?;
        if drift.is_empty() {
            println!("{} is up to date ({} files)", dir.display(), files.len());
            return Ok(());
        }
        let lines: Vec<String> = drift.iter().map(|change| format!("  {change}")).collect();
        return Err(format!(
            "the schema folder is stale:\n{}\nrun `own_xtask gen-cql` and commit it",
            lines.join("\n")
        ));
    }
    for change in write_schema_folder(&dir, &files).map_err(failed)? {
        println!("{change}: fixed");
    }
    println!("{} holds {} files", dir.display(), files.len());
    Ok(())
}

/// Prints what the live keyspace needs, then applies the additive steps unless `dry_run`.
async fn migrate(dry_run: bool) -> scylla_table::Result<()> {
    let config = ConnectionConfig::from_env("own_tables")?;
    let db = Database::connect(&config).await?;
    let tables = tables::all_tables();
    let plan = db.plan_migration(&tables).await?;
    print!("{plan}");
    if !dry_run && !plan.is_empty() {
        db.apply_schema(&config.replication, &[]).await?;
        db.migrate(&tables, false).await?;
        println!("migration applied");
    }
    Ok(())
}
