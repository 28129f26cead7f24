-- What `chat-migrate adopt` installs so that writers which never call PgStore (the application's
-- own SQL, an admin script, another service) get what PgStore's writes get, inside the writer's
-- own transaction, for every INSERT, UPDATE and DELETE from any client:
-- - `version` rises with every change of the row (next_version), unless the write raised it;
-- - in the phases that record changes (dual-write, shadow, scylla-reads), each change gets an
--   entry in scylla_outbox, taken under the phase lock (shared, until the transaction ends), so
--   no write straddles a phase change;
-- - in scylla-primary, and while writes are held on the way back from it, writes are refused
--   (SQLSTATE 55000): ScyllaDB is written first then, and a write to PostgreSQL alone would be
--   overwritten by the relay or never reach ScyllaDB;
-- - deleting a session purges it, recorded as PgStore records its own purges, so its copies are
--   tombstoned; a turn or step deleted alone, or a row whose keys change, leaves an entry with
--   the keys its copies had.
-- PgStore's transactions set conversation_pg.writer = 'store' (transaction-local): they version
-- and record their changes themselves, so the triggers leave them alone and nothing is recorded
-- twice. __SCHEMA__ and __PHASE_LOCK__ are filled in by adoption.

-- Above READ COMMITTED the phase row a transaction reads is its snapshot's, which may be older
-- than a phase change that committed before the phase lock was granted; locking the row raises a
-- serialization failure (40001, run it again) if it changed since. As the tables' owner: a row
-- lock needs UPDATE on the table, which the application's role need not have.
CREATE OR REPLACE FUNCTION conversation_pg_phase_is_current() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = __SCHEMA__ AS $$
BEGIN
    PERFORM 1 FROM migration_phase FOR SHARE;
END $$;

-- What the phase asks of this transaction's writes, read under the phase lock on the first row
-- the transaction writes and remembered for the others: the lock holds until the transaction
-- ends, so the answer cannot change meanwhile.
CREATE OR REPLACE FUNCTION conversation_pg_writes() RETURNS text
    LANGUAGE plpgsql SET search_path = __SCHEMA__ AS $$
DECLARE
    writes text := current_setting('conversation_pg.writes', true);
BEGIN
    IF writes IS NULL OR writes = '' THEN
        PERFORM pg_advisory_xact_lock_shared(__PHASE_LOCK__);
        SELECT CASE WHEN writes_paused THEN 'refused' ELSE relational_writes END INTO writes FROM migration_phase;
        IF current_setting('transaction_isolation') <> 'read committed' THEN
            PERFORM conversation_pg_phase_is_current();
        END IF;
        PERFORM set_config('conversation_pg.writes', writes, true);
    END IF;
    -- A write that the application's triggers make under one of the store's statements: the
    -- store has decided for its transaction. In scylla-primary it copies ScyllaDB's rows here,
    -- and such a write is neither refused nor recorded, and keeps the row's version ('copy'), so
    -- that the next copy from ScyllaDB still wins over it.
    IF writes = 'refused' AND current_setting('conversation_pg.writer', true) IS NOT DISTINCT FROM 'store' THEN
        RETURN 'copy';
    END IF;
    IF writes = 'refused' THEN
        RAISE EXCEPTION 'writes to the conversation tables are refused: the migration''s phase writes ScyllaDB first'
            USING ERRCODE = '55000',
                  HINT = 'write through the application''s MigratingStore, or move the phase back with `chat-migrate phase set`';
    END IF;
    RETURN writes;
END $$;

-- The store's own statements; a write that one of the application's triggers makes under them
-- (trigger depth above 1) is the application's, and is versioned and recorded here.
CREATE OR REPLACE FUNCTION conversation_pg_by_store() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT current_setting('conversation_pg.writer', true) IS NOT DISTINCT FROM 'store' AND pg_trigger_depth() <= 1 $$;

