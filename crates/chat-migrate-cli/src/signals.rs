//! SIGTERM and SIGINT, as systemd, Kubernetes and Ctrl-C send them: the first asks the running
//! job to stop at its next safe point, after which the command prints its summary and exits 0; a
//! second ends the process at once.

use chat_migrate::StopSignal;
use tokio::signal::unix::{signal, SignalKind};

/// A stop signal that the first SIGTERM or SIGINT sets.
pub fn stop_on_signals() -> std::io::Result<StopSignal> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let stop = StopSignal::new();
    let asked = stop.clone();
    tokio::spawn(async move {
        let first = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::warn!(signal = first, "stopping after the work in flight; a second signal ends the process now");
        asked.stop();
        let (second, code) = tokio::select! {
            _ = terminate.recv() => ("SIGTERM", 143),
            _ = interrupt.recv() => ("SIGINT", 130),
        };
        tracing::warn!(signal = second, "second signal: exiting without finishing");
        std::process::exit(code);
    });
    Ok(stop)
}
