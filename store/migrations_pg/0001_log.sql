-- The PostgreSQL schema of the log: the same tables, columns and meanings as
-- the SQLite migrations 0001-0004 leave (docs/log.md), written at once.
-- Ids are 16-byte BYTEA, times Unix nanoseconds in BIGINT (UTC), text in
-- byte order (COLLATE "C", SQLite's BINARY), so that every ORDER BY is the same
-- on both engines.

CREATE TABLE event_streams (
    stream BIGINT PRIMARY KEY,
    kind   TEXT COLLATE "C"   NOT NULL CHECK (kind IN ('access_method', 'access_grant')),
    id     BYTEA  NOT NULL,
    UNIQUE (id, kind)
);

CREATE TABLE events (
    seq               BIGINT PRIMARY KEY,  -- arrival order = commit order (appends hold the writer lock)
    event_id          BYTEA  NOT NULL,
    event_type        TEXT COLLATE "C"   NOT NULL,
    workspace_id      BYTEA  NOT NULL,
    occurred_at       BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    access_method_id  BYTEA,
    method_stream     BIGINT REFERENCES event_streams (stream),
    access_grant_id   BYTEA,
    access_grant_ids  BYTEA,
    access_grant_keys TEXT COLLATE "C",
    has_code          BIGINT,
    is_backup_code    BIGINT,
    access_grant_key  TEXT COLLATE "C",
    starts_at         TEXT COLLATE "C",
    ends_at           TEXT COLLATE "C",
    received_at       BIGINT NOT NULL,
    source            TEXT COLLATE "C"   NOT NULL CHECK (source IN ('webhook', 'file', 'sync')),
    message_id        TEXT COLLATE "C",
    payload           BYTEA  NOT NULL,
    sealed            BYTEA
);

CREATE UNIQUE INDEX events_event_id ON events (event_id);
CREATE INDEX events_method_stream ON events (method_stream, occurred_at, created_at, event_id)
    WHERE method_stream IS NOT NULL;

CREATE TABLE event_grants (
    grant_stream BIGINT NOT NULL REFERENCES event_streams (stream),
    occurred_at  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    event_id     BYTEA  NOT NULL,
    seq          BIGINT NOT NULL REFERENCES events (seq),
    PRIMARY KEY (grant_stream, occurred_at, created_at, event_id)
);

CREATE TABLE event_chain (
    seq  BIGINT PRIMARY KEY,
    hash BYTEA  NOT NULL
);

CREATE TABLE log_meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE sync_state (
    endpoint   TEXT COLLATE "C"   PRIMARY KEY,
    checkpoint BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE method_keys (
    access_method_id BYTEA  PRIMARY KEY,
    wrapped          BYTEA,
    created_at       BIGINT NOT NULL,
    forgotten_at     BIGINT
);

CREATE TABLE store_meta (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);

-- Counts the write transactions of every amtrack process (each one adds 1
-- under the writer lock), so that a process knows when another one wrote
-- and its in-memory caches may be stale (SQLite's PRAGMA data_version).
CREATE TABLE writer_epoch (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    n   BIGINT  NOT NULL
);
INSERT INTO writer_epoch (n) VALUES (0);

-- The log tables are append-only: UPDATE and DELETE fail row by row,
-- TRUNCATE (which fires no row trigger) fails for the statement.
CREATE FUNCTION amtrack_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP;
END;
$$;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER events_no_delete BEFORE DELETE ON events FOR EACH ROW EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER event_streams_no_update BEFORE UPDATE ON event_streams FOR EACH ROW EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER event_streams_no_delete BEFORE DELETE ON event_streams FOR EACH ROW EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER event_streams_no_truncate BEFORE TRUNCATE ON event_streams FOR EACH STATEMENT EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER event_grants_no_update BEFORE UPDATE ON event_grants FOR EACH ROW EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER event_grants_no_delete BEFORE DELETE ON event_grants FOR EACH ROW EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER event_grants_no_truncate BEFORE TRUNCATE ON event_grants FOR EACH STATEMENT EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER event_chain_no_update BEFORE UPDATE ON event_chain FOR EACH ROW EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER event_chain_no_delete BEFORE DELETE ON event_chain FOR EACH ROW EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER event_chain_no_truncate BEFORE TRUNCATE ON event_chain FOR EACH STATEMENT EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER log_meta_no_update BEFORE UPDATE ON log_meta FOR EACH ROW EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER log_meta_no_delete BEFORE DELETE ON log_meta FOR EACH ROW EXECUTE FUNCTION amtrack_append_only();
CREATE TRIGGER log_meta_no_truncate BEFORE TRUNCATE ON log_meta FOR EACH STATEMENT EXECUTE FUNCTION amtrack_append_only();
