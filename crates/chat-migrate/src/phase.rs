//! The migration's phases and how reads are routed in each.

use std::fmt;
use std::str::FromStr;

/// Where writes and reads go. The phases run in this order; each can go one step forward or
/// back while the application runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Before: PostgreSQL only.
    Postgres,
    /// Writes to PostgreSQL, with the outbox and a ScyllaDB copy; reads from PostgreSQL.
    DualWrite,
    /// As dual-write, and a share of reads also runs on ScyllaDB in the background, compared.
    Shadow,
    /// As dual-write; a percentage of accounts read from ScyllaDB, falling back to PostgreSQL.
    ScyllaReads,
    /// ScyllaDB is the source of truth: writes go to it first, recording each change for the
    /// relay toward PostgreSQL (analytics and backup); reads come from ScyllaDB only.
    ScyllaPrimary,
}

impl Phase {
    pub const ALL: [Phase; 5] =
        [Phase::Postgres, Phase::DualWrite, Phase::Shadow, Phase::ScyllaReads, Phase::ScyllaPrimary];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Postgres => "postgres",
            Phase::DualWrite => "dual-write",
            Phase::Shadow => "shadow",
            Phase::ScyllaReads => "scylla-reads",
            Phase::ScyllaPrimary => "scylla-primary",
        }
    }

    fn position(self) -> usize {
        Phase::ALL.iter().position(|phase| *phase == self).unwrap_or(0)
    }

    /// Whether writes go through dual-write (PostgreSQL, its outbox and the ScyllaDB copy).
    pub fn dual_writes(self) -> bool {
        matches!(self, Phase::DualWrite | Phase::Shadow | Phase::ScyllaReads)
    }

    /// Whether going from `self` to `to` is one step forward, one back, or staying.
    pub fn can_move_to(self, to: Phase) -> bool {
        self.position().abs_diff(to.position()) <= 1
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Phase {
    type Err = String;

    fn from_str(text: &str) -> Result<Phase, String> {
        Phase::ALL.into_iter().find(|phase| phase.name() == text.trim()).ok_or_else(|| {
            let names: Vec<&str> = Phase::ALL.iter().map(|phase| phase.name()).collect();
            format!("`{text}` is not a phase; the phases, in order: {}", names.join(", "))
        })
    }
}

/// The phase and its dials, switched as one while the store runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Routing {
    pub phase: Phase,
    /// In `shadow`: the share of reads also run on ScyllaDB, 0.0 to 1.0.
    pub shadow_share: f64,
    /// In `scylla-reads`: the percentage of accounts that read from ScyllaDB, 0 to 100.
    pub scylla_read_percent: u8,
}

impl Routing {
    pub fn new(phase: Phase) -> Routing {
        Routing { phase, shadow_share: 1.0, scylla_read_percent: 100 }
    }

    pub fn with_shadow_share(mut self, share: f64) -> Routing {
        self.shadow_share = share;
        self
    }

    pub fn with_scylla_read_percent(mut self, percent: u8) -> Routing {
        self.scylla_read_percent = percent;
        self
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.shadow_share) {
            return Err(format!("the shadow share must be within 0.0 and 1.0, not {}", self.shadow_share));
        }
        if self.scylla_read_percent > 100 {
            return Err(format!(
                "the ScyllaDB read percentage must be within 0 and 100, not {}",
                self.scylla_read_percent
            ));
        }
        Ok(())
    }

    /// Whether `account_uid` reads from ScyllaDB in this routing. Accounts are placed in 100
    /// buckets by a stable hash, and a percentage p takes buckets 0..p: the same account always
    /// gets the same answer, on every instance, and raising p only adds accounts.
    pub fn reads_from_scylla(&self, account_uid: &str) -> bool {
        self.phase == Phase::ScyllaReads && account_bucket(account_uid) < u64::from(self.scylla_read_percent)
    }
}

/// The account's bucket, 0 to 99, by a hash that is fixed across builds and platforms, so every
/// application instance puts an account in the same bucket.
pub fn account_bucket(account_uid: &str) -> u64 {
    conversation_store::stable_bucket(account_uid, 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_parse_and_move_one_step_at_a_time() {
        for phase in Phase::ALL {
            assert_eq!(phase.name().parse::<Phase>(), Ok(phase));
        }
        assert!("cutover"
            .parse::<Phase>()
            .unwrap_err()
            .contains("postgres, dual-write, shadow, scylla-reads, scylla-primary"));
        assert!(Phase::Postgres.can_move_to(Phase::DualWrite));
        assert!(Phase::Shadow.can_move_to(Phase::DualWrite), "each step can be rolled back");
        assert!(!Phase::Postgres.can_move_to(Phase::Shadow), "no skipping a step");
        assert!(!Phase::ScyllaReads.can_move_to(Phase::DualWrite));
        assert!(Phase::ScyllaPrimary.can_move_to(Phase::ScyllaReads));
        assert!(!Phase::ScyllaPrimary.dual_writes() && !Phase::Postgres.dual_writes() && Phase::Shadow.dual_writes());
    }

    #[test]
    fn read_percentages_are_sticky_and_only_grow() {
        let accounts: Vec<String> = (0..2000).map(|index| format!("account-{index}")).collect();
        let routed = |percent: u8| -> Vec<bool> {
            let routing = Routing::new(Phase::ScyllaReads).with_scylla_read_percent(percent);
            accounts.iter().map(|account| routing.reads_from_scylla(account)).collect()
        };
        let (ten, fifty, all) = (routed(10), routed(50), routed(100));
        assert_eq!(ten, routed(10), "the same account gets the same answer every time");
        let share = |routed: &[bool]| routed.iter().filter(|on| **on).count() as f64 / accounts.len() as f64;
        assert!((0.07..0.13).contains(&share(&ten)), "about 10%: {}", share(&ten));
        assert!((0.45..0.55).contains(&share(&fifty)), "about 50%: {}", share(&fifty));
        assert_eq!(share(&all), 1.0);
        assert!(ten.iter().zip(&fifty).all(|(at_ten, at_fifty)| !at_ten || *at_fifty), "10% is within 50%");
        assert!(!Routing::new(Phase::Shadow).reads_from_scylla("account-1"), "only scylla-reads reads ScyllaDB");
        assert_eq!(account_bucket("account-1"), account_bucket("account-1"));
    }
}
