-- Takes out the functions triggers.sql installed, once their triggers are dropped. The columns,
-- tables and data adoption added stay: they have defaults, so the application's statements work
-- as before, and the migration's records are kept for a later adoption.
DROP FUNCTION IF EXISTS conversation_pg_session_before();
DROP FUNCTION IF EXISTS conversation_pg_session_after();
DROP FUNCTION IF EXISTS conversation_pg_turn_before();
DROP FUNCTION IF EXISTS conversation_pg_turn_after();
DROP FUNCTION IF EXISTS conversation_pg_step_before();
DROP FUNCTION IF EXISTS conversation_pg_step_after();
DROP FUNCTION IF EXISTS conversation_pg_truncate();
DROP FUNCTION IF EXISTS conversation_pg_key_fixed(text);
DROP FUNCTION IF EXISTS conversation_pg_deleted(text, int, bigint);
DROP FUNCTION IF EXISTS conversation_pg_by_store();
DROP FUNCTION IF EXISTS conversation_pg_writes();
DROP FUNCTION IF EXISTS conversation_pg_phase_is_current();
