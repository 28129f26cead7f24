//! One Apache Cassandra 5.0 node run from Maven Central's jars: fetching the jars, writing the
//! node's config and starting its JVM. Watching and signalling the process, and nodetool, are
//! `local_cassandra`'s, which the tests and the lab share. `db` runs one such node for
//! development and tests; `cluster` runs three for the fault tests.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use local_cassandra::{process_state, runs_cassandra_with, wait_until_gone, ProcessState, Signal};

/// The CQL port every node listens on (each on its own loopback address).
pub const CQL_PORT: u16 = 9042;
/// The internode port; nodes tell each other apart by address.
pub const STORAGE_PORT: u16 = 7000;

/// Where the jars live, shared by every node: Maven fills it once.
pub fn jar_dir() -> PathBuf {
    crate::workspace_root().join("target").join("cassandra").join("lib")
}

/// A node's JVM just started.
#[derive(Debug, Clone, Copy)]
pub struct Spawned {
    pub pid: u32,
    /// The length of `system.log` before the start: readiness is read from this start's lines.
    pub log_offset: u64,
}

/// Everything that differs from one node to the next.
pub struct Node {
    /// The node's folder: `conf/`, `data/` (data, commitlog, hints, caches), `logs/`, its pid file.
    pub root: PathBuf,
    pub address: Ipv4Addr,
    pub jmx_port: u16,
    /// `-Xmx`; the initial heap is half of it, so an idle node stays small.
    pub heap_mb: u32,
    pub cluster_name: &'static str,
    /// The node's datacenter (rack `rack1`), told by GossipingPropertyFileSnitch; `None`:
    /// SimpleSnitch, whose one datacenter is `datacenter1`.
    pub datacenter: Option<&'static str>,
    /// Every seed's address; each listens on [`STORAGE_PORT`].
    pub seeds: Vec<Ipv4Addr>,
    /// The node's single token: preassigned, so a fresh cluster needs no bootstrap.
    pub token: i64,
    /// Hints replay writes a node missed while down; a throwaway single node has no one to hint.
    pub hinted_handoff: bool,
    /// The replication factor Cassandra gives `system_distributed` and `system_traces`.
    pub system_replication: u32,
    /// The TLS keystore for optional client encryption, if the node offers TLS.
    pub tls_keystore: Option<PathBuf>,
    /// Delay before the node sets up its default roles. 0 lets a single node serve at once; in
    /// a cluster the setup fails until every peer is ready, and with no delay it retries in a
    /// tight loop that burns a core and floods the log.
    pub role_setup_delay_ms: u32,
}

impl Node {
    pub fn conf(&self) -> PathBuf {
        self.root.join("conf")
    }
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn system_log(&self) -> PathBuf {
        self.logs().join("system.log")
    }
    /// GossipingPropertyFileSnitch's `cassandra-rackdc.properties`.
    fn rack_dc_file(&self) -> PathBuf {
        self.conf().join("cassandra-rackdc.properties")
    }
    fn pid_file(&self) -> PathBuf {
        self.root.join("cassandra.pid")
    }
    pub fn cql_address(&self) -> SocketAddr {
        SocketAddr::from((self.address, CQL_PORT))
    }

