//! The projection: the one mapping from relational rows to the ScyllaDB rows that copy them.
//!
//! Dual-write, the relay, the backfill, verify and repair all go through these functions, so the
//! copies cannot drift apart by code path. Every ScyllaDB row comes from exactly one relational
//! row and is written with that row's version as its timestamp (`USING TIMESTAMP`): the newest
//! version wins in every table, whatever order copies arrive in.

use conversation_pg::{SessionRow, SessionSnapshot, StepRow, TurnRow};
use conversation_store::{
    root_parent_key, SessionByUser, SessionOwner, StepBySession, StepByTurn, TurnByParent, TurnBySession, TurnLocation,
};

/// Which tables hold copies: always the design's four and the two lookups, and
/// `steps_by_session` too where the store uses it (`ConversationStore::with_steps_by_session`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    pub steps_by_session: bool,
}

/// The copies of a `sessions` row: `sessions_by_user` and `session_owners`.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionCopies {
    pub by_user: SessionByUser,
    pub owner: SessionOwner,
    pub timestamp: i64,
}

/// The copies of a turn row: `turns_by_session`, `turns_by_parent` and `turns_by_uid`.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnCopies {
    pub by_session: TurnBySession,
    pub by_parent: TurnByParent,
    pub location: TurnLocation,
    pub timestamp: i64,
}

/// The copies of a `steps` row: `steps_by_turn`, and `steps_by_session` in that layout.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCopy {
    pub step: StepByTurn,
    pub by_session: Option<StepBySession>,
    pub timestamp: i64,
}

/// Every ScyllaDB row of one session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionCopy {
    pub session: SessionCopies,
    pub turns: Vec<TurnCopies>,
    pub steps: Vec<StepCopy>,
}

impl SessionCopy {
    /// ScyllaDB rows in all: two per session, three per turn, one or two per step.
    pub fn scylla_rows(&self) -> usize {
        2 + 3 * self.turns.len()
            + self.steps.iter().map(|step| 1 + usize::from(step.by_session.is_some())).sum::<usize>()
    }

    /// The newest write timestamp among the session's rows (their newest relational version).
    pub fn newest_timestamp(&self) -> i64 {
        let turns = self.turns.iter().map(|turn| turn.timestamp);
        let steps = self.steps.iter().map(|step| step.timestamp);
        turns.chain(steps).fold(self.session.timestamp, i64::max)
    }
}

pub fn project_session(row: &SessionRow) -> SessionCopies {
    SessionCopies {
        by_user: SessionByUser {
            account_uid: row.account_uid.clone(),
            created_at: row.created_at,
            session_uid: row.uid.clone(),
            title: row.title.clone(),
            deleted_at: row.deleted_at,
        },
        owner: SessionOwner {
            session_uid: row.uid.clone(),
            account_uid: row.account_uid.clone(),
            created_at: row.created_at,
            active_root: row.active_root.clone(),
        },
        timestamp: row.version,
    }
}

pub fn project_turn(row: &TurnRow) -> TurnCopies {
    TurnCopies {
        by_session: row.to_turn(),
        by_parent: TurnByParent {
            // A root turn has no parent, and a partition key cannot be null.
            parent_uid: row.parent_uid.clone().unwrap_or_else(|| root_parent_key(&row.session_uid)),
            created_at: row.created_at,
            turn_uid: row.uid.clone(),
            session_uid: row.session_uid.clone(),
            turn_type: row.turn_type,
        },
        location: TurnLocation {
            turn_uid: row.uid.clone(),
            session_uid: row.session_uid.clone(),
            created_at: row.created_at,
            turn_type: row.turn_type,
            parent_uid: row.parent_uid.clone(),
        },
        timestamp: row.version,
    }
}

/// A step of a turn in `session_uid` (the `steps` row does not name its session).
pub fn project_step(row: &StepRow, session_uid: &str, layout: Layout) -> StepCopy {
    let step = row.to_step();
    let by_session = layout.steps_by_session.then(|| StepBySession::of(session_uid, &step));
    StepCopy { step, by_session, timestamp: row.version }
}

