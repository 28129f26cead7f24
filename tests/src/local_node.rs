//! The Cassandra node that `cargo xtask db up` started, for fault tests that make it really
//! unavailable. Only that process is ever signalled: it is found through the pid file the xtask
//! writes, and checked to be a Cassandra daemon running from this workspace.

use std::path::PathBuf;
use std::process::Command;

/// The local node's process.
pub struct LocalNode {
    pid: u32,
}

impl LocalNode {
    /// The node of `cargo xtask db up`. `Err` says why there is none to pause: `SCYLLA_URI`
    /// names another cluster, or no node of this workspace is running.
    pub fn find() -> Result<LocalNode, String> {
        if let Some(uri) = std::env::var("SCYLLA_URI").ok().filter(|uri| !uri.trim().is_empty()) {
            return Err(format!("SCYLLA_URI={uri} names a cluster this test did not start, so it is not paused"));
        }
        let node_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/cassandra");
        let pid_file = node_dir.join("cassandra.pid");
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .map_err(|error| {
                format!("no pid file at {} ({error}); start the node with `cargo xtask db up`", pid_file.display())
            })?
            .trim()
            .parse()
            .map_err(|error| format!("{} does not hold a pid: {error}", pid_file.display()))?;
        let command_line = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map_err(|error| format!("pid {pid} from {} is not running: {error}", pid_file.display()))?;
        let command_line = String::from_utf8_lossy(&command_line).replace('\0', " ");
        let node_dir = node_dir.canonicalize().map_err(|error| format!("{}: {error}", node_dir.display()))?;
        if !command_line.contains("CassandraDaemon") || !command_line.contains(&*node_dir.to_string_lossy()) {
            return Err(format!("pid {pid} is not the Cassandra node of {}", node_dir.display()));
        }
        Ok(LocalNode { pid })
    }

    /// Freezes the node with SIGSTOP: its sockets stay open but nothing answers, as with a
    /// node stuck in a long pause. It runs again when the guard is dropped, even on a panic.
    pub fn pause(&self) -> Paused {
        signal(self.pid, "STOP");
        Paused { pid: self.pid }
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
        signal(self.pid, "CONT");
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill").args([format!("-{name}"), pid.to_string()]).status();
    assert!(status.as_ref().is_ok_and(|status| status.success()), "kill -{name} {pid} failed: {status:?}");
}
