package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/keyring"
)

// KeyPath is where the key file of the database at dbPath lives when no
// other key is given: beside it, with ".key" appended.
func KeyPath(dbPath string) string { return dbPath + ".key" }

// keys is a database's key-encryption key (nil when opened read only
// without one) and the data keys it unwrapped, by access method id (the
// zero id: the log-wide key of events without an access method).
type keys struct {
	kr     *keyring.Keyring
	source string // names the key in messages: "the key file PATH"

	mu   sync.Mutex
	deks map[domain.ID]cachedKey // committed data keys only, with the wrapped form they were read as
}

// RequireKey returns nil when the database was opened with its key, else
// the error that says revealing codes needs it (invalid_input).
func (db *DB) RequireKey() error {
	if db.keys.kr != nil {
		return nil
	}
	return db.errNoKey()
}

// errNoKey is the error for a read that needs a code without the key.
func (db *DB) errNoKey() error {
	if db.engine == Postgres {
		return domain.Errorf(domain.EInvalid, "revealing codes needs the database's key, which the PostgreSQL database %s takes "+
			"from AMTRACK_KEY_FILE or AMTRACK_KEY: give it, or run without --reveal-codes", db.path)
	}
	return domain.Errorf(domain.EInvalid, "revealing codes needs the database's key, and there is no key file at %s: "+
		"give it with AMTRACK_KEY_FILE or AMTRACK_KEY, or run without --reveal-codes", KeyPath(db.path))
}

// openKeys sets the database's key: opts.Keyring, else the key file at
// KeyPath, created when missing if create (a writing open) and the database
// has no key yet, left absent otherwise (reads work, revealing does not).
// The database records the key's id on first use and refuses another key,
// or a writing open without its key (invalid_input naming the key ids).
func (db *DB) openKeys(ctx context.Context, q Queryer, opts Options, create bool) error {
	db.keys = &keys{kr: opts.Keyring, source: opts.KeySource, deks: map[domain.ID]cachedKey{}}
	var stored string
	err := q.QueryRowContext(ctx, `SELECT value FROM store_meta WHERE name = 'kek_id'`).Scan(&stored)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read the key id of %s: %w", db.path, err)
	}
	if db.keys.kr == nil && db.engine == Postgres {
		// No key file sits beside a server database (openPostgres refuses
		// a writing open without a key): reads work, revealing does not.
		return nil
	}
	if db.keys.kr == nil {
		path := KeyPath(db.path)
		db.keys.source = "the key file " + path
		db.keys.kr, err = keyring.Load(path)
		switch {
		case domain.ErrorCode(err) != domain.ENotFound:
		case !create:
			return nil // reads work without the key; revealing does not
		case stored != "":
			return domain.Errorf(domain.EInvalid, "no key file at %s, and the codes of the database at %s are sealed with key id %s: "+
				"give that key with AMTRACK_KEY_FILE or AMTRACK_KEY, or restore its key file at %s", path, db.path, stored, path)
		default:
			db.keys.kr, _, err = keyring.LoadOrCreate(path)
		}
		if err != nil {
			return err
		}
	}
	if db.keys.source == "" {
		db.keys.source = "the key"
	}
	switch {
	case stored == "" && create:
		return db.Update(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO store_meta (name, value) VALUES ('kek_id', ?)
				ON CONFLICT (name) DO NOTHING`, db.keys.kr.ID())
			return err
		})
	case stored != "" && stored != db.keys.kr.ID():
		return domain.Errorf(domain.EInvalid, "%s (key id %s) does not open the database at %s (key id %s): "+
			"give the key it was written with (AMTRACK_KEY_FILE or AMTRACK_KEY), or restore that key file beside it",
			db.keys.source, db.keys.kr.ID(), db.path, stored)
	}
	return nil
}

// seal returns what the log stores of e: for a payload that names a code
// (domain.RedactPayload changes it), the payload without it and the raw
// bytes sealed under the data key of e's access method, bound to e's id;
// for any other, the raw bytes and no sealed bytes. redacted is e.Raw
// redacted already (Prepared), or nil.
func (tx *Tx) seal(ctx context.Context, e *domain.Event, redacted []byte) (payload, sealed []byte, err error) {
	if redacted == nil {
		redacted = domain.RedactPayload(e.Raw)
	}
	if bytes.Equal(redacted, e.Raw) {
		return e.Raw, nil, nil
	}
	if tx.db.keys.kr == nil {
		return nil, nil, domain.Errorf(domain.EInternal, "database %s has no key to seal codes with", tx.db.path)
	}
	dek, err := tx.dataKey(ctx, e.AccessMethodID)
	if err != nil {
		return nil, nil, err
	}
	sealed, err = keyring.Seal(dek, e.Raw, e.ID[:])
	if err != nil {
		return nil, nil, fmt.Errorf("seal event %s: %w", e.ID, err)
	}
	return redacted, sealed, nil
}

// dataKey returns the data key of access method id, creating it (stored
// wrapped) on the method's first sealed event.
func (tx *Tx) dataKey(ctx context.Context, id domain.ID) ([]byte, error) {
	if dek, ok := tx.deks[id]; ok {
		return dek, nil
	}
	dek, err := tx.db.loadKey(ctx, tx, id)
	if dek != nil || err != nil {
		return dek, err
	}
	dek, wrapped, err := tx.db.keys.kr.NewDataKey()
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO method_keys (access_method_id, wrapped, created_at) VALUES (?, ?, ?)`,
		id[:], wrapped, time.Now().UnixNano()); err != nil {
		return nil, fmt.Errorf("store data key: %w", err)
	}
	if tx.deks == nil {
		tx.deks = map[domain.ID][]byte{}
	}
	tx.deks[id] = dek
	return dek, nil
}

