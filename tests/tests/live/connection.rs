//! Failing to connect is a clear, prompt error.

use std::time::{Duration, Instant};

use scylla_table::{ConnectionConfig, Database, Error};

#[tokio::test]
async fn no_node_at_the_address_gives_a_connection_error_naming_it() {
    // Nothing listens on port 1; this is what a stopped node looks like to the client.
    let config = ConnectionConfig::new(["127.0.0.1:1"], "chat").connect_timeout(Duration::from_secs(2));
    let started = Instant::now();
    let error = match Database::connect(&config).await {
        Err(error) => error,
        Ok(_) => panic!("connected to a closed port"),
    };
    assert!(started.elapsed() < Duration::from_secs(30), "gave up promptly: {:?}", started.elapsed());
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(message.contains("cargo xtask db up"), "{message}");
}

#[tokio::test]
async fn a_postgres_password_appears_in_no_error_or_debug_output() {
    use conversation_pg::{PgConfig, PgStore};
    const SECRET: &str = "hunter2-not-for-logs";
    for url in [
        format!("postgres://app:{SECRET}@127.0.0.1:1/chat"),
        format!("host=127.0.0.1 port=1 user=app password={SECRET} dbname=chat"),
        format!("host=127.0.0.1 port=1 user=app password='{SECRET} with a space' dbname=chat"),
        // Malformed: the error quotes the connection string.
        format!("host=127.0.0.1 port=nope user=app password={SECRET}"),
    ] {
        let config = PgConfig::new(url.clone(), "chat");
        let debug = format!("{config:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        let error = match PgStore::connect(&config).await {
            Err(error) => error,
            Ok(store) => panic!("connected to a closed port: {store:?}"),
        };
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(!shown.contains(SECRET), "the password shows in {shown}");
        }
    }
}

#[tokio::test]
async fn a_failure_says_whether_to_retry_fix_the_sql_or_fix_the_input() {
    use chat_migrate::{Failure, MigrateError};
    use conversation_pg::{PgConfig, PgStore};
    let unreachable = PgStore::connect(&PgConfig::new("host=127.0.0.1 port=1 user=app dbname=chat", "chat")).await;
    let unreachable = MigrateError::from(unreachable.expect_err("nothing listens on port 1"));
    assert_eq!(unreachable.failure(), Failure::Unavailable, "{unreachable}");

    let schema = tests::live::TestSchema::new("failure_kinds").await;
    let client = schema.store.client().await.unwrap();
    let refused = client.query("SELECT * FROM no_such_table", &[]).await.expect_err("the table is missing");
    let sql = MigrateError::from(conversation_store::StoreError::Relational {
        action: "reading a missing table".into(),
        source: Box::new(refused),
    });
    assert_eq!(sql.failure(), Failure::Sql, "{sql}");
    assert_eq!(MigrateError::InvalidInput("--rate 0".into()).failure(), Failure::BadInput);
    assert_eq!(MigrateError::Refused("outbox not drained".into()).failure(), Failure::BadInput);
    drop(client);
    schema.drop().await;
}
