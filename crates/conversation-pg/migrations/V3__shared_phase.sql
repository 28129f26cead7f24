-- The migration's phase, shared by every application instance and tool: one row, changed only by
-- `chat-migrate phase set`. `epoch` rises with every change. `relational_writes` is what the
-- phase asks of a write that reaches PostgreSQL first: `plain` (postgres), `recorded` in the
-- outbox for ScyllaDB (dual-write, shadow, scylla-reads), or `refused` (scylla-primary, where
-- ScyllaDB is written first). Each relational write transaction reads it under a shared
-- advisory lock that the phase change takes exclusively, so no write straddles a change.
CREATE TABLE migration_phase (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    phase text NOT NULL,
    epoch bigint NOT NULL,
    shadow_share float8 NOT NULL DEFAULT 1.0,
    scylla_read_percent int NOT NULL DEFAULT 100,
    relational_writes text NOT NULL CHECK (relational_writes IN ('plain', 'recorded', 'refused')),
    -- While leaving scylla-primary: instances hold their writes until PostgreSQL has every change.
    writes_paused boolean NOT NULL DEFAULT false,
    -- When the phase last went from postgres to dual-write: a backfill or a verify from before
    -- it misses what was written in between, unrecorded.
    dual_write_since timestamptz,
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO migration_phase (phase, epoch, relational_writes) VALUES ('postgres', 1, 'plain');

-- Each application instance that follows the shared phase says, every poll, which epoch it
-- serves, so a phase change can wait until the fleet has moved.
CREATE TABLE migration_instances (
    instance text PRIMARY KEY,
    epoch bigint NOT NULL,
    phase text NOT NULL,
    poll_ms int NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Every verify of all sessions, so a phase change can tell whether the copy was found clean.
CREATE TABLE verify_runs (
    id bigserial PRIMARY KEY,
    keyspace text NOT NULL,
    truth text NOT NULL,
    sessions bigint NOT NULL,
    divergences bigint NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- When each backfill plan was made, to tell a backfill from before dual-write began.
ALTER TABLE backfill_ranges ADD COLUMN planned_at timestamptz NOT NULL DEFAULT clock_timestamp();

-- The turns a purged session had, recorded by the purge itself: their copies live in partitions
-- of their own (turns_by_uid, steps_by_turn, turns_by_parent), which only their ids find, also
-- when a copy reached ScyllaDB after the purge's tombstones, or a replica missed the turn.
CREATE TABLE purged_turns (
    session_uid text COLLATE "C" NOT NULL REFERENCES purged_sessions (uid) ON DELETE CASCADE,
    turn_uid text COLLATE "C" NOT NULL,
    PRIMARY KEY (session_uid, turn_uid)
);

-- Changes recorded in ScyllaDB (`pg_outbox`) whose rows PostgreSQL refused (a constraint, a value
-- it cannot hold), with its error: set aside so that they hold nothing else back. Once fixed,
-- `chat-migrate relay --to-postgres --retry-dead-letters` records them again.
CREATE TABLE relay_dead_letters (
    id bigserial PRIMARY KEY,
    session_uid text COLLATE "C" NOT NULL,
    kind text NOT NULL,
    turn_uid text COLLATE "C",
    idx int,
    error text NOT NULL,
    recorded_at timestamptz NOT NULL,
    stamp bigint,
    refused_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
