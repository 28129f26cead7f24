//! The local PostgreSQL server for the benchmark's relational side: Debian's packaged server,
//! with its own data folder under `target/postgres/` and a port on 127.0.0.1 only.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The port the local server listens on; not 5432, so a system server can run beside it.
pub const PORT: u16 = 54329;
/// The database the benchmark uses.
pub const DATABASE: &str = "chat";

fn root() -> PathBuf {
    crate::workspace_root().join("target").join("postgres")
}

fn data_dir() -> PathBuf {
    root().join("data")
}

/// `host=... port=... user=... dbname=...` for clients.
pub fn connection_string() -> String {
    format!("host=127.0.0.1 port={PORT} user=postgres dbname={DATABASE}")
}

/// The newest installed server's `bin` folder, from Debian's `postgresql-NN` packages.
fn bin_dir() -> Result<PathBuf, String> {
    let versions = fs::read_dir("/usr/lib/postgresql").map_err(|_| {
        "PostgreSQL is not installed: the benchmark needs Debian's server (apt-get install postgresql)".to_owned()
    })?;
    versions
        .flatten()
        .filter_map(|entry| {
            entry.file_name().to_string_lossy().parse::<u32>().ok().map(|version| (version, entry.path()))
        })
        .filter(|(_, path)| path.join("bin").join("initdb").exists())
        .max_by_key(|(version, _)| *version)
        .map(|(_, path)| path.join("bin"))
        .ok_or_else(|| {
            "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)".to_owned()
        })
}

/// Runs a server program as the `postgres` user when we are root: the server refuses to run as root.
fn server_command(program: &str) -> Result<Command, String> {
    let path = bin_dir()?.join(program);
    if is_root() {
        let mut command = Command::new("runuser");
        command.arg("-u").arg("postgres").arg("--").arg(path);
        Ok(command)
    } else {
        Ok(Command::new(path))
    }
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find(|line| line.starts_with("Uid:")).map(str::to_owned))
        .is_some_and(|line| line.split_whitespace().nth(1) == Some("0"))
}

fn answers() -> bool {
    TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], PORT)), Duration::from_millis(300)).is_ok()
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|error| format!("cannot run {what}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

pub fn is_running() -> bool {
    data_dir().join("postmaster.pid").exists() && answers()
}

/// Starts the server, creating its data folder and database the first time. Returns true if
/// this call started it.
pub fn up() -> Result<bool, String> {
    if is_running() {
        println!("PostgreSQL is already running on 127.0.0.1:{PORT}");
        return Ok(false);
    }
    if answers() {
        return Err(format!("127.0.0.1:{PORT} is taken by a process this command did not start; stop it"));
    }
    let data = data_dir();
    if !data.join("PG_VERSION").exists() {
        fs::create_dir_all(&data).map_err(|error| format!("cannot create {}: {error}", data.display()))?;
        if is_root() {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(root()), "chown of target/postgres")?;
            grant_traverse(&root())?;
        }
        let mut initdb = server_command("initdb")?;
        initdb.args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-locale", "-D"]).arg(&data);
        run(&mut initdb, "initdb")?;
    }
    let tls = crate::postgres_tls::PostgresTls::new(&root());
    tls.ensure()?;
    if is_root() {
        // The server runs as `postgres`, and reads its key only if it owns it.
        run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&tls.dir), "chown of target/postgres/tls")?;
    }
    let log = root().join("server.log");
    let mut start = server_command("pg_ctl")?;
    start
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .arg("-o")
        .arg(format!(
            "-c listen_addresses=127.0.0.1 -c port={PORT} -c unix_socket_directories='' -c shared_buffers=256MB \
             -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c ssl=on -c ssl_cert_file='{}' -c ssl_key_file='{}'",
            tls.certificate().display(),
            tls.key().display()
        ))
        .arg("-w")
        .arg("start");
    run(&mut start, "pg_ctl start")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !answers() {
        if Instant::now() > deadline {
            return Err(format!("PostgreSQL did not answer on 127.0.0.1:{PORT}; see {}", log.display()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    ensure_database()?;
    println!("PostgreSQL is up on 127.0.0.1:{PORT} (database `{DATABASE}`)\n  logs: {}", log.display());
    Ok(true)
}

/// The server runs as `postgres` and must reach its folder inside the checkout: give "others"
/// the search (x) bit on each ancestor that lacks it. Nothing becomes readable or listable.
fn grant_traverse(dir: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    for ancestor in dir.ancestors().skip(1) {
        let Ok(metadata) = fs::metadata(ancestor) else { continue };
        let mode = metadata.permissions().mode();
        if mode & 0o001 == 0 {
            fs::set_permissions(ancestor, fs::Permissions::from_mode(mode | 0o001))
                .map_err(|error| format!("cannot let the postgres user through {}: {error}", ancestor.display()))?;
            println!(
                "  gave others search permission on {} so the postgres user can reach its data",
                ancestor.display()
            );
        }
    }
    Ok(())
}

/// Runs one statement on the local server as `postgres` and returns its rows, unaligned.
pub fn psql(sql: &str, database: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &PORT.to_string(), "-U", "postgres", "-d", database, "-tAc", sql])
        .output()
        .map_err(|_| "psql is not installed (apt-get install postgresql-client)".to_owned())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!("psql `{sql}` failed: {}", String::from_utf8_lossy(&output.stderr)))
    }
}

fn ensure_database() -> Result<(), String> {
    if psql(&format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"), "postgres")? != "1" {
        psql(&format!("CREATE DATABASE {DATABASE}"), "postgres")?;
    }
    Ok(())
}

pub fn down() -> Result<(), String> {
    if !data_dir().join("postmaster.pid").exists() {
        println!("PostgreSQL is not running");
        return Ok(());
    }
    let mut stop = server_command("pg_ctl")?;
    stop.arg("-D").arg(data_dir()).args(["-m", "fast", "-w", "stop"]);
    run(&mut stop, "pg_ctl stop")?;
    println!("PostgreSQL stopped");
    Ok(())
}

pub fn status() {
    if is_running() {
        println!("PostgreSQL is running on 127.0.0.1:{PORT} (database `{DATABASE}`)");
    } else {
        println!("PostgreSQL is not running (start it with `cargo xtask db up`)");
    }
}
