//! How to reach a cluster: contact points, keyspace, replication, credentials and consistency.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use scylla::statement::Consistency;

use crate::error::{Error, Result};

/// The replication of the application keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// One replication factor for the whole cluster: for development and single-DC tests.
    Simple {
        /// Copies of each row.
        factor: u32,
    },
    /// A factor per datacenter: for production.
    NetworkTopology {
        /// Each datacenter's name and its copies of each row.
        datacenters: Vec<(String, u32)>,
    },
}

impl Replication {
    /// The `replication = {...}` map of `CREATE KEYSPACE`.
    pub fn to_map(&self) -> Vec<(String, String)> {
        match self {
            Replication::Simple { factor } => {
                vec![("class".into(), "SimpleStrategy".into()), ("replication_factor".into(), factor.to_string())]
            }
            Replication::NetworkTopology { datacenters } => {
                let mut map = vec![("class".to_owned(), "NetworkTopologyStrategy".to_owned())];
                map.extend(datacenters.iter().map(|(dc, factor)| (dc.clone(), factor.to_string())));
                map
            }
        }
    }

    /// Reads `simple:3` or `dc1:3,dc2:2` (NetworkTopologyStrategy).
    pub fn parse(text: &str) -> Result<Replication> {
        let bad = || {
            Error::Config(format!(
                "SCYLLA_REPLICATION `{text}`: expected `simple:<factor>` or `<dc>:<factor>[,<dc>:<factor>...]`"
            ))
        };
        let pairs: Vec<(String, u32)> = text
            .split(',')
            .map(|pair| {
                let (name, factor) = pair.trim().split_once(':').ok_or_else(bad)?;
                let factor: u32 = factor.trim().parse().map_err(|_| bad())?;
                Ok((name.trim().to_owned(), factor))
            })
            .collect::<Result<_>>()?;
        match pairs.as_slice() {
            [(name, factor)] if name.eq_ignore_ascii_case("simple") => Ok(Replication::Simple { factor: *factor }),
            [] => Err(bad()),
            _ => Ok(Replication::NetworkTopology { datacenters: pairs }),
        }
    }
}

/// Default consistency levels: the design writes at QUORUM and reads at ONE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsistencyLevels {
    /// For every read.
    pub read: Consistency,
    /// For every write, batches included.
    pub write: Consistency,
}

impl Default for ConsistencyLevels {
    fn default() -> Self {
        ConsistencyLevels { read: Consistency::One, write: Consistency::Quorum }
    }
}

/// Everything needed to open a [`crate::Database`].
///
/// ```
/// use scylla_table::{ConnectionConfig, Replication};
///
/// let config = ConnectionConfig::new(["127.0.0.1:9042"], "chat")
///     .replication(Replication::NetworkTopology { datacenters: vec![("dc1".into(), 3)] })
///     .credentials("app", "secret");
/// assert_eq!(config.keyspace, "chat");
/// assert!(!format!("{config:?}").contains("secret"), "the password is never shown");
/// ```
#[derive(Clone)]
pub struct ConnectionConfig {
    /// `host:port` of nodes to reach first; the driver learns the rest of the cluster from them.
    pub contact_points: Vec<String>,
    /// The application keyspace every table handle uses.
    pub keyspace: String,
    /// How the keyspace is replicated when `apply_schema` creates it.
    pub replication: Replication,
    /// User name and password, for PasswordAuthenticator.
    pub credentials: Option<(String, String)>,
    /// The default consistency of reads and writes.
    pub consistency: ConsistencyLevels,
    /// How long to wait for the first connection before giving up.
    pub connect_timeout: Duration,
    /// How long one request may take before it fails with a timeout. Bounded so that a node
    /// that hangs (overloaded, paused, partitioned away) costs a caller seconds, not minutes.
    pub request_timeout: Duration,
    /// Hedged requests: when an idempotent request (every read, and every write but lightweight
    /// transactions, counters and list appends) has no answer after this delay, the same request
    /// also goes to the next replica, and the first answer wins; at most two extra attempts. Off
    /// by default: it adds load exactly when a node is slow. Turn it on where a node that hangs
    /// (a long GC pause, a stalled disk) must not stall reads.
    pub speculative_after: Option<Duration>,
    /// Addresses the nodes advertise, mapped to the addresses this client reaches them at:
    /// behind NAT, port forwarding or a proxy, the addresses the cluster reports for its nodes
    /// are not the ones to dial. Empty: dial what the cluster reports.
    pub address_map: BTreeMap<SocketAddr, SocketAddr>,
    /// Connect over TLS, trusting the CA certificates in this PEM file (`SCYLLA_TLS_CA`).
    #[cfg(feature = "tls")]
    pub tls_ca_pem: Option<std::path::PathBuf>,
}

