-- Evidence at rest (docs/log.md): no PIN code is stored in clear. An event
-- whose payload carries a code keeps in payload the payload without it
-- (domain.RedactPayload) and in sealed its exact bytes as received, sealed
-- under its access method's data key (AES-256-GCM, the event id as
-- associated data); other events keep payload as received and sealed NULL.
-- The extracted code column becomes has_code: 1 when the event carried a
-- code, NULL when not; the value is read back by opening sealed.
ALTER TABLE events ADD COLUMN sealed BLOB;
ALTER TABLE events RENAME COLUMN code TO has_code;

-- One data key per access method, wrapped by the key-encryption key (which
-- lives outside the database); the zero id holds the log-wide key of events
-- without an access method. Not part of the log: forgetting a method deletes
-- its key (crypto-shredding), so rows may be deleted.
CREATE TABLE method_keys (
    access_method_id BLOB    PRIMARY KEY,
    wrapped          BLOB,              -- NULL once forgotten
    created_at       INTEGER NOT NULL,  -- Unix nanoseconds
    forgotten_at     INTEGER            -- Unix nanoseconds, NULL while kept
) WITHOUT ROWID;

-- The store's own settings: kek_id (the id of the key-encryption key that
-- wraps method_keys), legacy_seal (the last seq of rows written before this
-- migration, still to be sealed), compact (a VACUUM is due).
CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

INSERT INTO store_meta (name, value) SELECT 'legacy_seal', max(seq) FROM events HAVING count(*) > 0;