-- Records that a turn (idx -1) or step was tombstoned at `version`.
-- Read by insert_version (V6) when the key is inserted again.
CREATE OR REPLACE FUNCTION conversation_pg_deleted(turn_uid text, idx int, version bigint) RETURNS bigint
    LANGUAGE sql SET search_path = __SCHEMA__
    AS $$ INSERT INTO deleted_rows AS d (turn_uid, idx, version) VALUES ($1, $2, $3)
          ON CONFLICT (turn_uid, idx) DO UPDATE SET version = greatest(d.version, EXCLUDED.version)
          RETURNING d.version $$;

CREATE OR REPLACE FUNCTION conversation_pg_key_fixed(what text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% cannot change while the conversation tables are adopted: ScyllaDB''s copies are found by it', what
        USING ERRCODE = '0A000', HINT = 'delete the row and insert it with the new key';
END $$;

CREATE OR REPLACE FUNCTION conversation_pg_session_before() RETURNS trigger
    LANGUAGE plpgsql SET search_path = __SCHEMA__ AS $$
DECLARE
    writes text;
    purge_version bigint;
BEGIN
    IF conversation_pg_by_store() THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    writes := conversation_pg_writes();
    IF TG_OP = 'INSERT' THEN
        -- As PgStore refuses it: ScyllaDB holds the purge's tombstones under this id. After a
        -- purge of the id in flight, which holds the purge lock until it commits.
        PERFORM pg_advisory_xact_lock_shared(hashtextextended(NEW.uid, 0));
        IF EXISTS (SELECT 1 FROM purged_sessions WHERE uid = NEW.uid) THEN
            RAISE EXCEPTION 'session id % belonged to a purged session and cannot be used again', NEW.uid
                USING ERRCODE = '23505';
        END IF;
        IF NEW.version IS NULL OR NEW.version <= 0 THEN
            NEW.version := next_version(NULL);
        END IF;
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.uid IS DISTINCT FROM OLD.uid THEN
            PERFORM conversation_pg_key_fixed('sessions.uid');
        END IF;
        IF writes = 'copy' THEN
            NEW.version := OLD.version;
        ELSIF NEW.version IS NULL OR NEW.version <= OLD.version THEN
            NEW.version := next_version(OLD.version);
        END IF;
        RETURN NEW;
    END IF;
    -- A purge, as PgStore's: after the copies from ScyllaDB (which hold the purge lock shared),
    -- at a version past every row of the session, with every turn id, in every phase.
    PERFORM pg_advisory_xact_lock(hashtextextended(OLD.uid, 0));
    -- The rows stay still until the purge commits, so none gets a version past the purge's.
    PERFORM 1 FROM human_turns WHERE session_uid = OLD.uid FOR UPDATE;
    PERFORM 1 FROM agent_turns WHERE session_uid = OLD.uid FOR UPDATE;
    PERFORM 1 FROM steps s JOIN agent_turns t ON t.uid = s.agent_turn_uid WHERE t.session_uid = OLD.uid FOR UPDATE OF s;
    INSERT INTO purged_sessions AS p (uid, account_uid, created_at, version)
        VALUES (OLD.uid, OLD.account_uid, OLD.created_at, next_version(greatest(OLD.version,
            (SELECT max(version) FROM turns WHERE session_uid = OLD.uid),
            (SELECT max(s.version) FROM steps s JOIN agent_turns t ON t.uid = s.agent_turn_uid
             WHERE t.session_uid = OLD.uid))))
        ON CONFLICT (uid) DO UPDATE SET version = greatest(p.version + 1, EXCLUDED.version)
        RETURNING version INTO purge_version;
    INSERT INTO purged_turns (session_uid, turn_uid) SELECT OLD.uid, uid FROM turns WHERE session_uid = OLD.uid
        ON CONFLICT DO NOTHING;
    IF writes = 'recorded' THEN
        INSERT INTO scylla_outbox (session_uid, entity, version) VALUES (OLD.uid, 'session', purge_version);
    END IF;
    RETURN OLD;
END $$;

CREATE OR REPLACE FUNCTION conversation_pg_session_after() RETURNS trigger
    LANGUAGE plpgsql SET search_path = __SCHEMA__ AS $$
BEGIN
    IF conversation_pg_by_store() THEN
        RETURN NULL;
    END IF;
    IF conversation_pg_writes() <> 'recorded' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.account_uid IS DISTINCT FROM OLD.account_uid
                             OR cql_ms(NEW.created_at) IS DISTINCT FROM cql_ms(OLD.created_at)) THEN
        -- Just below the new version: past the old copy, and never over the new one.
        INSERT INTO scylla_outbox (session_uid, entity, version, gone, gone_account_uid, gone_created_at)
            VALUES (OLD.uid, 'session', NEW.version - 1, 'rekeyed', OLD.account_uid, OLD.created_at);
    END IF;
    INSERT INTO scylla_outbox (session_uid, entity, version) VALUES (NEW.uid, 'session', NEW.version);
    RETURN NULL;
