//! Comparing a read's answers from both databases, and the read side's counters.
//!
//! Results are compared after normalizing what may differ without meaning anything: a page's
//! cursor is opaque, so only whether there is a next page counts. Each difference is named by
//! field, for the log.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use conversation_store::{Conversation, Session, SessionPage, StepByTurn, TurnByParent};
use scylla_table::{differing_columns, ColumnDifference, ScyllaTable};

use crate::monitoring;

/// The reads the store routes, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReadPattern {
    /// One session's row.
    Session,
    LoadConversation,
    RecentSessions,
    Children,
}

impl ReadPattern {
    pub const ALL: [ReadPattern; 4] =
        [ReadPattern::Session, ReadPattern::LoadConversation, ReadPattern::RecentSessions, ReadPattern::Children];

    pub fn name(self) -> &'static str {
        match self {
            ReadPattern::Session => "session",
            ReadPattern::LoadConversation => "load_conversation",
            ReadPattern::RecentSessions => "recent_sessions",
            ReadPattern::Children => "children",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why a read that should have come from ScyllaDB came from PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FallbackReason {
    /// ScyllaDB answered with an error.
    Error,
    /// ScyllaDB did not answer within the read deadline.
    Timeout,
    /// ScyllaDB had nothing where PostgreSQL has the data.
    NotFound,
    /// The circuit breaker is open: ScyllaDB was not tried.
    BreakerOpen,
    /// Dual-write's copy breaker is open: this instance is skipping copies, so ScyllaDB lacks
    /// recent writes, and was not tried.
    CopyBreakerOpen,
}

impl FallbackReason {
    pub const ALL: [FallbackReason; 5] = [
        FallbackReason::Error,
        FallbackReason::Timeout,
        FallbackReason::NotFound,
        FallbackReason::BreakerOpen,
        FallbackReason::CopyBreakerOpen,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FallbackReason::Error => "error",
            FallbackReason::Timeout => "timeout",
            FallbackReason::NotFound => "not_found",
            FallbackReason::BreakerOpen => "breaker_open",
            FallbackReason::CopyBreakerOpen => "copy_breaker_open",
        }
    }
}

/// How a shadow comparison ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowOutcome {
    Matched,
    /// Differed, then matched one of PostgreSQL's answers when read again: ScyllaDB was behind.
    Stale,
    /// Differed the same way twice in a row while PostgreSQL's answer held still.
    Divergent,
    /// PostgreSQL's answer kept changing while it was read again (a session being written, say),
    /// so nothing could be concluded: neither divergent nor queued for repair.
    Unsettled,
}

#[derive(Default)]
struct PatternCounters {
    compared: AtomicU64,
    matched: AtomicU64,
    stale: AtomicU64,
    divergent: AtomicU64,
    unsettled: AtomicU64,
    shadow_errors: AtomicU64,
    shadow_timeouts: AtomicU64,
    served_by_scylla: AtomicU64,
    fallbacks: [AtomicU64; FallbackReason::ALL.len()],
}

/// The read side's counters, kept here for `status` and reports, and also sent to the
/// `metrics` facade (`chat_migrate_*_total`, labelled by pattern and reason), so that whatever
/// recorder the application installs (a Prometheus exporter, say) sees them.
#[derive(Default)]
pub struct ReadStats {
    patterns: [PatternCounters; 4],
    shadow_skipped: AtomicU64,
}

