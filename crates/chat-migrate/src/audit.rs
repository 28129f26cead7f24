//! Audit: the store's own invariants, checked in ScyllaDB alone, session by session. It needs no
//! PostgreSQL, so it runs after a fault, on a cluster that was never migrated, or after a repair:
//!
//! - every turn of `turns_by_session` is in `turns_by_parent` under its parent and in
//!   `turns_by_uid`, with the same fields, and nothing is in those two that is not in the first;
//! - every agent turn's steps are numbered 0, 1, 2, ... with no gap, and human turns have none;
//!   with `steps_by_session`, it holds exactly the steps of `steps_by_turn`;
//! - every `active_child` names a real child of its turn, and the session's active root a real
//!   first turn;
//! - the session has both its `sessions_by_user` and `session_owners` rows.
//!
//! It reads through [`crate::verify::read_copies`], the reads verify uses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use conversation_store::{SessionOwner, SessionOwnerPrimaryKey, StoreTables, TurnType};
use futures::{StreamExt, TryStreamExt};

use crate::error::MigrateResult;
use crate::projection::Layout;
use crate::verify::{orphans, read_copies, ScyllaSession, SessionAddress};

/// Sessions audited at once: each is a dozen or more reads, so a few keep the cluster busy
/// without crowding out the application's own requests.
const SESSION_CONCURRENCY: usize = 8;

/// What an invariant violation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViolationKind {
    /// `turns_by_session` and `turns_by_parent` list different turns.
    TurnTablesDisagree,
    /// A turn's copies hold different values for the same field.
    TurnFieldsDiffer,
    /// A turn has no `turns_by_uid` row.
    MissingLocation,
    /// An agent turn's steps skip an index, or a human turn has steps.
    StepGap,
    /// `steps_by_session` and `steps_by_turn` hold different steps.
    StepTablesDisagree,
    /// An `active_child` or active root that names no such child or root.
    DanglingActive,
    /// The session lacks its `sessions_by_user` or `session_owners` row.
    MissingSessionRow,
}

impl ViolationKind {
    pub const ALL: [ViolationKind; 7] = [
        ViolationKind::TurnTablesDisagree,
        ViolationKind::TurnFieldsDiffer,
        ViolationKind::MissingLocation,
        ViolationKind::StepGap,
        ViolationKind::StepTablesDisagree,
        ViolationKind::DanglingActive,
        ViolationKind::MissingSessionRow,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ViolationKind::TurnTablesDisagree => "turn tables disagree",
            ViolationKind::TurnFieldsDiffer => "turn fields differ",
            ViolationKind::MissingLocation => "turn without turns_by_uid row",
            ViolationKind::StepGap => "step gap",
            ViolationKind::StepTablesDisagree => "step tables disagree",
            ViolationKind::DanglingActive => "dangling active pointer",
            ViolationKind::MissingSessionRow => "missing session row",
        }
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    pub session_uid: String,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in session {}: {}", self.kind.label(), self.session_uid, self.detail)
    }
}

/// What an audit found.
#[derive(Debug, Default, Clone)]
pub struct AuditReport {
    pub sessions: usize,
    pub turns: usize,
    pub steps: usize,
    pub violations: Vec<Violation>,
}

impl AuditReport {
    pub fn count(&self, kind: ViolationKind) -> usize {
        self.violations.iter().filter(|violation| violation.kind == kind).count()
    }

    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// One line: what was read, and the violations by kind.
    pub fn summary(&self) -> String {
        let kinds: Vec<String> = ViolationKind::ALL
            .iter()
            .map(|kind| (kind, self.count(*kind)))
            .filter(|(_, count)| *count > 0)
            .map(|(kind, count)| format!("{count} {}", kind.label()))
            .collect();
        let verdict = if kinds.is_empty() { "no violations".to_owned() } else { kinds.join(", ") };
        format!("audited {} sessions, {} turns, {} steps: {verdict}", self.sessions, self.turns, self.steps)
    }

    fn add(&mut self, other: AuditReport) {
        self.sessions += other.sessions;
        self.turns += other.turns;
        self.steps += other.steps;
        self.violations.extend(other.violations);
    }
}

