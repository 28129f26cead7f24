-- Takes out what triggers.sql installed. The columns, tables and data adoption added stay: they
-- have defaults, so the application's statements work as before, and the migration's records
-- are kept for a later adoption.
DROP TRIGGER IF EXISTS zz_conversation_pg_before ON sessions;
DROP TRIGGER IF EXISTS zz_conversation_pg_after ON sessions;
DROP TRIGGER IF EXISTS zz_conversation_pg_truncate ON sessions;
DROP TRIGGER IF EXISTS zz_conversation_pg_before ON human_turns;
DROP TRIGGER IF EXISTS zz_conversation_pg_after ON human_turns;
DROP TRIGGER IF EXISTS zz_conversation_pg_truncate ON human_turns;
DROP TRIGGER IF EXISTS zz_conversation_pg_before ON agent_turns;
DROP TRIGGER IF EXISTS zz_conversation_pg_after ON agent_turns;
DROP TRIGGER IF EXISTS zz_conversation_pg_truncate ON agent_turns;
DROP TRIGGER IF EXISTS zz_conversation_pg_before ON steps;
DROP TRIGGER IF EXISTS zz_conversation_pg_after ON steps;
DROP TRIGGER IF EXISTS zz_conversation_pg_truncate ON steps;
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
