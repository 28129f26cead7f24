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

/// A connection string with its password, if any, replaced by `***`: for messages and logs. Both
/// forms: `postgres://user:secret@host/db` and `host=... password=secret ...` (quoted or not).
///
/// ```
/// use conversation_pg::config::redacted;
/// assert_eq!(redacted("postgres://app:s3cr%40t@db:5432/chat"), "postgres://app:***@db:5432/chat");
/// assert_eq!(redacted("host=db password='a b' user=app"), "host=db password=*** user=app");
/// assert_eq!(redacted("host=db user=app"), "host=db user=app");
/// ```
pub fn redacted(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        // The credentials end at the last `@` before the host (a password may hold `@` encoded).
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                return format!("{scheme}://{}:***{}", &rest[..colon], &rest[at..]);
            }
        }
        if let Some(query) = url.find('?') {
            return format!("{}{}", &url[..query], redact_pairs(&url[query..], '&'));
        }
        return url.to_owned();
    }
    redact_pairs(url, ' ')
}

/// `password=...` among `key=value` pairs, whose values may be single-quoted.
fn redact_pairs(text: &str, separator: char) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("password=") {
        let value_start = start + "password=".len();
        out.push_str(&rest[..value_start]);
        out.push_str("***");
        let value = &rest[value_start..];
        let value_end = if let Some(quoted) = value.strip_prefix('\'') {
            // Up to the closing quote; `\'` inside stays part of the value.
            let mut escaped = false;
            quoted
                .char_indices()
                .find(|&(_, c)| {
                    let end = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    end
                })
                .map_or(value.len(), |(index, _)| index + 2)
        } else {
            value.find(separator).unwrap_or(value.len())
        };
        rest = &value[value_end..];
    }
    out.push_str(rest);
    out
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
        self.pool_size = pool_size.max(1);
        self
    }

    /// The driver's configuration, with every connection's `search_path` set to the schema.
    pub(crate) fn driver_config(&self) -> StoreResult<tokio_postgres::Config> {
        if !is_plain_identifier(&self.schema) {
            return Err(StoreError::InvalidInput {
                field: "schema",
                reason: format!(
                    "`{}` is not a plain PostgreSQL name (lower-case letters, digits, _; not starting with a digit)",
                    self.schema
                ),
            });
        }
        let mut config: tokio_postgres::Config = self.url.parse().map_err(|source| StoreError::Relational {
            action: format!("reading the connection string `{}`", redacted(&self.url)),
            source: Box::new(source),
        })?;
        config.options(format!("-c search_path={}", self.schema));
        config.application_name("conversation-pg");
        config.connect_timeout(std::time::Duration::from_secs(5));
        Ok(config)
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
        assert!(matches!(PgConfig::new("postgres://[bad", "chat").driver_config(), Err(StoreError::Relational { .. })));
    }
}
