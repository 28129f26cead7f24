-- The conversation platform's relational schema: the source of truth until ScyllaDB is primary.
-- Every row carries `version`, its write version in microseconds since the epoch. It rises with
-- every change of the row (see next_version) and becomes the write timestamp of each ScyllaDB
-- copy of the row, so replaying any change, in any order, keeps the newest one.
-- Keys use the "C" collation: byte order, the order ScyllaDB sorts text clustering columns in.

CREATE FUNCTION next_version(previous bigint) RETURNS bigint
    LANGUAGE sql VOLATILE
    AS $$ SELECT greatest((extract(epoch FROM clock_timestamp()) * 1000000)::bigint, coalesce(previous, 0) + 1) $$;

CREATE TABLE sessions (
    uid text COLLATE "C" PRIMARY KEY,
    account_uid text COLLATE "C" NOT NULL,
    title text NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz,
    -- The root turn on the active path: the first turn, or the latest edit of it.
    active_root text COLLATE "C",
    version bigint NOT NULL
);

CREATE TABLE human_turns (
    uid text COLLATE "C" PRIMARY KEY,
    session_uid text COLLATE "C" NOT NULL REFERENCES sessions (uid) ON DELETE CASCADE,
    parent_uid text COLLATE "C",
    active_child text COLLATE "C",
    prompt text NOT NULL,
    created_at timestamptz NOT NULL,
    version bigint NOT NULL
);

CREATE TABLE agent_turns (
    uid text COLLATE "C" PRIMARY KEY,
    session_uid text COLLATE "C" NOT NULL REFERENCES sessions (uid) ON DELETE CASCADE,
    parent_uid text COLLATE "C" NOT NULL,
    active_child text COLLATE "C",
    liked boolean,
    created_at timestamptz NOT NULL,
    version bigint NOT NULL
);

CREATE TABLE steps (
    agent_turn_uid text COLLATE "C" NOT NULL REFERENCES agent_turns (uid) ON DELETE CASCADE,
    idx int NOT NULL,
    tpe int NOT NULL,
    content text NOT NULL,
    created_at timestamptz NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (agent_turn_uid, idx)
);

-- Both kinds of turn, for the reads that do not care which table a turn is in.
CREATE VIEW turns AS
    SELECT uid, session_uid, 'human' AS turn_type, parent_uid, active_child, prompt, NULL::boolean AS liked,
           created_at, version
    FROM human_turns
    UNION ALL
    SELECT uid, session_uid, 'agent', parent_uid, active_child, NULL::text, liked, created_at, version
    FROM agent_turns;

CREATE INDEX sessions_by_account ON sessions (account_uid, created_at DESC, uid) WHERE deleted_at IS NULL;
CREATE INDEX human_turns_by_session ON human_turns (session_uid, created_at);
CREATE INDEX agent_turns_by_session ON agent_turns (session_uid, created_at);
CREATE INDEX human_turns_by_parent ON human_turns (parent_uid, created_at);
CREATE INDEX agent_turns_by_parent ON agent_turns (parent_uid, created_at);
