-- The append-only event log (docs/log.md). One row per accepted event: the raw
-- payload exactly as received, plus the fields the fold reads, extracted once
-- at append so that a rebuild never has to decode JSON. Ids are 16-byte blobs
-- (smaller random-key indexes), times Unix nanoseconds in UTC.

-- Streams number access methods and grants in the order they are first
-- seen. The per-method and per-grant indexes are keyed by this number, not by
-- the random UUID, so the methods and grants that are active now (the recent
-- ones) sit together at the right edge of those indexes and stay in cache.
CREATE TABLE event_streams (
    stream INTEGER PRIMARY KEY,
    kind   TEXT NOT NULL CHECK (kind IN ('access_method', 'access_grant')),
    id     BLOB NOT NULL,
    UNIQUE (id, kind)
);

CREATE TABLE events (
    seq               INTEGER PRIMARY KEY,  -- arrival order, assigned by the single writer
    event_id          BLOB    NOT NULL,
    event_type        TEXT    NOT NULL,
    workspace_id      BLOB    NOT NULL,
    occurred_at       INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    access_method_id  BLOB,                 -- access_method.* events
    method_stream     INTEGER REFERENCES event_streams (stream),
    access_grant_id   BLOB,                 -- access_grant.* events
    access_grant_ids  BLOB,                 -- access_method.*: packed 16-byte ids, NULL when none
    access_grant_keys TEXT,                 -- access_method.*: JSON array, NULL when none
    code              TEXT,                 -- issued/reissued: the PIN (a secret: redacted on output)
    is_backup_code    INTEGER,              -- issued/reissued: 0/1, NULL when absent
    access_grant_key  TEXT,                 -- access_grant.access_times_changed
    starts_at         TEXT,
    ends_at           TEXT,
    received_at       INTEGER NOT NULL,
    source            TEXT    NOT NULL CHECK (source IN ('webhook', 'file', 'sync')),
    message_id        TEXT,                 -- the webhook message id, when there is one
    payload           BLOB    NOT NULL      -- raw bytes as received
);

CREATE UNIQUE INDEX events_event_id ON events (event_id);

-- One access method's events in fold order.
CREATE INDEX events_method_stream ON events (method_stream, occurred_at, created_at, event_id)
    WHERE method_stream IS NOT NULL;

-- Links each event to each grant it belongs to, in fold order: a grant's
-- history is one range scan.
CREATE TABLE event_grants (
    grant_stream INTEGER NOT NULL REFERENCES event_streams (stream),
    occurred_at  INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    event_id     BLOB    NOT NULL,
    seq          INTEGER NOT NULL REFERENCES events (seq),
    PRIMARY KEY (grant_stream, occurred_at, created_at, event_id)
) WITHOUT ROWID;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events is append-only: DELETE is not allowed'); END;
CREATE TRIGGER event_streams_no_update BEFORE UPDATE ON event_streams
BEGIN SELECT RAISE(ABORT, 'event_streams is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER event_streams_no_delete BEFORE DELETE ON event_streams
BEGIN SELECT RAISE(ABORT, 'event_streams is append-only: DELETE is not allowed'); END;
CREATE TRIGGER event_grants_no_update BEFORE UPDATE ON event_grants
BEGIN SELECT RAISE(ABORT, 'event_grants is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER event_grants_no_delete BEFORE DELETE ON event_grants
BEGIN SELECT RAISE(ABORT, 'event_grants is append-only: DELETE is not allowed'); END;