END $$;

-- For human_turns and agent_turns alike.
CREATE OR REPLACE FUNCTION conversation_pg_turn_before() RETURNS trigger
    LANGUAGE plpgsql SET search_path = __SCHEMA__ AS $$
DECLARE
    writes text;
    tombstone bigint;
    gone_steps bigint;
BEGIN
    IF conversation_pg_by_store() THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    writes := conversation_pg_writes();
    IF TG_OP = 'INSERT' THEN
        NEW.version := insert_version(NEW.version, NEW.uid, -1);
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.uid IS DISTINCT FROM OLD.uid THEN
            PERFORM conversation_pg_key_fixed(TG_TABLE_NAME || '.uid');
        END IF;
        IF NEW.session_uid IS DISTINCT FROM OLD.session_uid THEN
            PERFORM conversation_pg_key_fixed(TG_TABLE_NAME || '.session_uid');
        END IF;
        IF writes = 'copy' THEN
            NEW.version := OLD.version;
        ELSIF NEW.version IS NULL OR NEW.version <= OLD.version THEN
            NEW.version := next_version(OLD.version);
        END IF;
        RETURN NEW;
    END IF;
    -- A turn deleted alone: its copies go, and its steps' (which go with it, ON DELETE CASCADE,
    -- and which only the turn ties to their session). A turn deleted with its session is part
    -- of the session's purge, which tombstones them all.
    IF writes = 'recorded' AND EXISTS (SELECT 1 FROM sessions WHERE uid = OLD.session_uid) THEN
        tombstone := next_version(OLD.version);
        IF TG_TABLE_NAME = 'agent_turns' THEN
            WITH gone AS (
                INSERT INTO scylla_outbox (session_uid, entity, turn_uid, idx, version, gone)
                    SELECT OLD.session_uid, 'step', agent_turn_uid, idx, next_version(version), 'deleted'
                    FROM steps WHERE agent_turn_uid = OLD.uid
                    RETURNING turn_uid, idx, version)
            SELECT count(conversation_pg_deleted(turn_uid, idx, version)) INTO gone_steps FROM gone;
        END IF;
        INSERT INTO scylla_outbox (session_uid, entity, turn_uid, version, gone, gone_parent_uid, gone_created_at)
            VALUES (OLD.session_uid, 'turn', OLD.uid, tombstone, 'deleted', OLD.parent_uid, OLD.created_at);
        PERFORM conversation_pg_deleted(OLD.uid, -1, tombstone);
    END IF;
    RETURN OLD;
END $$;

CREATE OR REPLACE FUNCTION conversation_pg_turn_after() RETURNS trigger
    LANGUAGE plpgsql SET search_path = __SCHEMA__ AS $$
