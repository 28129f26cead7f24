//! The conversation platform's data in ScyllaDB: four denormalized query tables, one per read
//! pattern, each declared once as a Rust struct.
//!
//! | Table | Answers |
//! |---|---|
//! | [`SessionByUser`] (`sessions_by_user`) | a user's recent conversations, newest first |
//! | [`TurnBySession`] (`turns_by_session`) | every turn of a conversation, in order |
//! | [`StepByTurn`] (`steps_by_turn`) | the steps of one agent turn, by index |
//! | [`TurnByParent`] (`turns_by_parent`) | the branches under a turn |

mod tables;

pub use tables::{
    all_tables, SessionByUser, SessionByUserPartitionKey, SessionByUserPrimaryKey, StepByTurn, StepByTurnPartitionKey,
    StepByTurnPrimaryKey, TurnByParent, TurnByParentPartitionKey, TurnByParentPrimaryKey, TurnBySession,
    TurnBySessionPartitionKey, TurnBySessionPrimaryKey, TurnType,
};
