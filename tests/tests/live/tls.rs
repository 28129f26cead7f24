//! TLS (the `tls` feature): the client connects when it trusts the node's CA and is refused when
//! it trusts another one, which shows the connection really is TLS.

use std::path::{Path, PathBuf};

use scylla_table::{ConnectionConfig, Database, Error};

#[tokio::test]
async fn tls_connects_with_the_nodes_ca_and_is_refused_with_another() {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/cassandra/tls");
    let external_ca = std::env::var("SCYLLA_TLS_CA").ok().filter(|ca| !ca.is_empty());
    if std::env::var("SCYLLA_URI").is_ok_and(|uri| !uri.is_empty()) && external_ca.is_none() {
        // An external cluster without a CA to trust: there is no TLS endpoint to test.
        eprintln!("SCYLLA_URI is set without SCYLLA_TLS_CA: TLS is tested against the local node only");
        return;
    }
    let trusted = external_ca.map(PathBuf::from).unwrap_or_else(|| local.join("ca.pem"));
    let mut config = ConnectionConfig::from_env("tls_check").expect("SCYLLA_* variables are valid");

    config.tls_ca_pem = Some(trusted);
    let db = Database::connect(&config).await.expect("a client that trusts the node's CA connects over TLS");
    let rows = db
        .session()
        .query_unpaged("SELECT release_version FROM system.local", ())
        .await
        .expect("queries run over TLS")
        .into_rows_result()
        .expect("system.local returns rows");
    let (version,) = rows.single_row::<(String,)>().expect("one row");
    assert!(!version.is_empty());

    config.tls_ca_pem = Some(local.join("other-ca.pem"));
    match Database::connect(&config).await {
        Err(Error::Connect { .. }) => {}
        Err(other) => panic!("expected a connection error, got {other}"),
        Ok(_) => panic!("a client that does not trust the node's certificate connected"),
    }

    config.tls_ca_pem = Some(local.join("no-such-ca.pem"));
    let missing = Database::connect(&config).await.err().expect("a missing CA file is refused");
    assert!(matches!(missing, Error::Config(_)), "{missing}");
    assert!(missing.to_string().contains("no-such-ca.pem"), "{missing}");
}
