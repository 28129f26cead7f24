//! `cargo xtask db up | down | status`: a local Apache Cassandra 5.0 node from Maven Central.
//!
//! The node lives in `target/cassandra/` (jars in `lib/`, config in `conf/`, data in `data/`,
//! logs in `logs/`) and listens on 127.0.0.1 only. When `SCYLLA_URI` is set, that cluster is used
//! and nothing is provisioned.

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The CQL port the local node listens on.
pub const CQL_PORT: u16 = 9042;
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the local node keeps everything.
struct NodeDir {
    root: PathBuf,
}

impl NodeDir {
    fn new() -> NodeDir {
        NodeDir { root: crate::workspace_root().join("target").join("cassandra") }
    }
    fn lib(&self) -> PathBuf {
        self.root.join("lib")
    }
    fn conf(&self) -> PathBuf {
        self.root.join("conf")
    }
    fn data(&self) -> PathBuf {
        self.root.join("data")
    }
    fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    fn pid_file(&self) -> PathBuf {
        self.root.join("cassandra.pid")
    }
}

/// What `up` did, so a caller can undo exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// This call started the node.
    Now,
    /// A node was already running, or `SCYLLA_URI` names a cluster.
    Already,
}

pub fn up() -> Result<Started, String> {
    if let Some(uri) = scylla_uri() {
        println!("SCYLLA_URI={uri}: using that cluster, nothing to start");
        return Ok(Started::Already);
    }
    let node = NodeDir::new();
    if let Some(pid) = running_pid(&node) {
        if cql_answers() {
            println!("Cassandra is already running (pid {pid}) on 127.0.0.1:{CQL_PORT}");
            return Ok(Started::Already);
        }
    }
    if cql_answers() {
        return Err(format!(
            "127.0.0.1:{CQL_PORT} is taken by a process this command did not start. Stop it, or point \
             everything at it with SCYLLA_URI=127.0.0.1:{CQL_PORT}"
        ));
    }
    check_java()?;
    fetch_jars(&node)?;
    write_config(&node)?;
    let pid = spawn(&node)?;
    wait_for_cql(&node, pid)?;
    println!(
        "Cassandra is up on 127.0.0.1:{CQL_PORT} (pid {pid})\n  logs: {}\n  stop: cargo xtask db down",
        node.logs().join("system.log").display()
    );
    Ok(Started::Now)
}

pub fn down() -> Result<(), String> {
    let node = NodeDir::new();
    let Some(pid) = running_pid(&node) else {
        let _ = fs::remove_file(node.pid_file());
        println!("Cassandra is not running");
        return Ok(());
    };
    signal(pid, "TERM")?;
    let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
    while process_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    if process_alive(pid) {
        signal(pid, "KILL")?;
    }
    let _ = fs::remove_file(node.pid_file());
    println!("Cassandra stopped (pid {pid})");
    Ok(())
}

pub fn status() -> Result<(), String> {
    if let Some(uri) = scylla_uri() {
        println!("SCYLLA_URI={uri}: the local node is not used");
    }
    let node = NodeDir::new();
    match running_pid(&node) {
        Some(pid) => {
            let cql = if cql_answers() { "answers" } else { "does not answer yet" };
            println!("Cassandra is running (pid {pid}); CQL on 127.0.0.1:{CQL_PORT} {cql}");
            println!("  logs: {}", node.logs().join("system.log").display());
        }
        None => println!("Cassandra is not running (start it with `cargo xtask db up`)"),
    }
    Ok(())
}

pub fn scylla_uri() -> Option<String> {
    std::env::var("SCYLLA_URI").ok().filter(|uri| !uri.trim().is_empty())
}

fn cql_answers() -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], CQL_PORT));
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

fn running_pid(node: &NodeDir) -> Option<u32> {
    let pid: u32 = fs::read_to_string(node.pid_file()).ok()?.trim().parse().ok()?;
    process_alive(pid).then_some(pid)
}

fn process_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state letter is `Z`.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn signal(pid: u32, name: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .map_err(|error| format!("cannot run kill: {error}"))?;
    if status.success() || !process_alive(pid) {
        Ok(())
    } else {
        Err(format!("kill -{name} {pid} failed"))
    }
}