// loadKey returns the committed data key of access method id (nil when it
// has none), read through q and kept unwrapped. Errors: invalid_input when
// the key was forgotten (with ErrCodesForgotten in its chain) or does not
// unwrap.
//
// The wrapped key is read from the database every time, so that a key
// another process forgot (or rewrapped) is never used from memory: the
// cache only spares the unwrap of the same wrapped bytes.
func (db *DB) loadKey(ctx context.Context, q Queryer, id domain.ID) ([]byte, error) {
	k := db.keys
	var wrapped []byte
	err := q.QueryRowContext(ctx, `SELECT wrapped FROM method_keys WHERE access_method_id = ?`, id[:]).Scan(&wrapped)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read data key: %w", err)
	case wrapped == nil:
		return nil, errForgotten(id)
	}
	k.mu.Lock()
	c, ok := k.deks[id]
	k.mu.Unlock()
	if ok && bytes.Equal(c.wrapped, wrapped) {
		return c.dek, nil
	}
	dek, err := k.kr.Unwrap(wrapped)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if len(k.deks) >= maxCachedKeys {
		k.deks = make(map[domain.ID]cachedKey)
	}
	k.deks[id] = cachedKey{wrapped: wrapped, dek: dek}
	k.mu.Unlock()
	return dek, nil
}

// maxCachedKeys bounds the unwrapped data keys kept; past it the cache
// starts over (a serve reading the codes of a million methods would
// otherwise keep a key for each, about 150 bytes apiece).
const maxCachedKeys = 1 << 15

// cachedKey is a data key unwrapped from wrapped.
type cachedKey struct{ wrapped, dek []byte }

// unseal replaces, in each record that has sealed bytes, the stored payload
// (without its codes) by the bytes as received, when the key is at hand;
// without it, or when the method's codes were forgotten, the records keep
// the payload without codes (CodeForgotten tells the latter).
func (l Log) unseal(ctx context.Context, recs []Record) error {
	for i := range recs {
		rec := &recs[i]
		if rec.sealed == nil || l.db.keys.kr == nil {
			continue
		}
		raw, err := l.open(ctx, rec.Event.ID, rec.Event.AccessMethodID, rec.sealed)
		if errors.Is(err, ErrCodesForgotten) {
			rec.sealed, rec.forgotten = nil, true
			continue
		}
		if err != nil {
			return err
		}
		rec.Event.Raw, rec.sealed = raw, nil
	}
	return nil
}

