//! The single development node that `cargo xtask db up` started in `target/cassandra/`, for the
//! rehearsal and the tests that make it really unavailable, and for measuring what it holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::nodetool::nodetool;
use crate::process::{runs_cassandra_with, signal, Signal};

/// The development node's JMX port.
const JMX_PORT: u16 = 7199;

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

    /// Writes the keyspace's memtables to disk (`nodetool flush`), so its size on disk is what
    /// it holds.
    pub fn flush(&self, keyspace: &str) -> Result<(), String> {
        nodetool(&self.node_dir.join("lib"), &self.node_dir, JMX_PORT, &["flush", keyspace]).map(drop)
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
        signal(self.pid, Signal::SIGSTOP)?;
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
        if let Err(error) = signal(self.pid, Signal::SIGCONT) {
            eprintln!("could not resume the node ({error}): run `kill -CONT {}`", self.pid);
        }
    }
}