impl ReadStats {
    pub(crate) fn shadow(&self, pattern: ReadPattern, outcome: ShadowOutcome) {
        let counters = &self.patterns[pattern.index()];
        counters.compared.fetch_add(1, Ordering::Relaxed);
        let (counter, name) = match outcome {
            ShadowOutcome::Matched => (&counters.matched, "matched"),
            ShadowOutcome::Stale => (&counters.stale, "stale"),
            ShadowOutcome::Divergent => (&counters.divergent, "divergent"),
            ShadowOutcome::Unsettled => (&counters.unsettled, "unsettled"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        monitoring::shadow_compared(pattern.name(), name);
    }

    /// A shadow read that ScyllaDB failed (`FallbackReason::Error`) or did not answer within the
    /// read deadline (`FallbackReason::Timeout`): nothing to compare, but a ScyllaDB that fails
    /// shadow reads must not look clean.
    pub(crate) fn shadow_failed(&self, pattern: ReadPattern, reason: FallbackReason) {
        let counters = &self.patterns[pattern.index()];
        let counter =
            if reason == FallbackReason::Timeout { &counters.shadow_timeouts } else { &counters.shadow_errors };
        counter.fetch_add(1, Ordering::Relaxed);
        monitoring::shadow_failed(pattern.name(), reason.name());
    }

    pub(crate) fn shadow_skipped(&self) {
        self.shadow_skipped.fetch_add(1, Ordering::Relaxed);
        monitoring::shadow_skipped();
    }

    pub(crate) fn served_by_scylla(&self, pattern: ReadPattern) {
        self.patterns[pattern.index()].served_by_scylla.fetch_add(1, Ordering::Relaxed);
        monitoring::scylla_read(pattern.name());
    }

    pub(crate) fn fallback(&self, pattern: ReadPattern, reason: FallbackReason) {
        self.patterns[pattern.index()].fallbacks[reason as usize].fetch_add(1, Ordering::Relaxed);
        monitoring::fallback(pattern.name(), reason.name());
    }

    /// The counts so far.
    pub fn snapshot(&self) -> ReadCounts {
        let mut counts =
            ReadCounts { shadow_skipped: self.shadow_skipped.load(Ordering::Relaxed), ..Default::default() };
        for pattern in ReadPattern::ALL {
            let counters = &self.patterns[pattern.index()];
            let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
            counts.patterns.insert(
                pattern,
                PatternCounts {
                    compared: load(&counters.compared),
                    matched: load(&counters.matched),
                    stale: load(&counters.stale),
                    divergent: load(&counters.divergent),
                    unsettled: load(&counters.unsettled),
                    shadow_errors: load(&counters.shadow_errors),
                    shadow_timeouts: load(&counters.shadow_timeouts),
                    served_by_scylla: load(&counters.served_by_scylla),
                    fallbacks: FallbackReason::ALL
                        .into_iter()
                        .map(|reason| (reason, load(&counters.fallbacks[reason as usize])))
                        .collect(),
                },
            );
        }
        counts
    }
}

/// One pattern's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatternCounts {
    pub compared: u64,
    pub matched: u64,
    pub stale: u64,
    pub divergent: u64,
    /// Comparisons that could not conclude: PostgreSQL kept changing while they read again.
    pub unsettled: u64,
    /// Shadow reads that ScyllaDB failed, or did not answer within the read deadline.
    pub shadow_errors: u64,
    pub shadow_timeouts: u64,
    pub served_by_scylla: u64,
    pub fallbacks: BTreeMap<FallbackReason, u64>,
}

impl PatternCounts {
    pub fn fallbacks(&self, reason: FallbackReason) -> u64 {
        self.fallbacks.get(&reason).copied().unwrap_or(0)
    }

    pub fn all_fallbacks(&self) -> u64 {
        self.fallbacks.values().sum()
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &PatternCounts) {
        self.compared += other.compared;
        self.matched += other.matched;
        self.stale += other.stale;
        self.divergent += other.divergent;
        self.unsettled += other.unsettled;
        self.shadow_errors += other.shadow_errors;
        self.shadow_timeouts += other.shadow_timeouts;
        self.served_by_scylla += other.served_by_scylla;
        for (reason, count) in &other.fallbacks {
            *self.fallbacks.entry(*reason).or_default() += count;
        }
    }
}

/// The read side's counts at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadCounts {
    pub patterns: BTreeMap<ReadPattern, PatternCounts>,
    /// Shadow reads not run because too many were in flight.
    pub shadow_skipped: u64,
}

