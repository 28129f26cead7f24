//! The Cassandra node that `cargo xtask db up` started (in `target/cassandra/`), for rehearsals
//! and fault tests that make it really unavailable, and for measuring what it holds on disk.
//! Only that process is ever signalled: it is found through the pid file the xtask writes, and
//! checked to be a Cassandra daemon running from that folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The local node's process and folder.
pub struct LocalNode {
    pid: u32,
    node_dir: PathBuf,
}

impl LocalNode {
    /// The node living in `node_dir` (`target/cassandra` of the workspace). `Err` says why there
    /// is none to use: `SCYLLA_URI` names another cluster, or no node runs from that folder.
    pub fn find(node_dir: &Path) -> Result<LocalNode, String> {
        if let Some(uri) = std::env::var("SCYLLA_URI").ok().filter(|uri| !uri.trim().is_empty()) {
            return Err(format!("SCYLLA_URI={uri} names a cluster this process did not start, so it is left alone"));
        }
        let pid_file = node_dir.join("cassandra.pid");
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .map_err(|error| {
                format!("no pid file at {} ({error}); start the node with `cargo xtask db up`", pid_file.display())
            })?
            .trim()
            .parse()
            .map_err(|error| format!("{} does not hold a pid: {error}", pid_file.display()))?;
        std::fs::metadata(format!("/proc/{pid}"))
            .map_err(|error| format!("pid {pid} from {} is not running: {error}", pid_file.display()))?;
        let node_dir = node_dir.canonicalize().map_err(|error| format!("{}: {error}", node_dir.display()))?;
        if !runs_cassandra_with(pid, &node_dir.join("conf").join("cassandra.yaml")) {
            return Err(format!("pid {pid} is not the Cassandra node of {}", node_dir.display()));
        }
        Ok(LocalNode { pid, node_dir })
    }

    /// The node's JVM.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Writes the keyspace's memtables to disk (`nodetool flush`, run from the node's own jars),
    /// so its size on disk is what it holds.
    pub fn flush(&self, keyspace: &str) -> Result<(), String> {
        let output = Command::new("java")
            .args([
                "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
                "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
                "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
                "--add-opens=java.base/java.nio=ALL-UNNAMED",
                "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            ])
            .arg(format!("-Dcassandra.logdir={}", self.node_dir.join("logs").display()))
            .arg(format!("-Duser.home={}", self.node_dir.display()))
            .arg("-cp")
            .arg(format!("{}/*", self.node_dir.join("lib").display()))
            .args(["org.apache.cassandra.tools.NodeTool", "-h", "127.0.0.1", "-p", "7199", "flush", keyspace])
            .output()
            .map_err(|error| format!("cannot run nodetool: {error}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("nodetool flush {keyspace} failed: {}", String::from_utf8_lossy(&output.stderr)))
        }
    }

    /// Bytes on disk per table of `keyspace` (data, indexes, filters and metadata files).
    pub fn table_disk_bytes(&self, keyspace: &str) -> Result<BTreeMap<String, u64>, String> {
        let dir = self.node_dir.join("data").join("data").join(keyspace);
        let mut sizes = BTreeMap::new();
        for table in std::fs::read_dir(&dir).map_err(|error| format!("{}: {error}", dir.display()))?.flatten() {
            let name = table.file_name().to_string_lossy().to_string();
            // Folders are `<table>-<table id>`.
            let table_name = name.rsplit_once('-').map_or(name.as_str(), |(table, _)| table).to_owned();
            let bytes: u64 = std::fs::read_dir(table.path())
                .map_err(|error| format!("{name}: {error}"))?
                .flatten()
                .filter_map(|file| file.metadata().ok())
                .filter(|metadata| metadata.is_file())
                .map(|metadata| metadata.len())
                .sum();
            *sizes.entry(table_name).or_default() += bytes;
        }
        Ok(sizes)
    }

    /// Freezes the node with SIGSTOP: its sockets stay open but nothing answers, as with a
    /// node stuck in a long pause. It runs again when the guard is dropped, even on a panic.
    pub fn pause(&self) -> Result<Paused, String> {
        signal(self.pid, "STOP")?;
        Ok(Paused { pid: self.pid })
    }
}

/// A paused node; dropping it sends SIGCONT.
pub struct Paused {
    pid: u32,
}

impl Paused {
    pub fn resume(self) {}
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Err(error) = signal(self.pid, "CONT") {
            tracing::error!(%error, pid = self.pid, "could not resume the node: run `kill -CONT {}`", self.pid);
        }
    }
}

/// Whether process `pid` is a Cassandra daemon started with the config file `config`. A pid file
/// can outlive its process, and every local node runs from the same jars, so only a node's own
/// config tells it apart; nothing else may ever be signalled.
pub fn runs_cassandra_with(pid: u32, config: &Path) -> bool {
    let Ok(command_line) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let command_line = String::from_utf8_lossy(&command_line);
    let config = format!("-Dcassandra.config=file://{}", config.display());
    command_line.contains("CassandraDaemon") && command_line.split('\0').any(|arg| arg == config)
}

fn signal(pid: u32, name: &str) -> Result<(), String> {
    let status = Command::new("kill").args([format!("-{name}"), pid.to_string()]).status();
    match status {
        Ok(status) if status.success() => Ok(()),
        other => Err(format!("kill -{name} {pid} failed: {other:?}")),
    }
}
