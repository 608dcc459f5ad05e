-- The read model, created by rebuild under generation-specific names and
-- renamed to the live names in the swap transaction. @g is the generation
-- suffix ("_g7"), @t the table-name suffix while building ("_g7", "" once live).

-- One row per access method: its state as JSON (docs/fold.md) and the columns
-- the list endpoint filters on. Keyed by the method's stream number so the
-- rows of active methods are near each other.
CREATE TABLE access_methods@t (
    stream           INTEGER PRIMARY KEY,
    access_method_id BLOB    NOT NULL,
    workspace_id     BLOB    NOT NULL,
    status           TEXT    NOT NULL,
    mode             TEXT,
    is_issued        INTEGER NOT NULL,
    last_occurred_at INTEGER NOT NULL,  -- fold key of the last event folded
    last_created_at  INTEGER NOT NULL,
    last_event_id    BLOB    NOT NULL,
    state            BLOB    NOT NULL
);
CREATE UNIQUE INDEX access_methods@g_id ON access_methods@t (access_method_id);

-- The grants and grant keys each access method's state lists.
CREATE TABLE access_method_grants@t (
    access_grant_id  BLOB NOT NULL,
    access_method_id BLOB NOT NULL,
    PRIMARY KEY (access_grant_id, access_method_id)
) WITHOUT ROWID;
CREATE INDEX access_method_grants@g_method ON access_method_grants@t (access_method_id);

CREATE TABLE access_method_keys@t (
    access_grant_key TEXT NOT NULL,
    access_method_id BLOB NOT NULL,
    PRIMARY KEY (access_grant_key, access_method_id)
) WITHOUT ROWID;
CREATE INDEX access_method_keys@g_method ON access_method_keys@t (access_method_id);

-- One row per grant: its summary (docs/fold.md) without access_methods, which
-- queries join from access_method_grants.
CREATE TABLE access_grants@t (
    stream          INTEGER PRIMARY KEY,
    access_grant_id BLOB NOT NULL,
    state           BLOB NOT NULL
);
CREATE UNIQUE INDEX access_grants@g_id ON access_grants@t (access_grant_id);