// readSize is the size of rec's payload as unseal leaves it: the bytes as
// received when it will open them, else the stored payload.
func (l Log) readSize(rec Record) int {
	if rec.sealed != nil && l.db.keys.kr != nil && len(rec.sealed) >= keyring.Overhead {
		return len(rec.sealed) - keyring.Overhead
	}
	return len(rec.Event.Raw)
}

// open opens the sealed bytes of event id, of access method method.
func (l Log) open(ctx context.Context, id, method domain.ID, sealed []byte) ([]byte, error) {
	var dek []byte
	if l.tx != nil {
		dek = l.tx.deks[method]
	}
	if dek == nil {
		var err error
		if dek, err = l.db.loadKey(ctx, l.q, method); err != nil {
			return nil, fmt.Errorf("open event %s: %w", id, err)
		}
		if dek == nil {
			return nil, domain.Errorf(domain.EInternal, "event %s is sealed but its access method has no data key: the database is damaged, restore it from a backup", id)
		}
	}
	raw, err := keyring.Open(dek, sealed, id[:])
	if err != nil {
		return nil, fmt.Errorf("open event %s: %w", id, err)
	}
	return raw, nil
}

// Code returns the PIN code carried by the event with the given id, read
// from its sealed bytes (or from its payload, for a row written before
// codes were sealed). Errors: not_found (no such event, or it carries no
// code), invalid_input when the database was opened without its key or the
// code was forgotten (ErrCodesForgotten is then in the chain).
func (l Log) Code(ctx context.Context, id domain.ID) (string, error) {
	var method, payload, sealed []byte
	err := l.q.QueryRowContext(ctx, `SELECT access_method_id, payload, sealed FROM events WHERE event_id = ?`, id[:]).
		Scan(&method, &payload, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("event", id)
	}
	if err != nil {
		return "", ended(ctx, fmt.Errorf("read event %s: %w", id, err))
	}
	raw := payload
	if sealed != nil {
		if l.db.keys.kr == nil {
			return "", l.db.errNoKey()
		}
		m, _ := domain.IDFromBytes(method)
		if raw, err = l.open(ctx, id, m, sealed); err != nil {
			return "", err
		}
	}
	e, err := domain.ParseEvent(raw)
	if err != nil {
		return "", fmt.Errorf("read event %s: %w", id, err)
	}
	if e.Code == nil {
		return "", domain.Errorf(domain.ENotFound, "event %s carries no code", id)
	}
	return *e.Code, nil
}

// Rekey rewraps every data key of the database under the key-encryption key
// to, in one transaction, and records to's id: from then on the database
// opens with to only (reopen it to use it). The sealed payloads are not
// touched. It returns the number of data keys rewrapped. Errors:
// invalid_input when a data key does not unwrap with the current key.
func (db *DB) Rekey(ctx context.Context, to *keyring.Keyring) (int, error) {
	if db.keys.kr == nil {
		return 0, db.errNoKey()
	}
	n := 0
	err := db.Update(ctx, func(tx *Tx) error {
		type row struct{ id, wrapped []byte }
		rows, err := tx.QueryContext(ctx, `SELECT access_method_id, wrapped FROM method_keys WHERE wrapped IS NOT NULL`)
		if err != nil {
			return err
		}
		var all []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.wrapped); err != nil {
				rows.Close()
				return err
			}
			all = append(all, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range all {
			wrapped, err := db.keys.kr.Rewrap(r.wrapped, to)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE method_keys SET wrapped = ? WHERE access_method_id = ?`, wrapped, r.id); err != nil {
				return err
			}
		}
		n = len(all)
		_, err = tx.ExecContext(ctx, `INSERT INTO store_meta (name, value) VALUES ('kek_id', ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, to.ID())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("rekey %s: %w", db.path, err)
	}
	return n, nil
}
