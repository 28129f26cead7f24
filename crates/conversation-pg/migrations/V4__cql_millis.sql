-- Timestamps at CQL's precision, milliseconds, rounded down: the rule `conversation_store::cql_millis`
-- applies in Rust. Rows that other code wrote keep their microseconds; every query that compares
-- or orders by a time compares and orders by cql_ms(time), then by id, as ScyllaDB's clustering does.
-- (date_trunc on a timestamptz depends on the session's time zone; on the UTC timestamp it is
-- immutable, so it can be indexed.)
CREATE FUNCTION cql_ms(at timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT date_trunc('milliseconds', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;

CREATE INDEX sessions_by_account_ms ON sessions (account_uid, cql_ms(created_at) DESC, uid) WHERE deleted_at IS NULL;
DROP INDEX IF EXISTS sessions_by_account;
