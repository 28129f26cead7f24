-- Brings tables that other code made (sessions, human_turns, agent_turns, steps, with the columns
-- of V1__conversations.sql but for `version` and `active_root`) to the shape V1 gives them, so
-- that V1 can be recorded as applied and the later migrations apply as usual. Every statement
-- can run again. The new columns have defaults, so the application's statements keep working;
-- the triggers (triggers.sql) set `version` on every write, and adoption fills it for the rows
-- already there. The key columns' collation, where it is not "C", is changed before this runs.

CREATE OR REPLACE FUNCTION next_version(previous bigint) RETURNS bigint
    LANGUAGE sql VOLATILE
    AS $$ SELECT greatest((extract(epoch FROM clock_timestamp()) * 1000000)::bigint, coalesce(previous, 0) + 1) $$;

ALTER TABLE sessions ADD COLUMN IF NOT EXISTS active_root text COLLATE "C";
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0;
ALTER TABLE human_turns ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0;
ALTER TABLE agent_turns ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE VIEW turns AS
    SELECT uid, session_uid, 'human' AS turn_type, parent_uid, active_child, prompt, NULL::boolean AS liked,
           created_at, version
    FROM human_turns
    UNION ALL
    SELECT uid, session_uid, 'agent', parent_uid, active_child, NULL::text, liked, created_at, version
    FROM agent_turns;
