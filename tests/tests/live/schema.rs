//! Applying, validating and migrating schemas against the live node.

use scylla_table::{Error, SchemaMismatch, ScyllaTable};
use tests::fixtures::{Drifty, EveryType, PageViews};
use tests::live::TestKeyspace;

#[tokio::test]
async fn applied_schema_reads_back_equal_to_the_derived_one() {
    let test = TestKeyspace::new("applied_schema").await;
    let keyspace = test.config.keyspace.clone();
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

#[tokio::test]
async fn user_types_are_created_before_their_tables_and_their_drift_is_found_and_migrated() {
    let test = TestKeyspace::new("user_types").await;
    let keyspace = test.config.keyspace.clone();
    // `address` uses `geo_point`: creating them in the wrong order would fail.
    test.db.apply_schema(test.replication(), &[EveryType::table_schema()]).await.unwrap();
    test.db.validate_schema(&[EveryType::table_schema()]).await.unwrap();
    assert!(test.db.plan_migration(&[EveryType::table_schema()]).await.unwrap().is_empty());

    // The live `address` as an older build made it: without `location`, with a field the code
    // no longer has, and `zip` of another type.
    test.db.run_ddl(&format!("DROP TABLE {keyspace}.every_type")).await.unwrap();
    test.db.run_ddl(&format!("DROP TYPE {keyspace}.address")).await.unwrap();
    test.db
        .run_ddl(&format!(
            "CREATE TYPE {keyspace}.address (street text, zip bigint, lines frozen<list<text>>, floor int)"
        ))
        .await
        .unwrap();
    let user_type = "address".to_owned();
    let Err(Error::SchemaMismatch(found)) = test.db.validate_schema(&[EveryType::table_schema()]).await else {
        panic!("the drifted type must be reported");
    };
    let type_mismatches: Vec<&SchemaMismatch> =
        found.iter().filter(|mismatch| !matches!(mismatch, SchemaMismatch::MissingTable { .. })).collect();
    assert_eq!(
        type_mismatches,
        [
            &SchemaMismatch::TypeFieldMismatch {
                user_type: user_type.clone(),
                field: "zip".into(),
                expected: "int".into(),
                found: "bigint".into()
            },
            &SchemaMismatch::MissingTypeField {
                user_type: user_type.clone(),
                field: "location".into(),
                expected_type: "frozen<geo_point>".into()
            },
            &SchemaMismatch::ExtraTypeField {
                user_type: user_type.clone(),
                field: "floor".into(),
                found_type: "int".into()
            },
        ]
    );

    // `IF NOT EXISTS` would leave the drifted type as it is: applying refuses it instead.
    let refused = test.db.apply_schema(test.replication(), &[EveryType::table_schema()]).await.unwrap_err();
    assert!(matches!(&refused, Error::SchemaMismatch(found) if found.len() == 3), "{refused}");

    // The plan adds the missing field before the table that uses the type, and refuses the
    // type change and the extra field, which CQL can neither make nor drop.
    let plan = test.db.plan_migration(&[EveryType::table_schema()]).await.unwrap();
    let cql: Vec<&str> = plan.steps.iter().map(|step| step.cql.as_str()).collect();
    assert_eq!(cql[0], format!("ALTER TYPE {keyspace}.address ADD location frozen<geo_point>"));
    assert!(cql[1].starts_with(&format!("CREATE TABLE IF NOT EXISTS {keyspace}.every_type")), "{plan}");
    let refused: Vec<&str> = plan.refused.iter().map(|change| change.description.as_str()).collect();
    assert_eq!(
        refused,
        [
            format!("change the type of field {keyspace}.address.zip from bigint to int"),
            format!("drop field {keyspace}.address.floor int"),
        ],
        "{plan}"
    );
    assert!(plan.refused.iter().all(|change| change.forced_step.is_none()), "CQL can make neither change");

    // With `zip` as the code has it, the migration brings the type in line; a value written
    // before `location` existed reads back with it as None.
    test.db.run_ddl(&format!("DROP TYPE {keyspace}.address")).await.unwrap();
    test.db
        .run_ddl(&format!("CREATE TYPE {keyspace}.address (street text, zip int, lines frozen<list<text>>)"))
        .await
        .unwrap();
    test.db
        .run_ddl(&format!("CREATE TABLE {keyspace}.homes (id int PRIMARY KEY, home frozen<address>)"))
        .await
        .unwrap();
    test.db
        .run_ddl(&format!(
            "INSERT INTO {keyspace}.homes (id, home) VALUES (1, {{street: 'Old Rd', zip: 7, lines: ['x']}})"
        ))
        .await
        .unwrap();
    test.db.migrate(&[EveryType::table_schema()], false).await.unwrap();
    test.db.validate_schema(&[EveryType::table_schema()]).await.unwrap();
    let rows: Vec<(tests::fixtures::Address,)> =
        test.db.query_rows(&format!("SELECT home FROM {keyspace}.homes WHERE id = 1"), ()).await.unwrap();
    let old = tests::fixtures::Address { street: "Old Rd".into(), zip: 7, lines: vec!["x".into()], location: None };
    assert_eq!(rows[0].0, old);

    // Another writer's field: a value of the struct, written whole, would erase it, so the write
    // is refused; reading skips the field.
    test.db.run_ddl(&format!("ALTER TYPE {keyspace}.address ADD floor int")).await.unwrap();
    test.db
        .run_ddl(&format!(
            "UPDATE {keyspace}.homes SET home = {{street: 'Old Rd', zip: 7, lines: ['x'], floor: 3}} WHERE id = 1"
        ))
        .await
        .unwrap();
    let refused = test
        .db
        .session()
        .query_unpaged(format!("INSERT INTO {keyspace}.homes (id, home) VALUES (1, ?)"), (old.clone(),))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("has a field `floor` that the struct lacks"), "{refused}");
    let rows: Vec<(tests::fixtures::Address,)> =
        test.db.query_rows(&format!("SELECT home FROM {keyspace}.homes WHERE id = 1"), ()).await.unwrap();
    assert_eq!(rows[0].0, old, "read, with `floor` skipped");
    let floors: Vec<(Option<i32>,)> =
        test.db.query_rows(&format!("SELECT home.floor FROM {keyspace}.homes WHERE id = 1"), ()).await.unwrap();
    assert_eq!(floors, [(Some(3),)], "the other writer's field is still there");
    test.drop().await;
}