/// Audits every session the cluster has, found by scanning `session_owners`. The tables'
/// read consistency applies: QUORUM or ALL to judge what was acknowledged.
pub async fn audit_all(tables: &StoreTables, layout: Layout) -> MigrateResult<AuditReport> {
    let owners = tables.owners.scan_all().await?;
    let reports = owners
        .map_err(crate::MigrateError::from)
        .map_ok(|owner| async move { audit_owner(tables, &owner, layout).await })
        .try_buffer_unordered(SESSION_CONCURRENCY);
    sum(reports).await
}

/// Audits the named sessions. A session without a `session_owners` row is a violation: the
/// caller says it exists.
pub async fn audit_sessions(
    tables: &StoreTables,
    session_uids: &[String],
    layout: Layout,
) -> MigrateResult<AuditReport> {
    let reports = futures::stream::iter(session_uids)
        .map(|session_uid| async move {
            let key = SessionOwnerPrimaryKey { session_uid: session_uid.clone() };
            match tables.owners.get(&key).await? {
                Some(owner) => audit_owner(tables, &owner, layout).await,
                None => Ok(AuditReport {
                    sessions: 1,
                    violations: vec![Violation {
                        kind: ViolationKind::MissingSessionRow,
                        session_uid: session_uid.clone(),
                        detail: "no session_owners row".into(),
                    }],
                    ..AuditReport::default()
                }),
            }
        })
        .buffer_unordered(SESSION_CONCURRENCY);
    sum(reports).await
}

async fn sum(reports: impl futures::Stream<Item = MigrateResult<AuditReport>>) -> MigrateResult<AuditReport> {
    reports
        .try_fold(AuditReport::default(), |mut total, report| async move {
            total.add(report);
            Ok(total)
        })
        .await
}

async fn audit_owner(tables: &StoreTables, owner: &SessionOwner, layout: Layout) -> MigrateResult<AuditReport> {
    let address = SessionAddress {
        session_uid: &owner.session_uid,
        account_uid: &owner.account_uid,
        created_at: owner.created_at,
    };
    let found = read_copies(tables, address, &[], layout).await?;
    Ok(check_session(&owner.session_uid, &found, layout))
}

