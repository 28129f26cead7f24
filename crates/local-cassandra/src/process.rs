//! Processes as `/proc` shows them, and signals sent with `kill(2)`.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::unistd::Pid;

pub use nix::sys::signal::Signal;

/// What `/proc` says of a live process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    Running,
    /// Stopped by SIGSTOP (or by a debugger).
    Paused,
}

/// The state of process `pid`; `None` once it is gone (a zombie counts as gone).
pub fn process_state(pid: u32) -> Option<ProcessState> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state letter follows the command name, which is in parentheses and may hold spaces.
    match stat.rsplit(')').next()?.trim_start().chars().next()? {
        'Z' | 'X' => None,
        'T' | 't' => Some(ProcessState::Paused),
        _ => Some(ProcessState::Running),
    }
}

/// Sends `signal` to process `pid`: one process, never a group (`pid` 0 would be the caller's).
pub fn signal(pid: u32, signal: Signal) -> Result<(), String> {
    let raw =
        i32::try_from(pid).ok().filter(|raw| *raw > 0).ok_or_else(|| format!("{pid} is not one process's pid"))?;
    match nix::sys::signal::kill(Pid::from_raw(raw), signal) {
        Ok(()) => Ok(()),
        Err(Errno::ESRCH) => Err(format!("{signal} to pid {pid}: there is no such process")),
        Err(error) => Err(format!("{signal} to pid {pid}: {error}")),
    }
}

/// Waits, for up to ten seconds, until a killed process has left the process table.
pub fn wait_until_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_state(pid).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_and_is_no_cassandra() {
        assert_eq!(process_state(std::process::id()), Some(ProcessState::Running));
        assert!(!runs_cassandra_with(std::process::id(), Path::new("/nowhere/cassandra.yaml")));
    }

    #[test]
    fn a_signal_to_a_process_that_is_gone_fails() {
        let mut child = std::process::Command::new("true").spawn().expect("`true` runs");
        let pid = child.id();
        child.wait().expect("`true` exits");
        assert_eq!(process_state(pid), None);
        assert!(signal(pid, Signal::SIGCONT).is_err());
        assert!(signal(0, Signal::SIGCONT).is_err(), "pid 0 is a process group");
    }
}