impl ReadCounts {
    pub fn pattern(&self, pattern: ReadPattern) -> PatternCounts {
        self.patterns.get(&pattern).cloned().unwrap_or_default()
    }

    /// Every pattern's counts added up.
    pub fn total(&self) -> PatternCounts {
        let mut total = PatternCounts::default();
        for counts in self.patterns.values() {
            total.add(counts);
        }
        total
    }

    /// Adds another instance's counts to these.
    pub fn merge(&mut self, other: &ReadCounts) {
        for (pattern, counts) in &other.patterns {
            self.patterns.entry(*pattern).or_default().add(counts);
        }
        self.shadow_skipped += other.shadow_skipped;
    }
}

impl fmt::Display for ReadCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reasons: Vec<&str> = FallbackReason::ALL.iter().map(|reason| reason.name()).collect();
        writeln!(
            f,
            "{:<18} {:>9} {:>9} {:>7} {:>9} {:>9} {:>13} {:>9}  fallbacks ({})",
            "pattern",
            "compared",
            "matched",
            "stale",
            "divergent",
            "unsettled",
            "shadow failed",
            "scylla",
            reasons.join("/")
        )?;
        for (pattern, counts) in &self.patterns {
            let fallbacks: Vec<String> =
                FallbackReason::ALL.iter().map(|reason| counts.fallbacks(*reason).to_string()).collect();
            writeln!(
                f,
                "{:<18} {:>9} {:>9} {:>7} {:>9} {:>9} {:>13} {:>9}  {}",
                pattern.name(),
                counts.compared,
                counts.matched,
                counts.stale,
                counts.divergent,
                counts.unsettled,
                format!("{}/{}", counts.shadow_errors, counts.shadow_timeouts),
                counts.served_by_scylla,
                fallbacks.join("/")
            )?;
        }
        write!(f, "shadow reads skipped (too many in flight): {}", self.shadow_skipped)
    }
}

/// A read result that can be compared across the two databases.
pub trait Compare {
    /// What differs between PostgreSQL's answer and ScyllaDB's, by field; empty when they match.
    fn differences(postgres: &Self, scylla: &Self) -> Vec<String>;
}

fn field<T: PartialEq + fmt::Debug>(out: &mut Vec<String>, name: &str, postgres: &T, scylla: &T) {
    if postgres != scylla {
        out.push(format!("{name}: PostgreSQL {postgres:?}, ScyllaDB {scylla:?}"));
    }
}

/// Every column of a table row, as the table's model lists them: a column added to a table is
/// compared without a change here.
fn row_differences<T: ScyllaTable>(out: &mut Vec<String>, prefix: &str, postgres: &T, scylla: &T) {
    for difference in differing_columns(postgres, scylla) {
        let ColumnDifference { column, left, right } = difference;
        out.push(format!("{prefix}{column}: PostgreSQL {left}, ScyllaDB {right}"));
    }
}

impl Compare for Session {
    fn differences(postgres: &Self, scylla: &Self) -> Vec<String> {
        let mut out = Vec::new();
        row_differences(&mut out, "", postgres, scylla);
        out
    }
}

