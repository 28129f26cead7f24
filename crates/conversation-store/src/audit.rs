//! Checks that the denormalized copies of a session agree, reading the tables with plain CQL the
//! way any client would. The starting point of a repair job: each finding names the rows to fix.

use std::collections::HashMap;
use std::fmt;

use scylla_table::{Database, Error};

use crate::turns::root_parent_key;

/// One inconsistency found by [`audit_sessions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A turn of `turns_by_session` has no row in `turns_by_parent`, or one with another session or type.
    MissingBranchRow { session_uid: String, turn_uid: String },
    /// `turns_by_parent` lists a turn under a parent that `turns_by_session` does not know.
    StrayBranchRow { parent_key: String, turn_uid: String },
    /// `active_child` names a turn that is not a child of the turn.
    BadActiveChild { turn_uid: String, active_child: String },
    /// The steps of a turn do not run 0..n-1.
    StepGap { turn_uid: String, indexes: Vec<i32> },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::MissingBranchRow { session_uid, turn_uid } => {
                write!(f, "turn {turn_uid} of session {session_uid} is missing from turns_by_parent, or differs there")
            }
            Finding::StrayBranchRow { parent_key, turn_uid } => {
                write!(f, "turns_by_parent[{parent_key}] lists {turn_uid}, which turns_by_session does not have there")
            }
            Finding::BadActiveChild { turn_uid, active_child } => {
                write!(f, "turn {turn_uid} has active_child {active_child}, which is not one of its children")
            }
            Finding::StepGap { turn_uid, indexes } => {
                write!(f, "steps of turn {turn_uid} have idx {indexes:?}, not 0..n-1")
            }
        }
    }
}

/// What [`audit_sessions`] counted and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub sessions: usize,
    pub turns: usize,
    pub branch_rows: usize,
    pub steps: usize,
    pub findings: Vec<Finding>,
}

type TurnRow = (String, String, Option<String>, String, Option<String>);

/// Audits the given sessions in the database's keyspace.
pub async fn audit_sessions(db: &Database, session_uids: &[String]) -> Result<AuditReport, Error> {
    let keyspace = db.keyspace();
    let mut report = AuditReport { sessions: session_uids.len(), ..AuditReport::default() };
    for session_uid in session_uids {
        let turns: Vec<TurnRow> = db
            .query_rows(
                &format!(
                    "SELECT session_uid, turn_uid, parent_uid, turn_type, active_child FROM {keyspace}.turns_by_session \
                     WHERE session_uid = ?"
                ),
                (session_uid,),
            )
            .await?;
        report.turns += turns.len();

        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for (_, turn_uid, parent_uid, _, _) in &turns {
            let key = parent_uid.clone().unwrap_or_else(|| root_parent_key(session_uid));
            children.entry(key).or_default().push(turn_uid.clone());
        }
        for (parent_key, expected) in &children {
            let branch: Vec<(String, String, String)> = db
                .query_rows(
                    &format!(
                        "SELECT turn_uid, session_uid, turn_type FROM {keyspace}.turns_by_parent WHERE parent_uid = ?"
                    ),
                    (parent_key,),
                )
                .await?;
            report.branch_rows += branch.len();
            for turn_uid in expected {
                let turn_type = turns.iter().find(|turn| &turn.1 == turn_uid).map(|turn| turn.3.clone());
                let matching = branch.iter().any(|(uid, session, kind)| {
                    uid == turn_uid && session == session_uid && Some(kind) == turn_type.as_ref()
                });
                if !matching {
                    report.findings.push(Finding::MissingBranchRow {
                        session_uid: session_uid.clone(),
                        turn_uid: turn_uid.clone(),
                    });
                }
            }
            for (uid, _, _) in &branch {
                if !expected.contains(uid) {
                    report
                        .findings
                        .push(Finding::StrayBranchRow { parent_key: parent_key.clone(), turn_uid: uid.clone() });
                }
            }
        }

        for (_, turn_uid, _, turn_type, active_child) in &turns {
            if let Some(active_child) = active_child {
                if !children.get(turn_uid).is_some_and(|kids| kids.contains(active_child)) {
                    report.findings.push(Finding::BadActiveChild {
                        turn_uid: turn_uid.clone(),
                        active_child: active_child.clone(),
                    });
                }
            }
            if turn_type != "agent" {
                continue;
            }
            let indexes: Vec<i32> = db
                .query_rows::<(i32,)>(
                    &format!("SELECT idx FROM {keyspace}.steps_by_turn WHERE turn_uid = ?"),
                    (turn_uid,),
                )
                .await?
                .into_iter()
                .map(|(idx,)| idx)
                .collect();
            report.steps += indexes.len();
            if indexes.iter().enumerate().any(|(position, idx)| i32::try_from(position).ok() != Some(*idx)) {
                report.findings.push(Finding::StepGap { turn_uid: turn_uid.clone(), indexes });
            }
        }
    }
    Ok(report)
}
