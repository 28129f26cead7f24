//! How to reach a cluster: contact points, keyspace, replication, credentials and consistency.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use scylla::statement::Consistency;

use crate::error::{is_local, Error, Result};

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

/// The consistency of reads and writes. The default, [`ConsistencyLevels::single_datacenter`],
/// is the design's: writes at QUORUM and reads at ONE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsistencyLevels {
    /// For every read.
    pub read: Consistency,
    /// For every write, batches included.
    pub write: Consistency,
}

impl Default for ConsistencyLevels {
    fn default() -> Self {
        ConsistencyLevels::single_datacenter()
    }
}

impl ConsistencyLevels {
    /// Writes at QUORUM of all replicas, reads at ONE: the design's levels, for one datacenter.
    pub const fn single_datacenter() -> ConsistencyLevels {
        ConsistencyLevels { read: Consistency::One, write: Consistency::Quorum }
    }

    /// Writes at LOCAL_QUORUM, reads at LOCAL_ONE, lightweight transactions at LOCAL_SERIAL:
    /// for several datacenters, where a request waits only for replicas in the client's own
    /// ([`ConnectionConfig::local_datacenter`]) and the others receive their copies in the
    /// background. A datacenter that goes down then costs the others nothing; every guarantee
    /// (read your writes, the migration's checks) holds within one datacenter.
    pub const fn local_datacenter() -> ConsistencyLevels {
        ConsistencyLevels { read: Consistency::LocalOne, write: Consistency::LocalQuorum }
    }

    /// Reads `quorum` ([`ConsistencyLevels::single_datacenter`]) or `local`
    /// ([`ConsistencyLevels::local_datacenter`]), as `SCYLLA_CONSISTENCY` names them.
    pub fn parse(text: &str) -> Result<ConsistencyLevels> {
        match text.trim().to_ascii_lowercase().as_str() {
            "quorum" => Ok(ConsistencyLevels::single_datacenter()),
            "local" => Ok(ConsistencyLevels::local_datacenter()),
            _ => Err(Error::Config(format!(
                "SCYLLA_CONSISTENCY `{text}`: expected `quorum` (writes at QUORUM, reads at ONE) or `local` \
                 (LOCAL_QUORUM and LOCAL_ONE in SCYLLA_LOCAL_DC)"
            ))),
        }
    }

    /// The read that sees every write acknowledged at [`ConsistencyLevels::write`] (their
    /// replica sets overlap): what the checks that must not miss a write read at. Within the
    /// local datacenter when writes are local.
    pub fn strong_read(&self) -> Consistency {
        match self.write {
            Consistency::LocalQuorum | Consistency::EachQuorum => Consistency::LocalQuorum,
            Consistency::All => Consistency::One,
            Consistency::Quorum | Consistency::Serial => Consistency::Quorum,
            _ => Consistency::All,
        }
    }

    /// The Paxos level of lightweight transactions and of the reads that must see them:
    /// LOCAL_SERIAL when writes are local, so a transaction never waits on another datacenter.
    pub fn serial(&self) -> Consistency {
        // From the write level alone: a transaction is a write, and its settle read must use
        // the level the transaction ran at, whatever the handle's reads are set to.
        if is_local(self.write) {
            Consistency::LocalSerial
        } else {
            Consistency::Serial
        }
    }

    /// True when a level is local to the coordinator's datacenter: then it needs
    /// [`ConnectionConfig::local_datacenter`], or the datacenter it holds in is whichever the
    /// driver picked a coordinator from.
    pub fn is_local(&self) -> bool {
        is_local(self.read) || is_local(self.write)
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
    /// The client's own datacenter (`SCYLLA_LOCAL_DC`): requests go to its nodes only, and the
    /// local consistency levels count its replicas. `None`: any node, by token. With several
    /// datacenters, set it, with [`ConsistencyLevels::local_datacenter`]. Requests never fail
    /// over to another datacenter: there, LOCAL_QUORUM would mean a quorum of other replicas,
    /// and read-your-writes would silently stop holding; a team fails over on purpose, by
    /// pointing the application at the other datacenter.
    pub local_datacenter: Option<String>,
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
            .field("local_datacenter", &self.local_datacenter)
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
            local_datacenter: None,
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
    /// `SCYLLA_USERNAME` / `SCYLLA_PASSWORD`, `SCYLLA_LOCAL_DC`, `SCYLLA_CONSISTENCY` (`quorum`,
    /// the default, or `local`), and `SCYLLA_TLS_CA` (with the `tls` feature).
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
        config.local_datacenter = var("SCYLLA_LOCAL_DC");
        if let Some(consistency) = var("SCYLLA_CONSISTENCY") {
            config.consistency = ConsistencyLevels::parse(&consistency)?;
        }
        config.check()?;
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

    /// Sets [`ConnectionConfig::local_datacenter`].
    pub fn local_datacenter(mut self, datacenter: impl Into<String>) -> Self {
        self.local_datacenter = Some(datacenter.into());
        self
    }

    /// Refuses local consistency levels without a local datacenter: which datacenter's quorum a
    /// write got would depend on the coordinator the driver happened to pick.
    pub fn check(&self) -> Result<()> {
        if self.consistency.is_local() && self.local_datacenter.is_none() {
            return Err(Error::Config(format!(
                "consistency {:?} / {:?} is local to a datacenter, but no local datacenter is set: set \
                 SCYLLA_LOCAL_DC (`ConnectionConfig::local_datacenter`)",
                self.consistency.write, self.consistency.read
            )));
        }
        Ok(())
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

    #[test]
    fn the_presets_pair_reads_writes_and_transactions_within_their_scope() {
        let design = ConsistencyLevels::parse("quorum").unwrap();
        assert_eq!(design, ConsistencyLevels::default());
        assert_eq!((design.strong_read(), design.serial()), (Consistency::Quorum, Consistency::Serial));
        let local = ConsistencyLevels::parse("LOCAL").unwrap();
        assert_eq!((local.read, local.write), (Consistency::LocalOne, Consistency::LocalQuorum));
        assert_eq!((local.strong_read(), local.serial()), (Consistency::LocalQuorum, Consistency::LocalSerial));
        assert!(ConsistencyLevels::parse("each").is_err());
        let one = ConsistencyLevels { read: Consistency::One, write: Consistency::One };
        assert_eq!(one.strong_read(), Consistency::All, "a write at ONE is seen for sure by a read of every replica");
        let local_reads = ConsistencyLevels { read: Consistency::LocalOne, write: Consistency::Quorum };
        assert_eq!(local_reads.serial(), Consistency::Serial, "transactions follow the write level");
    }

    #[test]
    fn local_levels_need_a_local_datacenter() {
        let config = ConnectionConfig::new([LOCAL_NODE], "chat").consistency(ConsistencyLevels::local_datacenter());
        assert!(config.check().unwrap_err().to_string().contains("SCYLLA_LOCAL_DC"));
        assert!(config.local_datacenter("dc1").check().is_ok());
        assert!(ConnectionConfig::new([LOCAL_NODE], "chat").check().is_ok());
    }
}
