-- The log's hash chain: one row per event, appended in the event's
-- transaction. hash is SHA-256 over the previous event's hash (32 zero
-- bytes for the first) and the event's seq, received_at, source, message id
-- and payload bytes (see store/chain.go), so an edit, a deletion, an
-- insertion or a reordering of the log made outside amtrack breaks the chain
-- at the first seq it touches, and amtrack verify names it.
CREATE TABLE event_chain (
    seq  INTEGER PRIMARY KEY,  -- the event's seq
    hash BLOB    NOT NULL      -- 32 bytes
);

CREATE TRIGGER event_chain_no_update BEFORE UPDATE ON event_chain
BEGIN SELECT RAISE(ABORT, 'event_chain is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER event_chain_no_delete BEFORE DELETE ON event_chain
BEGIN SELECT RAISE(ABORT, 'event_chain is append-only: DELETE is not allowed'); END;

-- Facts about the log itself, written once: chain_backfilled_to is the last
-- seq of a log written before the chain existed, chained when this migration
-- ran (chain_backfilled_at, Unix nanoseconds); 0 for a log chained from its
-- first event. Every later event is chained by its own append, so an event
-- without a chain entry was inserted outside amtrack.
CREATE TABLE log_meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER log_meta_no_update BEFORE UPDATE ON log_meta
BEGIN SELECT RAISE(ABORT, 'log_meta is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER log_meta_no_delete BEFORE DELETE ON log_meta
BEGIN SELECT RAISE(ABORT, 'log_meta is append-only: DELETE is not allowed'); END;