/// Checks one session's copies against the invariants.
pub fn check_session(session_uid: &str, found: &ScyllaSession, layout: Layout) -> AuditReport {
    let mut violations = Vec::new();
    let mut violation = |kind, detail: String| {
        violations.push(Violation { kind, session_uid: session_uid.to_owned(), detail });
    };
    if found.by_user.is_none() {
        violation(ViolationKind::MissingSessionRow, "no sessions_by_user row".into());
    }
    if found.owner.is_none() {
        violation(ViolationKind::MissingSessionRow, "no session_owners row".into());
    }
    for orphan in orphans(session_uid, found) {
        violation(ViolationKind::TurnTablesDisagree, format!("{} {}: {}", orphan.table, orphan.key, orphan.detail));
    }

    let turns: BTreeMap<&str, _> = found.by_session.iter().map(|turn| (turn.turn_uid.as_str(), turn)).collect();
    for row in &found.by_parent {
        // These partitions are keyed by this session's turns (and its root): every child there
        // belongs to this session.
        if row.session_uid != session_uid {
            violation(
                ViolationKind::TurnTablesDisagree,
                format!(
                    "turns_by_parent lists turn {} under {} as of session {}",
                    row.turn_uid, row.parent_uid, row.session_uid
                ),
            );
            continue;
        }
        let Some(turn) = turns.get(row.turn_uid.as_str()) else { continue };
        if row.session_uid != turn.session_uid || row.turn_type != turn.turn_type || row.created_at != turn.created_at {
            violation(
                ViolationKind::TurnFieldsDiffer,
                format!("turns_by_parent row of turn {} differs from turns_by_session", row.turn_uid),
            );
        }
    }
    for turn in &found.by_session {
        match found.locations.iter().find(|location| location.turn_uid == turn.turn_uid) {
            None => violation(ViolationKind::MissingLocation, format!("turn {}", turn.turn_uid)),
            Some(location) => {
                if location.session_uid != turn.session_uid
                    || location.created_at != turn.created_at
                    || location.turn_type != turn.turn_type
                    || location.parent_uid != turn.parent_uid
                {
                    violation(
                        ViolationKind::TurnFieldsDiffer,
                        format!("turns_by_uid row of turn {} differs from turns_by_session", turn.turn_uid),
                    );
                }
            }
        }
    }

    let mut step_indexes: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for step in &found.steps {
        step_indexes.entry(step.turn_uid.as_str()).or_default().push(step.idx);
    }
    for (turn_uid, indexes) in &step_indexes {
        match turns.get(turn_uid) {
            Some(turn) if turn.turn_type == TurnType::Human => {
                violation(ViolationKind::StepGap, format!("human turn {turn_uid} has {} step(s)", indexes.len()));
            }
            _ => {
                let expected: Vec<i32> = (0..).take(indexes.len()).collect();
                if *indexes != expected {
                    violation(ViolationKind::StepGap, format!("turn {turn_uid} has steps {indexes:?}"));
                }
            }
        }
    }
    if layout.steps_by_session {
        let by_turn: BTreeSet<(&str, i32, &str)> =
            found.steps.iter().map(|step| (step.turn_uid.as_str(), step.idx, step.content.as_str())).collect();
        let by_session: BTreeSet<(&str, i32, &str)> = found
            .steps_by_session
            .iter()
            .map(|step| (step.turn_uid.as_str(), step.idx, step.content.as_str()))
            .collect();
        let differing: BTreeSet<(&str, i32)> =
            by_turn.symmetric_difference(&by_session).map(|(turn_uid, idx, _)| (*turn_uid, *idx)).collect();
        for (turn_uid, idx) in differing {
            violation(ViolationKind::StepTablesDisagree, format!("step {idx} of turn {turn_uid}"));
        }
    }

    for turn in &found.by_session {
        if let Some(child) = &turn.active_child {
            let is_child = turns.get(child.as_str()).is_some_and(|c| c.parent_uid.as_deref() == Some(&turn.turn_uid));
            if !is_child {
                violation(
                    ViolationKind::DanglingActive,
                    format!("active_child {child} of turn {} is not one of its children", turn.turn_uid),
                );
            }
        }
    }
    if let Some(root) = found.owner.as_ref().and_then(|owner| owner.active_root.as_ref()) {
        let is_root = turns.get(root.as_str()).is_some_and(|turn| turn.parent_uid.is_none());
        if !is_root {
            violation(ViolationKind::DanglingActive, format!("active root {root} is not a first turn of the session"));
        }
    }
    AuditReport { sessions: 1, turns: found.by_session.len(), steps: found.steps.len(), violations }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use conversation_store::{SessionByUser, StepByTurn, TurnByParent, TurnBySession, TurnLocation};

    use super::*;

    const SESSION: &str = "s1";

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + second, 0).unwrap()
    }

    fn turn(
        uid: &str,
        second: i64,
        turn_type: TurnType,
        parent: Option<&str>,
        active_child: Option<&str>,
    ) -> TurnBySession {
        TurnBySession {
            session_uid: SESSION.into(),
            created_at: at(second),
            turn_uid: uid.into(),
            turn_type,
            parent_uid: parent.map(Into::into),
            active_child: active_child.map(Into::into),
            prompt: (turn_type == TurnType::Human).then(|| "hi".into()),
            liked: None,
        }
    }

    fn step(turn_uid: &str, idx: i32) -> StepByTurn {
        StepByTurn { turn_uid: turn_uid.into(), idx, tpe: 1, content: format!("step {idx}"), created_at: at(9) }
    }

    /// A prompt, its answer with two steps, and the session's rows: every invariant holds.
    fn consistent_session() -> ScyllaSession {
        let turns =
            vec![turn("h1", 1, TurnType::Human, None, Some("a1")), turn("a1", 2, TurnType::Agent, Some("h1"), None)];
        let mut found = ScyllaSession::default();
        found.by_user = Some(SessionByUser {
            account_uid: "u1".into(),
            created_at: at(0),
            session_uid: SESSION.into(),
            title: "t".into(),
            deleted_at: None,
        });
        found.owner = Some(SessionOwner {
            session_uid: SESSION.into(),
            account_uid: "u1".into(),
            created_at: at(0),
            active_root: Some("h1".into()),
        });
        found.steps = vec![step("a1", 0), step("a1", 1)];
        for turn in &turns {
            found.by_parent.push(TurnByParent {
                parent_uid: turn.parent_uid.clone().unwrap_or_else(|| conversation_store::root_parent_key(SESSION)),
                created_at: turn.created_at,
                turn_uid: turn.turn_uid.clone(),
                session_uid: SESSION.into(),
                turn_type: turn.turn_type,
            });
            found.locations.push(TurnLocation {
                turn_uid: turn.turn_uid.clone(),
                session_uid: SESSION.into(),
                created_at: turn.created_at,
                turn_type: turn.turn_type,
                parent_uid: turn.parent_uid.clone(),
            });
        }
        found.by_session = turns;
        found
    }

    fn kinds(report: &AuditReport) -> Vec<ViolationKind> {
        report.violations.iter().map(|violation| violation.kind).collect()
    }

    #[test]
    fn a_consistent_session_has_no_violations() {
        let report = check_session(SESSION, &consistent_session(), Layout::default());
        assert!(report.is_clean(), "{:?}", report.violations);
        assert_eq!((report.sessions, report.turns, report.steps), (1, 2, 2));
        assert_eq!(report.summary(), "audited 1 sessions, 2 turns, 2 steps: no violations");
    }

    #[test]
    fn a_turn_missing_from_turns_by_parent_is_reported() {
        let mut found = consistent_session();
        found.by_parent.retain(|row| row.turn_uid != "a1");
        let report = check_session(SESSION, &found, Layout::default());
        assert_eq!(kinds(&report), [ViolationKind::TurnTablesDisagree]);
    }

    #[test]
    fn a_child_listed_under_this_sessions_turn_as_of_another_session_is_reported() {
        let mut found = consistent_session();
        found.by_parent[1].session_uid = "s2".into();
        let report = check_session(SESSION, &found, Layout::default());
        assert_eq!(kinds(&report), [ViolationKind::TurnTablesDisagree]);
    }

    #[test]
    fn copies_with_different_fields_are_reported() {
        let mut found = consistent_session();
        found.locations[1].parent_uid = Some("elsewhere".into());
        found.by_parent[0].turn_type = TurnType::Agent;
        let report = check_session(SESSION, &found, Layout::default());
        assert_eq!(report.count(ViolationKind::TurnFieldsDiffer), 2, "{:?}", report.violations);
    }

    #[test]
    fn a_gap_in_the_steps_and_steps_of_a_human_turn_are_reported() {
        let mut found = consistent_session();
        found.steps = vec![step("a1", 0), step("a1", 2), step("h1", 0)];
        let report = check_session(SESSION, &found, Layout::default());
        assert_eq!(kinds(&report), [ViolationKind::StepGap, ViolationKind::StepGap]);
    }

    #[test]
    fn active_pointers_to_no_such_child_or_root_are_reported() {
        let mut found = consistent_session();
        found.by_session[0].active_child = Some("a9".into());
        found.owner.as_mut().unwrap().active_root = Some("a1".into());
        let report = check_session(SESSION, &found, Layout::default());
        assert_eq!(kinds(&report), [ViolationKind::DanglingActive, ViolationKind::DanglingActive]);
    }

    #[test]
    fn missing_session_rows_and_locations_are_reported() {
        let mut found = consistent_session();
        found.by_user = None;
        found.locations.pop();
        let report = check_session(SESSION, &found, Layout::default());
        assert_eq!(kinds(&report), [ViolationKind::MissingSessionRow, ViolationKind::MissingLocation]);
        assert!(
            report.summary().ends_with("1 turn without turns_by_uid row, 1 missing session row"),
            "{}",
            report.summary()
        );
    }

    #[test]
    fn steps_by_session_must_hold_the_same_steps() {
        let found = consistent_session();
        let report = check_session(SESSION, &found, Layout { steps_by_session: true });
        assert_eq!(report.count(ViolationKind::StepTablesDisagree), 2, "both steps are missing from steps_by_session");
    }
}