    /// The pid of this node's JVM, if the one it recorded still runs. The process must be a
    /// Cassandra daemon started with this node's config: after a reboot, a stale pid file can
    /// name some other process, which must never be signalled.
    pub fn running_pid(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.pid_file()).ok()?.trim().parse().ok()?;
        process_state(pid)?;
        runs_cassandra_with(pid, &self.conf().join("cassandra.yaml")).then_some(pid)
    }

    /// The length of `system.log` now: lines after it are news.
    pub fn log_len(&self) -> u64 {
        fs::metadata(self.system_log()).map(|meta| meta.len()).unwrap_or(0)
    }

    pub fn forget_pid(&self) {
        let _ = fs::remove_file(self.pid_file());
    }

    pub fn cql_answers(&self) -> bool {
        TcpStream::connect_timeout(&self.cql_address(), Duration::from_millis(500)).is_ok()
    }

    /// Writes the node's yaml and logging config from the templates in `xtask/cassandra/`.
    pub fn write_config(&self) -> Result<(), String> {
        let templates = crate::workspace_root().join("xtask").join("cassandra");
        for dir in [self.conf(), self.data(), self.logs()] {
            fs::create_dir_all(&dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        }
        let seeds: Vec<String> = self.seeds.iter().map(|seed| format!("{seed}:{STORAGE_PORT}")).collect();
        let client_encryption = match &self.tls_keystore {
            // TLS and plain CQL on the same port: clients with the dev CA can test TLS, every
            // other client connects as before.
            Some(keystore) => format!(
                "client_encryption_options:\n  enabled: true\n  optional: true\n  keystore: {}\n  \
                 keystore_password: {}\n  store_type: PKCS12",
                keystore.display(),
                crate::node_tls::STORE_PASSWORD
            ),
            None => "client_encryption_options:\n  enabled: false".to_owned(),
        };
        let yaml = read(&templates.join("cassandra.yaml"))?
            .replace("@CLUSTER_NAME@", self.cluster_name)
            .replace("@TOKEN@", &self.token.to_string())
            .replace("@SEEDS@", &seeds.join(","))
            .replace("@ADDRESS@", &self.address.to_string())
            .replace("@STORAGE_PORT@", &STORAGE_PORT.to_string())
            .replace("@CQL_PORT@", &CQL_PORT.to_string())
            .replace("@CLIENT_ENCRYPTION@", &client_encryption)
            .replace("@DATA@", &self.data().display().to_string())
            .replace("@HINTED_HANDOFF@", &self.hinted_handoff.to_string())
            .replace(
                "@SNITCH@",
                if self.datacenter.is_some() { "GossipingPropertyFileSnitch" } else { "SimpleSnitch" },
            );
        write(&self.conf().join("cassandra.yaml"), &yaml)?;
        if let Some(datacenter) = self.datacenter {
            write(&self.rack_dc_file(), &format!("dc={datacenter}\nrack=rack1\n"))?;
        }
        write(&self.conf().join("logback.xml"), &read(&templates.join("logback.xml"))?)
    }

    /// Starts the JVM in a process group of its own and records its pid.
    pub fn spawn(&self) -> Result<Spawned, String> {
        fs::create_dir_all(self.root.join("tmp")).map_err(|error| format!("cannot create the JNA folder: {error}"))?;
        let log_offset = self.log_len();
        let stdout_path = self.logs().join("stdout.log");
        let stdout = fs::File::create(&stdout_path)
            .map_err(|error| format!("cannot create {}: {error}", stdout_path.display()))?;
        let stderr = stdout.try_clone().map_err(|error| format!("cannot share the log file: {error}"))?;
        let mut command = Command::new("java");
        command.args(self.jvm_args()?).stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        // A process group of its own keeps the node alive when the terminal sends Ctrl-C to xtask.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().map_err(|error| format!("cannot start java: {error}"))?;
        let pid = child.id();
        write(&self.pid_file(), &pid.to_string())?;
        Ok(Spawned { pid, log_offset })
    }

    /// Waits until the node answers CQL, failing early with the log's tail if the JVM exits.
    pub fn wait_for_cql(&self, pid: u32, deadline: Instant) -> Result<(), String> {
        loop {
            if self.cql_answers() {
                return Ok(());
            }
            if process_state(pid).is_none() {
                return Err(format!(
                    "the node on {} exited during startup. Last lines of {}:\n{}",
                    self.address,
                    self.logs().join("stdout.log").display(),
                    tail(&self.logs().join("stdout.log"), 40)
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the node did not answer on {} in time. Last lines of {}:\n{}",
                    self.cql_address(),
                    self.system_log().display(),
                    tail(&self.system_log(), 40)
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The `system.log` text written since `offset`.
    pub fn log_since(&self, offset: u64) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(self.system_log()) {
            if file.seek(SeekFrom::Start(offset)).is_ok() {
                let _ = file.read_to_string(&mut text);
            }
        }
        text
    }

    /// Stops the JVM: SIGCONT first (a paused JVM cannot act on SIGTERM), then SIGTERM, then
    /// SIGKILL if it is still there after `grace`.
    pub fn stop(&self, grace: Duration) -> Result<Option<u32>, String> {
        let Some(pid) = self.running_pid() else {
            self.forget_pid();
            return Ok(None);
        };
        signal_unless_gone(pid, Signal::SIGCONT)?;
        signal_unless_gone(pid, Signal::SIGTERM)?;
        let deadline = Instant::now() + grace;
        while process_state(pid).is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        if process_state(pid).is_some() {
            signal_unless_gone(pid, Signal::SIGKILL)?;
            wait_until_gone(pid);
        }
        self.forget_pid();
        Ok(Some(pid))
    }

    /// Runs `nodetool` against this node's JMX port, from the shared jars, and returns what it
    /// printed.
    pub fn nodetool(&self, args: &[&str]) -> Result<String, String> {
        local_cassandra::nodetool(&jar_dir(), &self.root, self.jmx_port, args)
            .map_err(|error| format!("{error} (node {})", self.address))
    }

    /// The JVM flags of Cassandra's own `jvm17-server.options` and `cassandra-env.sh` that a node
    /// started without those scripts needs, plus settings that make a test node start fast.
    fn jvm_args(&self) -> Result<Vec<String>, String> {
        let lib = jar_dir();
        let jamm = fs::read_dir(&lib)
            .map_err(|error| format!("cannot read {}: {error}", lib.display()))?
            .flatten()
            .map(|entry| entry.path())
            .find(|path| path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("jamm-")))
            .ok_or("the jamm agent jar is missing from target/cassandra/lib; delete that folder and run again")?;
        let conf = self.conf();
        let mut args: Vec<String> = vec![
            format!("-Xms{}m", self.heap_mb / 2),
            format!("-Xmx{}m", self.heap_mb),
            format!("-Dcassandra.jmx.local.port={}", self.jmx_port),
            format!("-Dcassandra.system_distributed.default_rf={}", self.system_replication),
            format!("-Dcassandra.system_traces.default_rf={}", self.system_replication),
            format!("-Dcassandra.superuser_setup_delay_ms={}", self.role_setup_delay_ms),
        ];
        args.extend(
            [
                "-Xss512k",
                "-XX:+UseG1GC",
                "-XX:+ExitOnOutOfMemoryError",
                "-Djdk.attach.allowAttachSelf=true",
                "-Dio.netty.tryReflectionSetAccessible=true",
                "-Dio.netty.allocator.useCacheForAllThreads=true",
                "-Dio.netty.allocator.maxOrder=11",
                "-Dcassandra-foreground=yes",
                "-Dcom.sun.management.jmxremote.authenticate=false",
                "-Dcassandra.skip_wait_for_gossip_to_settle=0",
                "-Dcassandra.ring_delay_ms=1000",
                "-Dchronicle.announcer.disable=true",
            ]
            .into_iter()
            .map(str::to_owned),
        );
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
        if self.datacenter.is_some() {
            args.push(format!("-Dcassandra-rackdc.properties=file://{}", self.rack_dc_file().display()));
        }
        args.push(format!("-Dcassandra.storagedir={}", self.data().display()));
        args.push(format!("-Dcassandra.logdir={}", self.logs().display()));
        args.push(format!("-Dlogback.configurationFile={}", conf.join("logback.xml").display()));
        args.push(format!("-XX:HeapDumpPath={}", self.logs().display()));
        // Every collector pause, so a latency tail can be matched against the node's pauses.
        args.push(format!(
            "-Xlog:gc:file={}:time,uptime:filecount=2,filesize=10m",
            self.logs().join("gc.log").display()
        ));
        // JNA unpacks a native library; keep it inside the node's folder in case /tmp is noexec.
        args.push(format!("-Djna.tmpdir={}", self.root.join("tmp").display()));
        args.push("-cp".to_owned());
        args.push(format!("{}:{}/*", conf.display(), lib.display()));
        args.push("org.apache.cassandra.service.CassandraDaemon".to_owned());
        Ok(args)
    }
}

/// Sends `signal` to `pid`; a process that is already gone needs no signal.
pub fn signal_unless_gone(pid: u32, signal: Signal) -> Result<(), String> {
    local_cassandra::signal(pid, signal).or_else(|error| if process_state(pid).is_none() { Ok(()) } else { Err(error) })
}

pub fn check_java() -> Result<(), String> {
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

/// Fetches Cassandra and its dependencies into [`jar_dir`] with Maven, once.
pub fn fetch_jars() -> Result<(), String> {
    let lib = jar_dir();
    if has_cassandra_jar(&lib) {
        return Ok(());
    }
    let build_dir = lib.parent().map(|root| root.join("maven")).unwrap_or_else(|| lib.join("maven"));
    let pom = crate::workspace_root().join("xtask").join("cassandra").join("pom.xml");
    println!("fetching Cassandra and its jars with Maven (the first time downloads about 70 MB into ~/.m2)...");
    let status = Command::new("mvn")
        .arg("-B")
        .arg("-q")
        .arg("-Dstyle.color=never")
        .arg("-f")
        .arg(&pom)
        .arg(format!("-Dcassandra.lib.dir={}", lib.display()))
        .arg(format!("-Dcassandra.build.dir={}", build_dir.display()))
        .arg("package")
        .status()
        .map_err(|_| "mvn is not installed: it fetches Cassandra from Maven Central (Debian: apt-get install maven)")?;
    if !status.success() || !has_cassandra_jar(&lib) {
        return Err(format!("mvn could not fetch Cassandra (see its output above; pom: {})", pom.display()));
    }
    Ok(())
}

fn has_cassandra_jar(lib: &Path) -> bool {
    fs::read_dir(lib).is_ok_and(|entries| {
        entries.flatten().any(|entry| entry.file_name().to_string_lossy().starts_with("cassandra-all-"))
    })
}

pub fn tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if fs::File::open(path).and_then(|mut file| file.read_to_string(&mut text)).is_err() {
        return "(no log)".to_owned();
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    fs::write(path, contents).map_err(|error| format!("cannot write {}: {error}", path.display()))
}