fn check_java() -> Result<(), String> {
    let output = Command::new("java").arg("-version").output().map_err(|_| {
        "java is not installed: Cassandra 5.0 needs Java 17 (Debian: apt-get install openjdk-17-jre-headless)"
            .to_owned()
    })?;
    let version = String::from_utf8_lossy(&output.stderr);
    let major = version
        .split('"')
        .nth(1)
        .and_then(|quoted| quoted.split('.').next())
        .and_then(|major| major.parse::<u32>().ok());
    match major {
        Some(11 | 17) => Ok(()),
        Some(other) => Err(format!("java {other} found, but Cassandra 5.0 runs on Java 11 or 17; install Java 17")),
        None => Err(format!("cannot read the Java version from `java -version`: {}", version.trim())),
    }
}

fn fetch_jars(node: &NodeDir) -> Result<(), String> {
    if has_cassandra_jar(&node.lib()) {
        return Ok(());
    }
    let pom = crate::workspace_root().join("xtask").join("cassandra").join("pom.xml");
    println!("fetching Cassandra and its jars with Maven (the first time downloads about 70 MB into ~/.m2)...");
    let status = Command::new("mvn")
        .arg("-B")
        .arg("-q")
        .arg("-Dstyle.color=never")
        .arg("-f")
        .arg(&pom)
        .arg(format!("-Dcassandra.lib.dir={}", node.lib().display()))
        .arg(format!("-Dcassandra.build.dir={}", node.root.join("maven").display()))
        .arg("package")
        .status()
        .map_err(|_| "mvn is not installed: it fetches Cassandra from Maven Central (Debian: apt-get install maven)")?;
    if !status.success() || !has_cassandra_jar(&node.lib()) {
        return Err(format!("mvn could not fetch Cassandra (see its output above; pom: {})", pom.display()));
    }
    Ok(())
}

fn has_cassandra_jar(lib: &Path) -> bool {
    fs::read_dir(lib).is_ok_and(|entries| {
        entries.flatten().any(|entry| entry.file_name().to_string_lossy().starts_with("cassandra-all-"))
    })
}

