//! `nodetool`, run from the jars the nodes run from: no Cassandra installation is needed.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one nodetool call may take: a node that is paused, or wedged, never answers JMX.
const NODETOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `nodetool` against the node whose JMX port is `jmx_port` and returns what it printed.
/// `jars` is the folder of Cassandra's jars; `node_dir` is the node's folder, where the tool's
/// JVM may write its logs and history. A call that takes longer than two minutes is killed.
pub fn nodetool(jars: &Path, node_dir: &Path, jmx_port: u16, args: &[&str]) -> Result<String, String> {
    let mut child = Command::new("java")
        .args([
            "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
            "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
            "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
        ])
        .arg(format!("-Dcassandra.logdir={}", node_dir.join("logs").display()))
        .arg(format!("-Duser.home={}", node_dir.display()))
        .arg("-cp")
        .arg(format!("{}/*", jars.display()))
        .args(["org.apache.cassandra.tools.NodeTool", "-h", "127.0.0.1", "-p", &jmx_port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run nodetool (java): {error}"))?;
    // Read both pipes while waiting, so a long answer cannot fill one and stall the tool.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|pipe| Box::new(pipe) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|pipe| Box::new(pipe) as Box<dyn Read + Send>));
    let deadline = Instant::now() + NODETOOL_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "nodetool {} on JMX port {jmx_port} did not answer within {} s",
                    args.join(" "),
                    NODETOOL_TIMEOUT.as_secs()
                ));
            }
            Err(error) => return Err(format!("waiting for nodetool: {error}")),
        }
    };
    let output = std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    // Without a logging config of its own, the tool's JVM logs at DEBUG to stdout; only its
    // answer is kept.
    let answer: String = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !is_log_line(line))
        .map(|line| format!("{line}\n"))
        .collect();
    if output.status.success() {
        Ok(answer)
    } else {
        Err(format!(
            "nodetool {} on JMX port {jmx_port} failed: {answer}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Whether a line is logback's (`03:41:52.766 [main] DEBUG ...`) rather than the tool's answer.
fn is_log_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let time = words.next().unwrap_or_default();
    let thread = words.next().unwrap_or_default();
    time.len() == 12 && time.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '.') && thread.starts_with('[')
}

#[cfg(test)]
mod tests {
    use super::is_log_line;

    #[test]
    fn logback_lines_are_told_from_the_answer() {
        assert!(is_log_line("03:41:52.766 [main] DEBUG o.a.c.tools.NodeTool - connecting"));
        assert!(!is_log_line("\tSchema versions:"));
        assert!(!is_log_line("UN  127.0.0.11  1.2 MiB  1  ?  rack1"));
    }
}
