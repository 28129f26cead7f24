-- What the move to ScyllaDB needs to keep beside the data.

-- One row per change not yet copied to ScyllaDB, written in the same transaction as the change.
-- It names what changed, not how: the relay re-reads the current row, so a late or repeated
-- entry never writes stale data. `version` is the row's version after the change; for a row
-- that no longer exists it is the delete's version, the timestamp of its tombstones.
CREATE TABLE scylla_outbox (
    id bigserial PRIMARY KEY,
    session_uid text COLLATE "C" NOT NULL,
    entity text NOT NULL CHECK (entity IN ('session', 'turn', 'step')),
    turn_uid text COLLATE "C",
    idx int,
    version bigint NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_error text
);
CREATE INDEX scylla_outbox_due ON scylla_outbox (next_attempt_at, id);
CREATE INDEX scylla_outbox_by_session ON scylla_outbox (session_uid, id);

-- A hard-deleted session's keys, so its ScyllaDB copies can be found and tombstoned after the
-- relational rows are gone.
CREATE TABLE purged_sessions (
    uid text COLLATE "C" PRIMARY KEY,
    account_uid text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    version bigint NOT NULL
);

-- The backfill's plan and progress: the session key space split into ranges, each with the last
-- session copied. A backfill that stops resumes after `last_uid`.
CREATE TABLE backfill_ranges (
    keyspace text NOT NULL,
    range_index int NOT NULL,
    lower_uid text COLLATE "C",
    upper_uid text COLLATE "C",
    last_uid text COLLATE "C",
    sessions bigint NOT NULL DEFAULT 0,
    rows bigint NOT NULL DEFAULT 0,
    done boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (keyspace, range_index)
);
