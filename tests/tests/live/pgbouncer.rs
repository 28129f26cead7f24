//! Backfill, dual-write, relay and verify through PgBouncer in transaction mode (Debian's
//! pgbouncer, started by the test): every statement is PostgreSQL's unnamed statement and every
//! lock a transaction's, so nothing depends on keeping one server connection between
//! transactions. PgBouncer gets two server connections for the store's sixteen clients, so
//! transactions of different clients take turns on each.

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use chat_migrate::{
    backfill, ensure_scylla_schema, scan, shared_phase, BackfillOptions, DualWriteStore, Phase, RelayConfig, Routing,
    ScanOptions, ScyllaCopier, ScyllaRelay, Selection, SetOptions,
};
use conversation_pg::{PgConfig, PgStore};
use conversation_store::ConversationApi;
use tests::live::{postgres_connection, TestKeyspace};

/// A database and a PgBouncer of the test's own, both gone when it ends, also on a failure.
struct Bouncer {
    database: String,
    process: Child,
    dir: std::path::PathBuf,
    port: u16,
}

impl Bouncer {
    fn start(database: &str) -> Result<Bouncer, String> {
        let dir = std::env::temp_dir().join(format!("{database}_pgbouncer"));
        std::fs::create_dir_all(&dir).map_err(|error| error.to_string())?;
        let port =
            TcpListener::bind("127.0.0.1:0").and_then(|socket| socket.local_addr()).map_err(|e| e.to_string())?.port();
        let upstream: tokio_postgres::Config = postgres_connection().parse().map_err(|_| "POSTGRES_URL".to_owned())?;
        let host = match upstream.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let upstream_port = upstream.get_ports().first().copied().unwrap_or(5432);
        let config = format!(
            "[databases]\n{database} = host={host} port={upstream_port} dbname={database} user=postgres\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = trust\nauth_file = {users}\n\
             pool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 100\nunix_socket_dir =\n\
             logfile = {log}\n",
            users = dir.join("users.txt").display(),
            log = dir.join("pgbouncer.log").display(),
        );
        std::fs::write(dir.join("pgbouncer.ini"), config).map_err(|error| error.to_string())?;
        std::fs::write(dir.join("users.txt"), "\"postgres\" \"\"\n").map_err(|error| error.to_string())?;
        let program =
            if std::path::Path::new("/usr/sbin/pgbouncer").exists() { "/usr/sbin/pgbouncer" } else { "pgbouncer" };
        let mut command = Command::new(program);
        // PgBouncer refuses to run as root.
        if is_root() {
            Command::new("chown").args(["-R", "postgres"]).arg(&dir).status().map_err(|error| error.to_string())?;
            command.args(["-u", "postgres"]);
        }
        let process = command
            .arg(dir.join("pgbouncer.ini"))
            .spawn()
            .map_err(|error| format!("cannot start pgbouncer (Debian's pgbouncer package): {error}"))?;
        let bouncer = Bouncer { database: database.to_owned(), process, dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("pgbouncer did not listen within 10 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(bouncer)
    }

    fn url(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={} sslmode=disable", self.port, self.database)
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        let database = self.database.clone();
        // On a runtime of its own: this may run while the test unwinds.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let (client, connection) =
                    tokio_postgres::connect(&postgres_connection(), tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                client.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await
            })
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_dual_write_relay_and_verify_through_pgbouncer_in_transaction_mode() {
    let database = format!("t_bouncer_{}", std::process::id());
    let direct = PgStore::connect(&PgConfig::new(postgres_connection(), "public")).await.unwrap();
    direct.client().await.unwrap().batch_execute(&format!("CREATE DATABASE {database}")).await.unwrap();
    let bouncer = match Bouncer::start(&database) {
        Ok(bouncer) => bouncer,
        Err(why) => panic!("{why}"),
    };
    // The schema is applied directly, as migrations are run; everything else goes through PgBouncer.
    let own_database = postgres_connection().replace("dbname=chat", &format!("dbname={database}"));
    PgStore::connect(&PgConfig::new(own_database, "public")).await.unwrap().apply_schema().await.unwrap();
    let pg = PgStore::connect(&PgConfig::new(bouncer.url(), "public").with_pool_size(16)).await.unwrap();
    let history = pg.clone();
    for n in 0..40 {
        let session = history.create_session(&format!("acct-{}", n % 4), &format!("history {n}")).await.unwrap();
        history.append_human_turn(&session.account_uid, &session.session_uid, None, "hello", None).await.unwrap();
    }

    let keyspace = TestKeyspace::new("bouncer").await;
    ensure_scylla_schema(&keyspace.db, Some(keyspace.replication())).await.unwrap();
    let options = SetOptions { fleet_wait: Duration::from_secs(1), drain_wait: Duration::from_secs(10) };
    shared_phase::set(&pg, &keyspace.config.keyspace, Routing::new(Phase::DualWrite), None, options)
        .await
        .expect("the phase changes through PgBouncer");
    let copier = ScyllaCopier::new(keyspace.db.clone());
    let relay = ScyllaRelay::new(pg.clone().following_the_phase(), copier.clone(), RelayConfig::default());
    let background = relay.clone().spawn();
    let store = DualWriteStore::new(relay.clone());
    // Sixteen writers at once while the backfill runs, each transaction on whichever server
    // connection PgBouncer has free.
    let writers: Vec<_> = (0..16)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..10 {
                    let account = format!("writer-{writer}");
                    let session = store.create_session(&account, &format!("live {n}")).await?;
                    let turn = store.append_human_turn(&account, &session.session_uid, None, "hi", None).await?;
                    let agent = store.append_agent_turn(&account, &session.session_uid, &turn.turn_uid, None).await?;
                    store.append_step(&account, &session.session_uid, &agent.turn_uid, 0, 1, "step").await?;
                }
                Ok::<(), conversation_store::StoreError>(())
            })
        })
        .collect();
    let backfilled =
        backfill(&pg, &copier, &BackfillOptions::default()).await.expect("the backfill runs through PgBouncer");
    for writer in writers {
        writer.await.unwrap().expect("every write through PgBouncer is acknowledged");
    }
    let (drained, lag) = relay.drain(Some(Duration::from_secs(60))).await.expect("the relay drains through PgBouncer");
    background.stop().await;
    assert_eq!(lag.depth, 0, "{drained:?}");
    let verified =
        scan(&pg, &copier, &ScanOptions::new(Selection::All), false).await.expect("verify runs through PgBouncer");
    assert_eq!(verified.sessions, 40 + 160);
    assert_eq!(verified.divergences(), 0, "{}", verified.summary());
    eprintln!(
        "through PgBouncer (2 server connections): backfilled {} sessions while 16 writers wrote 160, relay drained, \
         verify found 0 divergences in {} sessions",
        backfilled.sessions, verified.sessions
    );
    keyspace.drop().await;
    drop(pg);
    drop(bouncer);
}
