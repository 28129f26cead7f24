//! `cargo xtask migrate [--dry-run] [--allow-destructive]`: brings the live conversation schema
//! in line with the code, or prints what that would take.

use scylla_table::{ConnectionConfig, Database};

pub struct Options {
    pub dry_run: bool,
    pub allow_destructive: bool,
}

pub fn run(options: Options) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|error| format!("cannot start tokio: {error}"))?;
    runtime.block_on(migrate(options)).map_err(|error| error.to_string())
}

async fn migrate(options: Options) -> scylla_table::Result<()> {
    let config = ConnectionConfig::from_env("chat")?;
    let db = Database::connect(&config).await?;
    let tables = conversation_store::all_tables();
    println!("keyspace {} on {}", config.keyspace, config.contact_points.join(", "));
    let plan = db.plan_migration(&tables).await?;
    print!("{plan}");
    if options.dry_run || plan.is_empty() {
        return Ok(());
    }
    db.apply_schema(&config.replication, &[]).await?;
    db.migrate(&tables, options.allow_destructive).await?;
    println!("migration applied");
    Ok(())
}
