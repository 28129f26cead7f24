-- Each phase change takes a number from this sequence and keeps it in `migration_phase.change`,
-- in the statement that changes the phase. A sequence is read outside any snapshot, so a writer
-- whose snapshot is older than the change (REPEATABLE READ, SERIALIZABLE) can tell that the
-- phase row it sees is no longer the current one, and retry rather than write the old way.
CREATE SEQUENCE migration_phase_changes;
SELECT setval('migration_phase_changes', 1);
ALTER TABLE migration_phase ADD COLUMN change bigint NOT NULL DEFAULT 1;

-- The newest version at which a turn or step that other code deleted was tombstoned in
-- ScyllaDB (`idx` -1 for the turn itself). A row inserted again with the same key is versioned
-- past it, so its copies are not hidden under the delete's tombstones, whatever the clocks say.
CREATE TABLE deleted_rows (
    turn_uid text COLLATE "C" NOT NULL,
    idx int NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (turn_uid, idx)
);