pub fn project_snapshot(snapshot: &SessionSnapshot, layout: Layout) -> SessionCopy {
    SessionCopy {
        session: project_session(&snapshot.session),
        turns: snapshot.turns.iter().map(project_turn).collect(),
        steps: snapshot.steps.iter().map(|step| project_step(step, &snapshot.session.uid, layout)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use conversation_store::TurnType;

    use super::*;

    fn at(millis: i64) -> chrono::DateTime<chrono::Utc> {
        DateTime::from_timestamp_millis(millis).unwrap()
    }

    fn snapshot() -> SessionSnapshot {
        let session = SessionRow {
            uid: "s1".into(),
            account_uid: "a1".into(),
            title: "Trip".into(),
            created_at: at(1_000),
            deleted_at: Some(at(9_000)),
            active_root: Some("t1".into()),
            version: 9_000_123,
        };
        let root = TurnRow {
            uid: "t1".into(),
            session_uid: "s1".into(),
            turn_type: TurnType::Human,
            parent_uid: None,
            active_child: Some("t2".into()),
            prompt: Some("Plan".into()),
            liked: None,
            created_at: at(2_000),
            version: 3_000_001,
        };
        let answer = TurnRow {
            uid: "t2".into(),
            turn_type: TurnType::Agent,
            parent_uid: Some("t1".into()),
            active_child: None,
            prompt: None,
            liked: Some(true),
            created_at: at(2_001),
            version: 4_000_002,
            ..root.clone()
        };
        let step = StepRow {
            agent_turn_uid: "t2".into(),
            idx: 0,
            tpe: 3,
            content: "Day 1".into(),
            created_at: at(2_050),
            version: 2_050_000,
        };
        SessionSnapshot { session, turns: vec![root, answer], steps: vec![step] }
    }

    #[test]
    fn every_copy_carries_its_own_rows_version_as_timestamp() {
        let copy = project_snapshot(&snapshot(), Layout::default());
        assert_eq!(copy.session.timestamp, 9_000_123);
        assert_eq!(copy.turns.iter().map(|turn| turn.timestamp).collect::<Vec<_>>(), [3_000_001, 4_000_002]);
        assert_eq!(copy.steps[0].timestamp, 2_050_000);
        assert_eq!(copy.scylla_rows(), 2 + 3 * 2 + 1);
    }

    #[test]
    fn session_rows_map_to_sessions_by_user_and_session_owners() {
        let copy = project_snapshot(&snapshot(), Layout::default()).session;
        assert_eq!(
            copy.by_user,
            SessionByUser {
                account_uid: "a1".into(),
                created_at: at(1_000),
                session_uid: "s1".into(),
                title: "Trip".into(),
                deleted_at: Some(at(9_000)),
            }
        );
        assert_eq!(copy.owner.active_root.as_deref(), Some("t1"));
        assert_eq!(copy.owner.account_uid, "a1");
    }

    #[test]
    fn a_root_turn_is_filed_under_the_sessions_root_key_and_keeps_a_null_parent() {
        let copy = project_snapshot(&snapshot(), Layout::default());
        let root = &copy.turns[0];
        assert_eq!(root.by_parent.parent_uid, "root:s1");
        assert_eq!(root.by_session.parent_uid, None);
        assert_eq!(root.location.parent_uid, None);
        assert_eq!(root.by_session.prompt.as_deref(), Some("Plan"));
        assert_eq!(root.by_session.active_child.as_deref(), Some("t2"));
        let answer = &copy.turns[1];
        assert_eq!(answer.by_parent.parent_uid, "t1");
        assert_eq!(answer.by_session.liked, Some(true));
        assert_eq!(answer.by_session.prompt, None);
        assert_eq!(answer.location.turn_type, TurnType::Agent);
        assert_eq!((answer.by_parent.created_at, answer.location.created_at), (at(2_001), at(2_001)));
    }

    #[test]
    fn steps_map_one_to_one() {
        let copy = project_snapshot(&snapshot(), Layout::default());
        assert_eq!(
            copy.steps[0].step,
            StepByTurn { turn_uid: "t2".into(), idx: 0, tpe: 3, content: "Day 1".into(), created_at: at(2_050) }
        );
        assert_eq!(copy.steps[0].by_session, None, "the design's layout has no steps_by_session");
    }

    #[test]
    fn with_steps_by_session_each_step_gets_its_session_copy_at_the_same_timestamp() {
        let copy = project_snapshot(&snapshot(), Layout { steps_by_session: true });
        let step = &copy.steps[0];
        assert_eq!(
            step.by_session,
            Some(StepBySession {
                session_uid: "s1".into(),
                turn_uid: "t2".into(),
                idx: 0,
                tpe: 3,
                content: "Day 1".into(),
                created_at: at(2_050)
            })
        );
        assert_eq!(step.timestamp, 2_050_000);
        assert_eq!(copy.scylla_rows(), 2 + 3 * 2 + 2);
    }
}
