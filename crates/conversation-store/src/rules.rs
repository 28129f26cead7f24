//! The turn tree's rules and their errors, once for every store. Each store reads its rows its
//! own way (ScyllaDB's tables, PostgreSQL's) and asks these functions what the rules say, so one
//! call fails the same way, with the same message, whichever database serves it.

use crate::error::{StoreError, StoreResult};
use crate::tables::TurnType;

/// What an operation expects of a turn it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnRule {
    /// The parent of a new human turn: an agent turn.
    HumanAnswersAgent,
    /// The parent of a new agent turn: a human turn.
    AgentAnswersHuman,
    /// The turn `regenerate` answers again: an agent turn.
    Regenerate,
    /// The turn `edit` replaces: a human turn.
    Edit,
    /// The turn `set_liked` rates: an agent turn.
    Like,
}

impl TurnRule {
    /// The rule the parent of a new turn of `turn_type` meets.
    pub fn parent_of(turn_type: TurnType) -> TurnRule {
        match turn_type {
            TurnType::Human => TurnRule::HumanAnswersAgent,
            TurnType::Agent => TurnRule::AgentAnswersHuman,
        }
    }

    /// The type of turn the rule asks for.
    pub fn expected(self) -> TurnType {
        match self {
            TurnRule::HumanAnswersAgent | TurnRule::Regenerate | TurnRule::Like => TurnType::Agent,
            TurnRule::AgentAnswersHuman | TurnRule::Edit => TurnType::Human,
        }
    }

    fn text(self) -> &'static str {
        match self {
            TurnRule::HumanAnswersAgent => "a human turn answers an agent turn",
            TurnRule::AgentAnswersHuman => "an agent turn answers a human turn",
            TurnRule::Regenerate => "only an agent turn is regenerated",
            TurnRule::Edit => "only a human turn is edited",
            TurnRule::Like => "only agent turns are liked",
        }
    }

    /// Ok when turn `turn_uid`, found to be of `found` type, meets the rule.
    pub fn check(self, turn_uid: &str, found: TurnType) -> StoreResult<()> {
        if found == self.expected() {
            Ok(())
        } else {
            Err(StoreError::InvalidParent {
                parent: turn_uid.to_owned(),
                reason: format!("it is a {found} turn, and {}", self.text()),
            })
        }
    }
}

/// The turn `turn_uid` as `found`, when it is in session `session_uid` (`session_of` says which
/// session a found turn is in); NotFound when there is no such turn.
pub fn check_located<T>(
    turn_uid: &str,
    session_uid: &str,
    found: Option<T>,
    session_of: impl Fn(&T) -> &str,
) -> StoreResult<T> {
    match found {
        Some(turn) if session_of(&turn) == session_uid => Ok(turn),
        Some(_) => Err(StoreError::InvalidParent {
            parent: turn_uid.to_owned(),
            reason: format!("it belongs to another session, not `{session_uid}`"),
        }),
        None => Err(StoreError::NotFound { what: "turn", id: turn_uid.to_owned() }),
    }
}

/// Ok when `child`, whose parent is `childs_parent`, is a child of `parent` (of the session's
/// root level when `None`): only a child can become the active one.
pub fn check_child_of(parent: Option<&str>, child: &str, childs_parent: Option<&str>) -> StoreResult<()> {
    if childs_parent == parent {
        Ok(())
    } else {
        Err(StoreError::InvalidParent {
            parent: parent.unwrap_or("(root)").to_owned(),
            reason: format!("`{child}` is not one of its children"),
        })
    }
}

/// Ok when turn `turn_uid`, of `turn_type`, may have steps: only agent turns do.
pub fn check_has_steps(turn_uid: &str, turn_type: TurnType) -> StoreResult<()> {
    match turn_type {
        TurnType::Agent => Ok(()),
        TurnType::Human => Err(StoreError::InvalidInput {
            field: "turn_uid",
            reason: format!("`{turn_uid}` is a human turn; only agent turns have steps"),
        }),
    }
}

/// Ok when step `idx` may be written: the first, or one whose previous step exists.
pub fn check_previous_step(turn_uid: &str, idx: i32, previous_exists: bool) -> StoreResult<()> {
    if idx == 0 || previous_exists {
        Ok(())
    } else {
        Err(StoreError::StepGap { turn_uid: turn_uid.to_owned(), idx, missing: idx - 1 })
    }
}

/// Ok when step `idx`, already written with `written` (`tpe`, `content`), is asked for again with
/// the same: a retry. Other contents for a written index are a conflict.
pub fn check_repeated_step(turn_uid: &str, idx: i32, written: (i32, &str), asked: (i32, &str)) -> StoreResult<()> {
    if written == asked {
        Ok(())
    } else {
        Err(StoreError::Conflict { what: "step", id: format!("{turn_uid}#{idx}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_names_its_turn_type_and_reason() {
        assert!(TurnRule::Like.check("a1", TurnType::Agent).is_ok());
        let error = TurnRule::Edit.check("a1", TurnType::Agent).unwrap_err();
        let expected = format!("it is a {} turn, and only a human turn is edited", TurnType::Agent);
        assert!(
            matches!(&error, StoreError::InvalidParent { parent, reason } if parent == "a1" && *reason == expected),
            "{error:?}"
        );
        assert_eq!(TurnRule::parent_of(TurnType::Human).expected(), TurnType::Agent);
        assert_eq!(TurnRule::parent_of(TurnType::Agent).expected(), TurnType::Human);
    }

    #[test]
    fn a_turn_is_found_only_in_its_own_session() {
        fn in_session(turn: &(String, u8)) -> &str {
            &turn.0
        }
        let turn = |session: &str| Some((session.to_owned(), 7));
        assert_eq!(check_located("t", "s", turn("s"), in_session).unwrap(), ("s".to_owned(), 7));
        assert!(matches!(check_located("t", "s", turn("other"), in_session), Err(StoreError::InvalidParent { .. })));
        assert!(matches!(check_located("t", "s", None, in_session), Err(StoreError::NotFound { what: "turn", .. })));
    }

    #[test]
    fn only_a_child_becomes_active_and_only_agent_turns_have_steps() {
        assert!(check_child_of(Some("p"), "c", Some("p")).is_ok());
        assert!(check_child_of(None, "c", None).is_ok());
        let error = check_child_of(None, "c", Some("p")).unwrap_err();
        assert!(matches!(&error, StoreError::InvalidParent { parent, .. } if parent == "(root)"), "{error:?}");
        assert!(check_has_steps("a", TurnType::Agent).is_ok());
        assert!(matches!(
            check_has_steps("h", TurnType::Human),
            Err(StoreError::InvalidInput { field: "turn_uid", .. })
        ));
    }

    #[test]
    fn steps_come_in_order_and_a_retry_repeats_the_same_step() {
        assert!(check_previous_step("a", 0, false).is_ok());
        assert!(check_previous_step("a", 3, true).is_ok());
        assert!(matches!(check_previous_step("a", 3, false), Err(StoreError::StepGap { missing: 2, .. })));
        assert!(check_repeated_step("a", 1, (1, "x"), (1, "x")).is_ok());
        assert!(matches!(
            check_repeated_step("a", 1, (1, "x"), (1, "y")),
            Err(StoreError::Conflict { what: "step", .. })
        ));
        assert!(matches!(check_repeated_step("a", 1, (1, "x"), (2, "x")), Err(StoreError::Conflict { .. })));
    }
}