/// Every field, but the password: a config gets logged.
impl std::fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("ConnectionConfig");
        out.field("contact_points", &self.contact_points)
            .field("keyspace", &self.keyspace)
            .field("replication", &self.replication)
            .field("credentials", &self.credentials.as_ref().map(|(user, _)| (user, "***")))
            .field("consistency", &self.consistency)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("speculative_after", &self.speculative_after)
            .field("address_map", &self.address_map);
        #[cfg(feature = "tls")]
        out.field("tls_ca_pem", &self.tls_ca_pem);
        out.finish()
    }
}

/// The default of [`ConnectionConfig::request_timeout`]: well above the node's own write (2 s)
/// and read (5 s) timeouts, so that the node answers with its own error first.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The contact point used when `SCYLLA_URI` is unset: the local node of `cargo xtask db up`.
pub const LOCAL_NODE: &str = "127.0.0.1:9042";

impl ConnectionConfig {
    /// These contact points and keyspace, with the defaults: replication factor 1, no
    /// credentials, writes at QUORUM and reads at ONE, a 5 s connect timeout, a 10 s request
    /// timeout, no hedging.
    pub fn new(contact_points: impl IntoIterator<Item = impl Into<String>>, keyspace: impl Into<String>) -> Self {
        ConnectionConfig {
            contact_points: contact_points.into_iter().map(Into::into).collect(),
            keyspace: keyspace.into(),
            replication: Replication::Simple { factor: 1 },
            credentials: None,
            consistency: ConsistencyLevels::default(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            speculative_after: None,
            address_map: BTreeMap::new(),
            #[cfg(feature = "tls")]
            tls_ca_pem: None,
        }
    }

    /// Reads `SCYLLA_URI` (comma-separated `host:port`, default the local node),
    /// `SCYLLA_KEYSPACE` (default `default_keyspace`), `SCYLLA_REPLICATION` (default `simple:1`),
    /// `SCYLLA_USERNAME` / `SCYLLA_PASSWORD`, and `SCYLLA_TLS_CA` (with the `tls` feature).
    pub fn from_env(default_keyspace: &str) -> Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
        let uri = var("SCYLLA_URI").unwrap_or_else(|| LOCAL_NODE.to_owned());
        let contact_points: Vec<String> = uri
            .split(',')
            .map(|point| point.trim().trim_start_matches("scylla://").trim_start_matches("cql://").to_owned())
            .filter(|point| !point.is_empty())
            .collect();
        if contact_points.is_empty() {
            return Err(Error::Config(format!("SCYLLA_URI `{uri}` names no host")));
        }
        let mut config =
            ConnectionConfig::new(contact_points, var("SCYLLA_KEYSPACE").unwrap_or(default_keyspace.into()));
        if let Some(replication) = var("SCYLLA_REPLICATION") {
            config.replication = Replication::parse(&replication)?;
        }
        #[cfg(feature = "tls")]
        {
            config.tls_ca_pem = var("SCYLLA_TLS_CA").map(std::path::PathBuf::from);
        }
        #[cfg(not(feature = "tls"))]
        if var("SCYLLA_TLS_CA").is_some() {
            return Err(Error::Config(
                "SCYLLA_TLS_CA is set, but this build has no TLS: enable the `tls` feature of scylla-table".into(),
            ));
        }
        match (var("SCYLLA_USERNAME"), var("SCYLLA_PASSWORD")) {
            (Some(user), Some(password)) => config.credentials = Some((user, password)),
            (None, None) => {}
            _ => return Err(Error::Config("set both SCYLLA_USERNAME and SCYLLA_PASSWORD, or neither".into())),
        }
        Ok(config)
    }

    /// Sets [`ConnectionConfig::replication`].
    pub fn replication(mut self, replication: Replication) -> Self {
        self.replication = replication;
        self
    }

    /// Sets [`ConnectionConfig::credentials`].
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Sets [`ConnectionConfig::consistency`].
    pub fn consistency(mut self, consistency: ConsistencyLevels) -> Self {
        self.consistency = consistency;
        self
    }

    /// Sets [`ConnectionConfig::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`ConnectionConfig::request_timeout`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// See [`ConnectionConfig::speculative_after`].
    pub fn speculative_after(mut self, delay: Duration) -> Self {
        self.speculative_after = Some(delay);
        self
    }

    /// Dial `reachable` wherever the cluster reports a node at `advertised`.
    pub fn map_address(mut self, advertised: SocketAddr, reachable: SocketAddr) -> Self {
        self.address_map.insert(advertised, reachable);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_parses_both_strategies() {
        assert_eq!(Replication::parse("simple:3").unwrap(), Replication::Simple { factor: 3 });
        assert_eq!(
            Replication::parse("dc1:3, dc2:2").unwrap(),
            Replication::NetworkTopology { datacenters: vec![("dc1".into(), 3), ("dc2".into(), 2)] }
        );
        assert!(Replication::parse("three").is_err());
        assert!(Replication::parse("simple:x").is_err());
    }
}
