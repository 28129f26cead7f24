//! A team's own database, as its code made it and writes it with plain SQL, never through
//! PgStore: what `chat-migrate adopt` takes over.

/// The application's schema, as it made it (shared with the benchmark's adoption run).
pub use chat_lab::adoption::APP_SCHEMA;

/// The application's own statements for one conversation with id prefix `p`, as it ran them
/// before adoption and runs them still: `now()` times with microseconds, no version.
pub fn app_conversation(p: &str) -> String {
    format!(
        "INSERT INTO sessions (uid, account_uid, title) VALUES ('{p}-s', 'acct', 'Ünïcode \"quotes\" and ''apostrophes'' 🚀');
         INSERT INTO human_turns (uid, session_uid, parent_uid, prompt) VALUES ('{p}-h', '{p}-s', NULL, 'Plan ''three'' days');
         INSERT INTO agent_turns (uid, session_uid, parent_uid) VALUES ('{p}-a', '{p}-s', '{p}-h');
         UPDATE human_turns SET active_child = '{p}-a' WHERE uid = '{p}-h';
         INSERT INTO steps (agent_turn_uid, idx, tpe, content) VALUES ('{p}-a', 0, 1, repeat('é', 150000));
         INSERT INTO steps (agent_turn_uid, idx, tpe, content) VALUES ('{p}-a', 1, 2, '');
         UPDATE agent_turns SET liked = true WHERE uid = '{p}-a';
         UPDATE sessions SET title = title || '!' WHERE uid = '{p}-s';"
    )
}
