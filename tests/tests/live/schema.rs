//! Applying, validating and migrating schemas against the live node.

use scylla_table::{Error, SchemaMismatch, ScyllaTable};
use tests::fixtures::{create_address_type, Drifty, EveryType, PageViews};
use tests::live::TestKeyspace;

#[tokio::test]
async fn applied_schema_reads_back_equal_to_the_derived_one() {
    let test = TestKeyspace::new("applied_schema").await;
    let keyspace = test.config.keyspace.clone();
    test.db.run_ddl(&create_address_type(&keyspace)).await.unwrap();
    let mut tables = conversation_store::all_tables();
    tables.push(EveryType::table_schema());
    tables.push(PageViews::table_schema());
    test.db.apply_schema(test.replication(), &tables).await.unwrap();
    // Applying again changes nothing and does not fail.
    test.db.apply_schema(test.replication(), &tables).await.unwrap();
    test.db.validate_schema(&tables).await.unwrap();

    for table in &tables {
        let live = scylla_table::read_live_table(test.db.session(), &keyspace, &table.name).await.unwrap().unwrap();
        let mut live_columns: Vec<(String, String)> =
            live.columns.iter().map(|column| (column.name.clone(), column.cql_type.clone())).collect();
        let mut derived: Vec<(String, String)> =
            table.columns.iter().map(|column| (column.name.clone(), column.cql_type.to_string())).collect();
        live_columns.sort();
        derived.sort();
        assert_eq!(live_columns, derived, "columns of {}", table.name);
    }
    let plan = test.db.plan_migration(&tables).await.unwrap();
    assert!(plan.is_empty(), "nothing to migrate after apply: {plan}");
    test.drop().await;
}

#[tokio::test]
async fn concurrent_apply_from_several_clients_is_safe() {
    let test = TestKeyspace::new("concurrent_apply").await;
    let tables = conversation_store::all_tables();
    let applies = (0..4).map(|_| test.db.apply_schema(test.replication(), &tables));
    for result in futures::future::join_all(applies).await {
        result.unwrap();
    }
    test.db.validate_schema(&tables).await.unwrap();
    test.drop().await;
}

/// Creates `drifty` by hand with `ddl` (the columns and key), then returns what validation says.
async fn mismatches_for(test: &TestKeyspace, ddl: &str) -> Vec<SchemaMismatch> {
    let keyspace = &test.config.keyspace;
    test.db.run_ddl(&format!("DROP TABLE IF EXISTS {keyspace}.drifty")).await.unwrap();
    test.db.run_ddl(&format!("CREATE TABLE {keyspace}.drifty {ddl}")).await.unwrap();
    match test.db.validate_schema(&[Drifty::table_schema()]).await {
        Err(Error::SchemaMismatch(mismatches)) => mismatches,
        other => panic!("expected a schema mismatch for `{ddl}`, got {other:?}"),
    }
}

#[tokio::test]
async fn each_kind_of_drift_is_detected_with_table_column_expected_and_found() {
    let test = TestKeyspace::new("drift").await;
    let table = "drifty".to_owned();

    let missing = test.db.validate_schema(&[Drifty::table_schema()]).await.unwrap_err();
    assert!(
        matches!(&missing, Error::SchemaMismatch(m) if m == &[SchemaMismatch::MissingTable { table: table.clone() }])
    );
    assert!(missing.to_string().contains("table `drifty` does not exist"), "{missing}");

    let found = mismatches_for(
        &test,
        "(account text, created_at timestamp, PRIMARY KEY (account, created_at)) WITH CLUSTERING ORDER BY (created_at DESC)",
    )
    .await;
    assert_eq!(
        found,
        [SchemaMismatch::MissingColumn { table: table.clone(), column: "title".into(), expected_type: "text".into() }]
    );

    let found = mismatches_for(
        &test,
        "(account text, created_at timestamp, title text, legacy int, PRIMARY KEY (account, created_at)) \
         WITH CLUSTERING ORDER BY (created_at DESC)",
    )
    .await;
    assert_eq!(
        found,
        [SchemaMismatch::ExtraColumn { table: table.clone(), column: "legacy".into(), found_type: "int".into() }]
    );

    let found = mismatches_for(
        &test,
        "(account text, created_at timestamp, title int, PRIMARY KEY (account, created_at)) \
         WITH CLUSTERING ORDER BY (created_at DESC)",
    )
    .await;
    assert_eq!(
        found,
        [SchemaMismatch::TypeMismatch {
            table: table.clone(),
            column: "title".into(),
            expected: "text".into(),
            found: "int".into()
        }]
    );

    let found =
        mismatches_for(&test, "(account text, created_at timestamp, title text, PRIMARY KEY ((account, created_at)))")
            .await;
    assert_eq!(
        found,
        [SchemaMismatch::KeyMismatch {
            table: table.clone(),
            column: "created_at".into(),
            expected: "clustering column #0".into(),
            found: "partition key column #1".into()
        }]
    );

    let found = mismatches_for(
        &test,
        "(account text, created_at timestamp, title text, PRIMARY KEY (account, created_at)) \
         WITH CLUSTERING ORDER BY (created_at ASC)",
    )
    .await;
    assert_eq!(
        found,
        [SchemaMismatch::ClusteringOrderMismatch {
            table,
            column: "created_at".into(),
            expected: "desc".into(),
            found: "asc".into()
        }]
    );
    test.drop().await;
}

#[tokio::test]
async fn migration_adds_a_column_then_refuses_a_key_change() {
    let test = TestKeyspace::new("migration").await;
    let keyspace = test.config.keyspace.clone();
    test.db
        .run_ddl(&format!(
            "CREATE TABLE {keyspace}.drifty (account text, created_at timestamp, PRIMARY KEY (account, created_at)) \
             WITH CLUSTERING ORDER BY (created_at DESC) AND comment = 'v1'"
        ))
        .await
        .unwrap();

    let plan = test.db.plan_migration(&[Drifty::table_schema()]).await.unwrap();
    let cql: Vec<&str> = plan.steps.iter().map(|step| step.cql.as_str()).collect();
    assert_eq!(
        cql,
        [
            format!("ALTER TABLE {keyspace}.drifty ADD title text"),
            format!("ALTER TABLE {keyspace}.drifty WITH comment = 'v2'"),
        ]
    );
    assert!(plan.refused.is_empty());
    test.db.migrate(&[Drifty::table_schema()], false).await.unwrap();
    test.db.validate_schema(&[Drifty::table_schema()]).await.unwrap();
    assert!(test.db.plan_migration(&[Drifty::table_schema()]).await.unwrap().is_empty());

    // Now the live key differs from the code's: the migration must refuse, and change nothing.
    test.db.run_ddl(&format!("DROP TABLE {keyspace}.drifty")).await.unwrap();
    test.db
        .run_ddl(&format!(
            "CREATE TABLE {keyspace}.drifty (account text, created_at timestamp, title text, \
             PRIMARY KEY ((account, created_at)))"
        ))
        .await
        .unwrap();
    let refused = test.db.migrate(&[Drifty::table_schema()], false).await.unwrap_err();
    let Error::MigrationRefused(changes) = &refused else { panic!("expected a refusal, got {refused:?}") };
    assert_eq!(changes.len(), 1, "{refused}");
    assert!(changes[0].description.contains("change the primary key"), "{refused}");
    assert!(refused.to_string().contains("create a new table"), "{refused}");
    assert!(changes[0].forced_step.is_none(), "CQL cannot change a key in place");
    test.drop().await;
}
