//! Where the relational store is: a connection string and a schema.

use conversation_store::{StoreError, StoreResult};

/// The local server of `cargo xtask db up`.
pub const DEFAULT_POSTGRES_URL: &str = "host=127.0.0.1 port=54329 user=postgres dbname=chat";

/// How to reach the relational store. Its `Debug` form hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// A `host=... port=... user=... dbname=...` string or a `postgres://` URL.
    pub url: String,
    /// The PostgreSQL schema that holds the tables; created if missing.
    pub schema: String,
    /// Connections in the pool.
    pub pool_size: usize,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &redacted(&self.url))
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// A connection string as it may be shown in messages and logs: rebuilt from what the driver
/// reads in it (hosts, ports, user, database), so no password can slip through, however it was
/// written (in the URL's credentials or query, as `password=` with quotes or escapes). A string
/// the driver cannot read is not shown at all.
///
/// ```
/// use conversation_pg::config::redacted;
/// assert_eq!(redacted("postgres://app:ab/c%40d@db:5432/chat?password=x"), "host=db port=5432 user=app dbname=chat");
/// assert_eq!(redacted("host=db password='a b' user=app"), "host=db user=app");
/// assert_eq!(redacted("host=db port=nope password=secret"), "(a connection string that could not be read)");
/// ```
pub fn redacted(url: &str) -> String {
    let Ok(config) = crate::tls::split(url).and_then(|(rest, _)| {
        rest.parse::<tokio_postgres::Config>()
            .map_err(|_| StoreError::InvalidInput { field: "url", reason: String::new() })
    }) else {
        return "(a connection string that could not be read)".to_owned();
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let mut shown = Vec::new();
    if !hosts.is_empty() {
        shown.push(format!("host={}", hosts.join(",")));
    }
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    if !ports.is_empty() {
        shown.push(format!("port={}", ports.join(",")));
    }
    if let Some(user) = config.get_user() {
        shown.push(format!("user={user}"));
    }
    if let Some(dbname) = config.get_dbname() {
        shown.push(format!("dbname={dbname}"));
    }
    shown.join(" ")
}

impl PgConfig {
    pub fn new(url: impl Into<String>, schema: impl Into<String>) -> PgConfig {
        PgConfig { url: url.into(), schema: schema.into(), pool_size: 16 }
    }

    /// `POSTGRES_URL` (default: the local server of `cargo xtask db up`) and `POSTGRES_SCHEMA`
    /// (default `public`).
    pub fn from_env() -> PgConfig {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
        PgConfig::new(
            var("POSTGRES_URL").unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned()),
            var("POSTGRES_SCHEMA").unwrap_or_else(|| "public".to_owned()),
        )
    }

    pub fn with_pool_size(mut self, pool_size: usize) -> PgConfig {
        // Two at least: applying the schema holds its lock on one connection while it runs on another.
        self.pool_size = pool_size.max(2);
        self
    }

    /// The driver's configuration and the TLS the string asks for. Every connection's
    /// `search_path` is the schema: set at connection start, unless the schema is `public`,
    /// the server's default, so that the default works behind PgBouncer, which refuses startup
    /// options (for another schema there, set it on the role: `ALTER ROLE ... SET search_path`).
    pub(crate) fn driver_config(&self) -> StoreResult<(tokio_postgres::Config, crate::tls::TlsSettings)> {
        if !is_plain_identifier(&self.schema) {
            return Err(StoreError::InvalidInput {
                field: "schema",
                reason: format!(
                    "`{}` is not a plain PostgreSQL name (lower-case letters, digits, _; not starting with a digit)",
                    self.schema
                ),
            });
        }
        // Bad input, not an unreachable server; the string is not shown, as it may hold a password.
        let (url, tls) = crate::tls::split(&self.url)?;
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|error: tokio_postgres::Error| StoreError::InvalidInput {
                field: "POSTGRES_URL",
                // The driver's message can quote a piece of the string: not shown either.
                reason: format!(
                    "the connection string (POSTGRES_URL or --postgres; not shown) cannot be read ({})",
                    if error.to_string().contains("unknown option") {
                        "an unknown option"
                    } else {
                        "a malformed value"
                    }
                ),
            })?;
        if self.schema != "public" {
            config.options(format!("-c search_path={}", self.schema));
        }
        config.application_name("conversation-pg");
        config.connect_timeout(std::time::Duration::from_secs(5));
        Ok((config, tls))
    }
}

/// A schema name that needs no quoting anywhere.
pub(crate) fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(first) if first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked_and_both_connection_forms_parse() {
        assert!(PgConfig::new(DEFAULT_POSTGRES_URL, "chat").driver_config().is_ok());
        assert!(PgConfig::new("postgres://postgres@127.0.0.1:54329/chat", "t_1").driver_config().is_ok());
        for bad in ["", "1abc", "Chat", "a-b", "a;drop"] {
            assert!(
                matches!(
                    PgConfig::new(DEFAULT_POSTGRES_URL, bad).driver_config(),
                    Err(StoreError::InvalidInput { field: "schema", .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            PgConfig::new("postgres://[bad", "chat").driver_config(),
            Err(StoreError::InvalidInput { field: "POSTGRES_URL", .. })
        ));
    }
}