impl Compare for Conversation {
    fn differences(postgres: &Self, scylla: &Self) -> Vec<String> {
        let mut out = Vec::new();
        row_differences(&mut out, "session.", &postgres.session, &scylla.session);
        let by_uid = |conversation: &Conversation| -> BTreeMap<String, usize> {
            conversation.turns.iter().enumerate().map(|(index, turn)| (turn.turn.turn_uid.clone(), index)).collect()
        };
        let (pg_turns, scylla_turns) = (by_uid(postgres), by_uid(scylla));
        for (uid, &pg_index) in &pg_turns {
            let Some(&scylla_index) = scylla_turns.get(uid) else {
                out.push(format!("turn {uid}: missing in ScyllaDB"));
                continue;
            };
            let (pg, sc) = (&postgres.turns[pg_index], &scylla.turns[scylla_index]);
            let prefix = format!("turn {uid}.");
            row_differences(&mut out, &prefix, &pg.turn, &sc.turn);
            field(&mut out, &format!("{prefix}children"), &pg.children, &sc.children);
            let idx = |steps: &[StepByTurn]| steps.iter().map(|step| step.idx).collect::<Vec<_>>();
            if idx(&pg.steps) != idx(&sc.steps) {
                out.push(format!(
                    "{prefix}steps: PostgreSQL idx {:?}, ScyllaDB idx {:?}",
                    idx(&pg.steps),
                    idx(&sc.steps)
                ));
            } else {
                for (pg_step, sc_step) in pg.steps.iter().zip(&sc.steps) {
                    row_differences(&mut out, &format!("{prefix}step {}.", pg_step.idx), pg_step, sc_step);
                }
            }
        }
        for uid in scylla_turns.keys().filter(|uid| !pg_turns.contains_key(*uid)) {
            out.push(format!("turn {uid}: only in ScyllaDB"));
        }
        if out.is_empty() {
            // Same turns, same fields: only the order can differ.
            let order = |conversation: &Conversation| -> Vec<String> {
                conversation.turns.iter().map(|turn| turn.turn.turn_uid.clone()).collect()
            };
            field(&mut out, "turn order", &order(postgres), &order(scylla));
        }
        field(&mut out, "active_path", &postgres.active_path, &scylla.active_path);
        out
    }
}

impl Compare for SessionPage {
    fn differences(postgres: &Self, scylla: &Self) -> Vec<String> {
        let mut out = Vec::new();
        let uids =
            |page: &SessionPage| -> Vec<String> { page.sessions.iter().map(|s| s.session_uid.clone()).collect() };
        field(&mut out, "sessions", &uids(postgres), &uids(scylla));
        if out.is_empty() {
            for (pg, sc) in postgres.sessions.iter().zip(&scylla.sessions) {
                row_differences(&mut out, &format!("session {}.", pg.session_uid), pg, sc);
            }
        }
        // The cursor is opaque; whether there is more is what the user sees.
        field(&mut out, "has next page", &postgres.next.is_some(), &scylla.next.is_some());
        out
    }
}

impl Compare for Vec<TurnByParent> {
    fn differences(postgres: &Self, scylla: &Self) -> Vec<String> {
        let mut out = Vec::new();
        field(&mut out, "children", postgres, scylla);
        out
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    /// A table like `sessions_by_user` with a column neither verify nor shadow names.
    #[derive(ScyllaTable, Debug, Clone, PartialEq)]
    #[table(name = "sessions_with_a_new_column")]
    struct Widened {
        #[table(partition_key)]
        account_uid: String,
        #[table(clustering)]
        session_uid: String,
        title: String,
        added_column: Option<i32>,
    }

    #[test]
    fn a_column_the_model_adds_is_compared() {
        let postgres =
            Widened { account_uid: "a1".into(), session_uid: "s1".into(), title: "Trip".into(), added_column: Some(1) };
        let mut out = Vec::new();
        row_differences(&mut out, "", &postgres, &postgres.clone());
        assert!(out.is_empty(), "{out:?}");
        let scylla = Widened { added_column: None, ..postgres.clone() };
        row_differences(&mut out, "session s1.", &postgres, &scylla);
        assert_eq!(out, ["session s1.added_column: PostgreSQL Some(1), ScyllaDB None"]);
    }

    #[test]
    fn a_session_differs_in_a_key_column_too() {
        let at = |millis| Utc.timestamp_millis_opt(millis).unwrap();
        let postgres = Session {
            account_uid: "a1".into(),
            created_at: at(1_000),
            session_uid: "s1".into(),
            title: "Trip".into(),
            deleted_at: None,
        };
        let scylla = Session { created_at: at(2_000), ..postgres.clone() };
        let out = Session::differences(&postgres, &scylla);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].starts_with("created_at: "), "{out:?}");
    }
}
