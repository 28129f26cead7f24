//! What the command tells an operator besides its output: logs on stderr, as text or JSON, and
//! the migration's metrics on a Prometheus endpoint.

use std::net::SocketAddr;

use chat_migrate::MigrateError;
use clap::ValueEnum;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

/// Logs to stderr, filtered by RUST_LOG (by default warnings, and the migration's progress).
pub fn start_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,chat_migrate=info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
    }
}

/// Serves every metric of [`chat_migrate::monitoring`] at `http://<address>/metrics` (any path
/// answers) for as long as the process runs.
pub fn serve_metrics(address: SocketAddr) -> Result<(), MigrateError> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(address)
        .install()
        .map_err(|error| MigrateError::InvalidInput(format!("--metrics-addr {address}: {error}")))?;
    chat_migrate::monitoring::describe();
    tracing::info!(%address, "serving metrics at /metrics");
    Ok(())
}
