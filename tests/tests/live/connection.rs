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
    assert!(message.contains("Is a node running there") && message.contains("SCYLLA_URI"), "{message}");
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

/// Whether the store's connections to `url` are encrypted, as the server sees them.
async fn encrypted(url: &str) -> Result<bool, conversation_store::StoreError> {
    let store = conversation_pg::PgStore::connect(&conversation_pg::PgConfig::new(url, "public")).await?;
    let client = store.client().await?;
    Ok(client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0))
}

#[tokio::test]
async fn postgres_over_tls_trusts_the_servers_ca_and_is_refused_with_another() {
    if std::env::var("POSTGRES_URL").is_ok_and(|url| !url.is_empty()) {
        eprintln!("POSTGRES_URL is set: TLS is tested against the local server of `cargo xtask db up` only");
        return;
    }
    let tls = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/postgres/tls");
    let base = tests::live::postgres_connection();
    let with = |options: &str| format!("{base} {options}");
    let ca = tls.join("ca.pem").display().to_string();
    let other = tls.join("other-ca.pem").display().to_string();

    assert!(encrypted(&with(&format!("sslmode=verify-full sslrootcert={ca}"))).await.expect("verify-full connects"));
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/chat?sslmode=verify-ca&sslrootcert={}",
        tests::live::postgres_port(),
        ca.replace('/', "%2F")
    );
    assert!(encrypted(&url).await.expect("verify-ca, in a URL, connects"));
    assert!(encrypted(&with("sslmode=require")).await.expect("require encrypts without checking"));
    assert!(!encrypted(&with("sslmode=disable")).await.expect("disable does not encrypt"));

    let refused = encrypted(&with(&format!("sslmode=verify-full sslrootcert={other}"))).await;
    assert!(refused.is_err(), "a server signed by a CA the client does not trust is refused");
    let missing = encrypted(&with("sslmode=verify-full sslrootcert=/no/such/ca.pem")).await;
    assert!(
        matches!(missing, Err(conversation_store::StoreError::InvalidInput { field: "POSTGRES_URL", .. })),
        "{missing:?}"
    );
}