fn write_config(node: &NodeDir) -> Result<(), String> {
    let templates = crate::workspace_root().join("xtask").join("cassandra");
    for dir in [node.conf(), node.data(), node.logs()] {
        fs::create_dir_all(&dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }
    let tls = crate::node_tls::NodeTls::new(&node.root);
    tls.ensure()?;
    let yaml = read(&templates.join("cassandra.yaml"))?
        .replace("@DATA@", &node.data().display().to_string())
        .replace("@PORT@", &CQL_PORT.to_string())
        .replace("@TLS_KEYSTORE@", &tls.keystore().display().to_string())
        .replace("@TLS_PASSWORD@", crate::node_tls::STORE_PASSWORD);
    write(&node.conf().join("cassandra.yaml"), &yaml)?;
    write(&node.conf().join("logback.xml"), &read(&templates.join("logback.xml"))?)
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    fs::write(path, contents).map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// The JVM flags of Cassandra's own `jvm17-server.options` and `cassandra-env.sh` that a node
/// started without those scripts needs, plus settings that make a single test node start fast.
fn jvm_args(node: &NodeDir) -> Result<Vec<String>, String> {
    let jamm = fs::read_dir(node.lib())
        .map_err(|error| format!("cannot read {}: {error}", node.lib().display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("jamm-")))
        .ok_or("the jamm agent jar is missing from target/cassandra/lib; delete that folder and run again")?;
    let conf = node.conf();
    let mut args: Vec<String> = [
        "-Xms512m",
        "-Xmx1g",
        "-Xss512k",
        "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djdk.attach.allowAttachSelf=true",
        "-Dio.netty.tryReflectionSetAccessible=true",
        "-Dio.netty.allocator.useCacheForAllThreads=true",
        "-Dio.netty.allocator.maxOrder=11",
        "-Dcassandra-foreground=yes",
        "-Dcassandra.jmx.local.port=7199",
        "-Dcom.sun.management.jmxremote.authenticate=false",
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Dcassandra.ring_delay_ms=1000",
        "-Dcassandra.superuser_setup_delay_ms=0",
        "-Dcassandra.system_distributed.default_rf=1",
        "-Dcassandra.system_traces.default_rf=1",
        "-Dchronicle.announcer.disable=true",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let module_flags: [(&str, &[&str]); 2] = [
        (
            "--add-exports",
            &[
                "java.base/jdk.internal.misc",
                "java.base/jdk.internal.ref",
                "java.base/sun.nio.ch",
                "java.management.rmi/com.sun.jmx.remote.internal.rmi",
                "java.rmi/sun.rmi.registry",
                "java.rmi/sun.rmi.server",
                "java.sql/java.sql",
                "java.base/java.lang.ref",
                "jdk.unsupported/sun.misc",
            ],
        ),
        (
            "--add-opens",
            &[
                "java.base/java.lang.module",
                "java.base/jdk.internal.loader",
                "java.base/jdk.internal.ref",
                "java.base/jdk.internal.reflect",
                "java.base/jdk.internal.math",
                "java.base/jdk.internal.module",
                "java.base/jdk.internal.util.jar",
                "jdk.management/com.sun.management.internal",
                "java.base/sun.nio.ch",
                "java.base/java.io",
                "java.base/java.nio",
                "java.base/java.lang",
                "java.base/java.lang.reflect",
                "java.base/java.util",
                "java.base/java.util.concurrent",
                "java.base/java.util.concurrent.atomic",
                "java.base/java.math",
            ],
        ),
    ];
    for (flag, modules) in module_flags {
        for module in modules {
            args.push(flag.to_owned());
            args.push(format!("{module}=ALL-UNNAMED"));
        }
    }
    args.push(format!("-javaagent:{}", jamm.display()));
    args.push(format!("-Dcassandra.config=file://{}", conf.join("cassandra.yaml").display()));
    args.push(format!("-Dcassandra.storagedir={}", node.data().display()));
    args.push(format!("-Dcassandra.logdir={}", node.logs().display()));
    args.push(format!("-Dlogback.configurationFile={}", conf.join("logback.xml").display()));
    args.push(format!("-XX:HeapDumpPath={}", node.logs().display()));
    // Every collector pause, so a latency tail can be matched against the node's pauses.
    args.push(format!("-Xlog:gc:file={}:time,uptime:filecount=2,filesize=10m", node.logs().join("gc.log").display()));
    // JNA unpacks a native library; keep it inside the node's folder in case /tmp is noexec.
    args.push(format!("-Djna.tmpdir={}", node.root.join("tmp").display()));
    args.push("-cp".to_owned());
    args.push(format!("{}:{}/*", conf.display(), node.lib().display()));
    args.push("org.apache.cassandra.service.CassandraDaemon".to_owned());
    Ok(args)
}

fn spawn(node: &NodeDir) -> Result<u32, String> {
    fs::create_dir_all(node.root.join("tmp")).map_err(|error| format!("cannot create the JNA folder: {error}"))?;
    let stdout_path = node.logs().join("stdout.log");
    let stdout =
        fs::File::create(&stdout_path).map_err(|error| format!("cannot create {}: {error}", stdout_path.display()))?;
    let stderr = stdout.try_clone().map_err(|error| format!("cannot share the log file: {error}"))?;
    let mut command = Command::new("java");
    command.args(jvm_args(node)?).stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    // A process group of its own keeps the node alive when the terminal sends Ctrl-C to xtask.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.spawn().map_err(|error| format!("cannot start java: {error}"))?;
    let pid = child.id();
    write(&node.pid_file(), &pid.to_string())?;
    Ok(pid)
}

fn wait_for_cql(node: &NodeDir, pid: u32) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < STARTUP_TIMEOUT {
        if cql_answers() {
            return Ok(());
        }
        if !process_alive(pid) {
            return Err(format!(
                "Cassandra exited during startup. Last lines of {}:\n{}",
                node.logs().join("stdout.log").display(),
                tail(&node.logs().join("stdout.log"), 40)
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!(
        "Cassandra did not answer on 127.0.0.1:{CQL_PORT} within {}s. Last lines of {}:\n{}",
        STARTUP_TIMEOUT.as_secs(),
        node.logs().join("system.log").display(),
        tail(&node.logs().join("system.log"), 40)
    ))
}

fn tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if fs::File::open(path).and_then(|mut file| file.read_to_string(&mut text)).is_err() {
        return "(no log)".to_owned();
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
