-- Where `amtrack sync` got to in Seam's events API, per endpoint: the end of
-- the last time window it walked completely (Unix nanoseconds, UTC). Not part
-- of the log (the log is events and event_*): a checkpoint moves, so this row
-- is updated in place, each time in its own small transaction.
CREATE TABLE sync_state (
    endpoint   TEXT    PRIMARY KEY,
    checkpoint INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
