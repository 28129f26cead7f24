-- The newest version at which a turn or step that other code deleted was tombstoned in
-- ScyllaDB (`idx` -1 for the turn itself; see `chat-migrate adopt`). A row inserted again under
-- the same key is versioned past it, so its copies are not hidden under the delete's
-- tombstones, whatever the clocks say.
CREATE TABLE deleted_rows (
    turn_uid text COLLATE "C" NOT NULL,
    idx int NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (turn_uid, idx)
);

-- The version of a turn (`idx` -1) or step inserted now: `given` if the writer chose one past
-- any tombstone of the key, else next_version() past it. (It reads the tombstones committed, or
-- recorded earlier in the same transaction. No lock per key: a bulk load would take one per row.)
CREATE FUNCTION insert_version(given bigint, turn_uid text, idx int) RETURNS bigint
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    floor bigint;
BEGIN
    floor := (SELECT d.version FROM deleted_rows d WHERE d.turn_uid = $2 AND d.idx = $3);
    IF given IS NULL OR given <= 0 OR given <= floor THEN
        RETURN next_version(floor);
    END IF;
    RETURN given;
END $$;
