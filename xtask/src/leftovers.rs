//! What the live tests make (keyspaces on the node, schemas in PostgreSQL) is theirs to drop, also
//! when they fail. `cargo xtask test` sweeps what an earlier run that was killed left on the local
//! databases, and fails if this run leaves anything behind.

use scylla_table::{ConnectionConfig, Database};

use crate::postgres;

/// The benchmark tests' data sets (`tests/tests/live/bench.rs`: the tiny one, and sizes 20 and
/// 40), whose keyspace and schema are named by `chat_lab::dataset_name`.
const BENCH_TEST_DATA_SETS: [&str; 3] = ["bench_tiny", "bench_20_sessions", "bench_40_sessions"];

/// Names the tests give what they make: `t_<test>_<pid>_<n>` for a test's own keyspace or schema,
/// and the benchmark tests' data sets.
fn made_by_a_test(name: &str) -> bool {
    name.starts_with("t_") || BENCH_TEST_DATA_SETS.contains(&name)
}

/// The test-made keyspaces and schemas on the local databases.
#[derive(Default)]
struct Leftovers {
    keyspaces: Vec<String>,
    schemas: Vec<String>,
}

impl Leftovers {
    fn find(runtime: &tokio::runtime::Runtime, db: &Database) -> Result<Leftovers, String> {
        let keyspaces: Vec<(String,)> = runtime
            .block_on(db.query_rows("SELECT keyspace_name FROM system_schema.keyspaces", ()))
            .map_err(|error| error.to_string())?;
        let schemas = postgres::psql("SELECT nspname FROM pg_namespace", postgres::DATABASE)?;
        let mut found = Leftovers {
            keyspaces: keyspaces.into_iter().map(|(name,)| name).filter(|name| made_by_a_test(name)).collect(),
            schemas: schemas.lines().filter(|name| made_by_a_test(name)).map(str::to_owned).collect(),
        };
        found.keyspaces.sort();
        found.schemas.sort();
        Ok(found)
    }

    fn is_empty(&self) -> bool {
        self.keyspaces.is_empty() && self.schemas.is_empty()
    }

    fn describe(&self) -> String {
        let keyspaces = self.keyspaces.iter().map(|name| format!("keyspace {name}"));
        let schemas = self.schemas.iter().map(|name| format!("schema {name}"));
        keyspaces.chain(schemas).collect::<Vec<_>>().join(", ")
    }
}

/// A runtime and a connection to the local node, for the sweep and the check.
fn connect() -> Result<(tokio::runtime::Runtime, Database), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|error| format!("cannot start tokio: {error}"))?;
    let db = runtime
        .block_on(Database::connect(&ConnectionConfig::new([scylla_table::LOCAL_NODE], "system")))
        .map_err(|error| error.to_string())?;
    Ok((runtime, db))
}

/// Drops what a killed earlier run left. Only on the local databases, which belong to this
/// checkout; a cluster that `SCYLLA_URI` points at is not swept.
pub fn sweep() -> Result<(), String> {
    let (runtime, db) = connect()?;
    let left = Leftovers::find(&runtime, &db)?;
    if left.is_empty() {
        return Ok(());
    }
    println!("dropping what an earlier run left: {}", left.describe());
    for keyspace in &left.keyspaces {
        runtime.block_on(db.drop_keyspace(keyspace)).map_err(|error| error.to_string())?;
    }
    for schema in &left.schemas {
        postgres::psql(&format!("DROP SCHEMA \"{schema}\" CASCADE"), postgres::DATABASE)?;
    }
    Ok(())
}

/// Fails, naming them, if the tests left keyspaces or schemas behind.
pub fn check() -> Result<(), String> {
    let (runtime, db) = connect()?;
    let left = Leftovers::find(&runtime, &db)?;
    match left.is_empty() {
        true => Ok(()),
        false => Err(format!("the tests left {} behind; each live test must drop what it makes", left.describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::made_by_a_test;

    #[test]
    fn only_what_tests_name_counts_as_theirs() {
        for name in ["t_access_10462_4", "t_rehearsal_25082", "bench_tiny", "bench_20_sessions", "bench_40_sessions"] {
            assert!(made_by_a_test(name), "{name}");
        }
        for name in ["chat", "rehearsal", "bench_quick", "bench_default", "bench_10000_sessions", "system", "public"] {
            assert!(!made_by_a_test(name), "{name}");
        }
    }
}
