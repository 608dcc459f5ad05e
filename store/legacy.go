package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/keyring"
)

// legacyChunk is how many seqs sealLegacy reads at a time.
const legacyChunk = 10_000

// sealLegacy seals the codes of the rows written before codes were sealed
// (migration 0004 recorded their last seq as legacy_seal), in one
// transaction: the payload loses its codes, the raw bytes are sealed, the
// extracted code becomes a flag. The log is append-only, so the transaction
// lifts the UPDATE trigger on events and puts it back. It then asks for a
// compaction (Compact), since the old rows' pages still hold the codes.
func (db *DB) sealLegacy(ctx context.Context) error {
	var value string
	err := db.write.QueryRowContext(ctx, `SELECT value FROM store_meta WHERE name = 'legacy_seal'`).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("seal the codes of %s: %w", db.path, err)
	}
	last, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return fmt.Errorf("seal the codes of %s: legacy_seal %q: %w", db.path, value, err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		restore, err := tx.liftTriggers(ctx, "events_no_update")
		if err != nil {
			return err
		}
		for from := int64(0); from < last; from += legacyChunk {
			if err := tx.sealRows(ctx, from, min(from+legacyChunk, last)); err != nil {
				return err
			}
		}
		if err := restore(); err != nil {
			return err
		}
		// The hash chain covers the stored rows, which changed.
		if err := tx.rechain(ctx); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO store_meta (name, value) VALUES ('compact', '1')
			ON CONFLICT (name) DO UPDATE SET value = excluded.value;
			DELETE FROM store_meta WHERE name = 'legacy_seal'`)
		return err
	})
	if err != nil {
		return fmt.Errorf("seal the codes of %s: %w", db.path, err)
	}
	return nil
}

// sealRows seals the rows with from < seq <= to that name a code.
func (tx *Tx) sealRows(ctx context.Context, from, to int64) error {
	type row struct {
		seq             int64
		id, method      domain.ID
		payload, sealed []byte
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, event_id, access_method_id, payload FROM events
		WHERE seq > ? AND seq <= ? AND sealed IS NULL`, from, to)
	if err != nil {
		return err
	}
	var todo []row
	for rows.Next() {
		var r row
		var id, method, payload []byte
		if err := rows.Scan(&r.seq, &id, &method, &payload); err != nil {
			rows.Close()
			return err
		}
		if redacted := domain.RedactPayload(payload); !bytes.Equal(redacted, payload) {
			r.id, _ = domain.IDFromBytes(id)
			r.method, _ = domain.IDFromBytes(method)
			r.payload, r.sealed = redacted, payload
			todo = append(todo, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range todo {
		dek, err := tx.dataKey(ctx, r.method)
		if err != nil {
			return err
		}
		sealed, err := keyring.Seal(dek, r.sealed, r.id[:])
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE events SET payload = ?, sealed = ?,
			has_code = CASE WHEN has_code IS NULL THEN NULL ELSE 1 END WHERE seq = ?`, r.payload, sealed, r.seq); err != nil {
			return fmt.Errorf("seal seq %d: %w", r.seq, err)
		}
	}
	return nil
}

// Compact rewrites the database file (VACUUM) and truncates its WAL when a
// compaction is due: after sealing old rows, the pages that held their codes
// in clear, freed or in the WAL, are gone once it returns. The caller runs it
// after any rebuild that drops tables holding codes. Errors: internal.
func (db *DB) Compact(ctx context.Context) error {
	if db.write == nil {
		return nil
	}
	var n int
	if err := db.write.QueryRowContext(ctx, `SELECT count(*) FROM store_meta WHERE name = 'compact'`).Scan(&n); err != nil || n == 0 {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	release, err := db.ckpt.hold(ctx)
	if err != nil {
		return fmt.Errorf("compact %s: wait for a checkpoint under way: %w", db.path, err)
	}
	defer release()
	for _, q := range []string{`VACUUM`, `DELETE FROM store_meta WHERE name = 'compact'`, `PRAGMA wal_checkpoint(TRUNCATE)`} {
		if _, err := db.write.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("compact %s: %w", db.path, err)
		}
	}
	return nil
}
