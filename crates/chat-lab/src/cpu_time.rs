//! CPU time, read from `/proc`: the client's own, and the database server's when it runs on this
//! machine. The two share the machine's cores, so a point's latency only makes sense next to
//! what each side spent: a server that burns its cores at a moderate rate stalls the requests
//! that need them, whichever read path sends them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use local_cassandra::LocalNode;

/// This process's user + system CPU time.
pub fn process_cpu_time() -> Duration {
    cpu_time_of("self").unwrap_or_default()
}

/// User + system CPU time of process `pid` (`"self"` for this one), all its threads, from
/// `/proc/<pid>/stat` (in clock ticks of 10 ms). `None` once the process is gone.
fn cpu_time_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = fields_after_command(&stat);
    // proc(5) numbers the fields from 1; the command name is field 2, so field n is at n - 3.
    let ticks = |field: usize| fields.get(field - 3).and_then(|value| value.parse::<u64>().ok());
    Some(Duration::from_millis((ticks(14)? + ticks(15)?) * 10))
}

/// The fields of a `/proc/<pid>/stat` line after the command name, which may itself hold spaces
/// and parentheses.
fn fields_after_command(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect()
}

/// The processes of one database server on this machine, whose CPU time a point reports beside
/// the client's. Empty (every reading `None`) when the server is elsewhere or not found.
#[derive(Clone, Debug, Default)]
pub struct ServerCpu {
    pids: Arc<[u32]>,
}

impl ServerCpu {
    /// The Cassandra node `cargo xtask db up` started in `node_dir`, unless `SCYLLA_URI` names
    /// another cluster. The node is one JVM, so its pid covers every thread.
    pub fn local_node(node_dir: &Path) -> ServerCpu {
        match LocalNode::find(node_dir) {
            Ok(node) => ServerCpu { pids: Arc::from([node.pid()]) },
            Err(_) => ServerCpu::default(),
        }
    }

    /// The PostgreSQL backends serving this client's connections (`pg_backend_pid()` of each):
    /// where its queries run. Other sessions' backends come and go and are not this client's
    /// work. Empty unless every one is a PostgreSQL backend on this machine.
    pub fn postgres_backends(pids: &[u32]) -> ServerCpu {
        let local = |pid: &u32| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|command| command.starts_with(b"postgres:"))
        };
        if pids.is_empty() || !pids.iter().all(local) {
            return ServerCpu::default();
        }
        ServerCpu { pids: pids.into() }
    }

    /// The server's CPU time so far, summed over its processes; `None` if it is not known or
    /// one of its processes has gone (a restart would make the difference meaningless).
    pub fn cpu_time(&self) -> Option<Duration> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|pid| cpu_time_of(&pid.to_string())).sum()
    }
}

/// The client's and the server's CPU time at one moment: the start of a measured part.
#[derive(Clone, Copy, Debug)]
pub struct CpuReading {
    client: Duration,
    server: Option<Duration>,
}

impl CpuReading {
    pub fn take(server: &ServerCpu) -> CpuReading {
        CpuReading { client: process_cpu_time(), server: server.cpu_time() }
    }

    /// What the client and the server have spent since this reading.
    pub fn spent_since(&self, server: &ServerCpu) -> (Duration, Option<Duration>) {
        let now = CpuReading::take(server);
        let server = now.server.zip(self.server).map(|(now, then)| now.saturating_sub(then));
        (now.client.saturating_sub(self.client), server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 5 0 0";
        let fields = fields_after_command(stat);
        assert_eq!(fields[0], "S");
        assert_eq!(fields[1], "1");
        assert_eq!(fields[14 - 3], "250");
        assert_eq!(fields[15 - 3], "75");
    }

    #[test]
    fn this_process_is_found_and_an_unknown_server_reads_nothing() {
        let me = ServerCpu { pids: Arc::from([std::process::id()]) };
        assert!(me.cpu_time().is_some());
        assert_eq!(ServerCpu::default().cpu_time(), None);
        assert_eq!(ServerCpu::postgres_backends(&[std::process::id()]).cpu_time(), None, "not a PostgreSQL backend");
    }
}