BEGIN
    IF conversation_pg_by_store() THEN
        RETURN NULL;
    END IF;
    -- A new first turn, or a new edit of it, is the start of the active path, as PgStore sets it.
    IF TG_OP = 'INSERT' AND NEW.parent_uid IS NULL THEN
        UPDATE sessions SET active_root = NEW.uid WHERE uid = NEW.session_uid AND active_root IS DISTINCT FROM NEW.uid;
    END IF;
    IF conversation_pg_writes() <> 'recorded' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.parent_uid IS DISTINCT FROM OLD.parent_uid
                             OR cql_ms(NEW.created_at) IS DISTINCT FROM cql_ms(OLD.created_at)) THEN
        INSERT INTO scylla_outbox (session_uid, entity, turn_uid, version, gone, gone_parent_uid, gone_created_at)
            VALUES (OLD.session_uid, 'turn', OLD.uid, NEW.version - 1, 'rekeyed', OLD.parent_uid, OLD.created_at);
    END IF;
    INSERT INTO scylla_outbox (session_uid, entity, turn_uid, version) VALUES (NEW.session_uid, 'turn', NEW.uid, NEW.version);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION conversation_pg_step_before() RETURNS trigger
    LANGUAGE plpgsql SET search_path = __SCHEMA__ AS $$
DECLARE
    writes text;
    session text;
    tombstone bigint;
BEGIN
    IF conversation_pg_by_store() THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    writes := conversation_pg_writes();
    IF TG_OP = 'INSERT' THEN
        NEW.version := insert_version(NEW.version, NEW.agent_turn_uid, NEW.idx);
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.agent_turn_uid IS DISTINCT FROM OLD.agent_turn_uid OR NEW.idx IS DISTINCT FROM OLD.idx THEN
            PERFORM conversation_pg_key_fixed('steps.agent_turn_uid and steps.idx');
        END IF;
        IF writes = 'copy' THEN
            NEW.version := OLD.version;
        ELSIF NEW.version IS NULL OR NEW.version <= OLD.version THEN
            NEW.version := next_version(OLD.version);
        END IF;
        RETURN NEW;
    END IF;
    -- A step deleted alone; one whose turn is being deleted was recorded with the turn.
    IF writes = 'recorded' THEN
        SELECT t.session_uid INTO session FROM agent_turns t WHERE t.uid = OLD.agent_turn_uid;
        IF FOUND AND EXISTS (SELECT 1 FROM sessions WHERE uid = session) THEN
            tombstone := next_version(OLD.version);
            INSERT INTO scylla_outbox (session_uid, entity, turn_uid, idx, version, gone)
                VALUES (session, 'step', OLD.agent_turn_uid, OLD.idx, tombstone, 'deleted');
            PERFORM conversation_pg_deleted(OLD.agent_turn_uid, OLD.idx, tombstone);
        END IF;
    END IF;
    RETURN OLD;
END $$;

CREATE OR REPLACE FUNCTION conversation_pg_step_after() RETURNS trigger
    LANGUAGE plpgsql SET search_path = __SCHEMA__ AS $$
BEGIN
    IF conversation_pg_by_store() THEN
        RETURN NULL;
    END IF;
    IF conversation_pg_writes() <> 'recorded' THEN
        RETURN NULL;
    END IF;
    INSERT INTO scylla_outbox (session_uid, entity, turn_uid, idx, version)
        SELECT t.session_uid, 'step', NEW.agent_turn_uid, NEW.idx, NEW.version FROM agent_turns t
        WHERE t.uid = NEW.agent_turn_uid;
    RETURN NULL;
END $$;

-- TRUNCATE fires no row triggers: refused while changes are recorded or refused.
CREATE OR REPLACE FUNCTION conversation_pg_truncate() RETURNS trigger
    LANGUAGE plpgsql SET search_path = __SCHEMA__ AS $$
BEGIN
    IF conversation_pg_by_store() THEN
        RETURN NULL;
    END IF;
    -- Once dual-write has begun, ScyllaDB may hold copies that only a recorded delete removes.
    IF conversation_pg_writes() <> 'plain' OR (SELECT dual_write_since IS NOT NULL FROM migration_phase) THEN
        RAISE EXCEPTION 'TRUNCATE of % is refused once the migration has begun', TG_TABLE_NAME
            USING ERRCODE = '55000', HINT = 'delete the rows instead, so that ScyllaDB''s copies go too';
    END IF;
    RETURN NULL;
END $$;
