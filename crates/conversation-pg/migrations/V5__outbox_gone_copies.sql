-- Rows that other code deleted, or whose keys it changed (see `chat-migrate adopt`): their
-- ScyllaDB copies are found only by the keys they had, which the outbox entry keeps. `gone` says
-- what became of the row: 'deleted' (every copy goes), or 'rekeyed' (the copies under the old
-- keys go; the row's entry at its new keys writes the new ones). The tombstones take the entry's
-- version, so a copy written later with an older version stays gone, and a newer write wins.
ALTER TABLE scylla_outbox
    ADD COLUMN gone text CHECK (gone IN ('deleted', 'rekeyed')),
    ADD COLUMN gone_account_uid text COLLATE "C",
    ADD COLUMN gone_parent_uid text COLLATE "C",
    ADD COLUMN gone_created_at timestamptz;
