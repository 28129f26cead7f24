-- The indexes of V1__conversations.sql, built without blocking the application's writes. Each
-- runs on its own (CONCURRENTLY cannot run in a transaction); a build that failed part way left
-- an invalid index, which adoption drops before building it again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS human_turns_by_session ON human_turns (session_uid, created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS agent_turns_by_session ON agent_turns (session_uid, created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS human_turns_by_parent ON human_turns (parent_uid, created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS agent_turns_by_parent ON agent_turns (parent_uid, created_at);
