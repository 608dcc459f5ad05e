package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/amtrack/amtrack/domain"
)

// TypeCodesForgotten is the type of the event Forget appends for each
// access method whose codes it forgets. It is not an access_method.* type,
// so the fold ignores it.
const TypeCodesForgotten = domain.TypeCodesForgotten

// ErrCodesForgotten is in the chain of the error of a read that needs the
// code of an access method whose codes were forgotten (Forget).
var ErrCodesForgotten = errors.New("the codes were forgotten")

// errForgotten is the error for a data key destroyed by Forget.
func errForgotten(id domain.ID) error {
	return fmt.Errorf("%w: %w", domain.Errorf(domain.EInvalid,
		"the codes of access method %s were forgotten (amtrack forget): its key is destroyed", id), ErrCodesForgotten)
}

// ForgetResult counts what Forget did.
type ForgetResult struct {
	Forgotten []domain.ID // the methods whose key this call destroyed
	Already   []domain.ID // the methods already forgotten (nothing done)
	// Checkpointed is false when a reader kept the WAL from being
	// truncated after the commit: the old wrapped keys may remain in WAL
	// frames until the next checkpoint that truncates it.
	Checkpointed bool
}

// Forget destroys the data keys of the access methods ids, in one write
// transaction (crypto-shredding): each key's row keeps a NULL wrapped key
// and the time of the forgetting, and an amtrack.codes_forgotten event per
// method is appended to the log (folded with apply, when not nil). From
// then on the methods' sealed events read as their stored payloads, without
// codes. The transaction runs with secure_delete, and the WAL is truncated
// after the commit, so the old wrapped keys' bytes leave the database
// files. A method already forgotten is counted in Already. Errors:
// invalid_input for the zero id (the log-wide key); not_found for a method
// with no events (nothing is changed).
func (db *DB) Forget(ctx context.Context, ids []domain.ID, apply ApplyFunc) (ForgetResult, error) {
	var res ForgetResult
	if db.write == nil {
		return res, domain.Errorf(domain.EInternal, "database %s is open read only", db.path)
	}
	err := db.updateWithPragma(ctx, []string{"secure_delete = ON"}, []string{"secure_delete = OFF"}, func(tx *Tx) error {
		res = ForgetResult{}
		now := time.Now().UTC()
		var batch []Pending
		seen := map[domain.ID]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			if id == (domain.ID{}) {
				return domain.Errorf(domain.EInvalid, "access method %s is the log-wide key of events without an access method: it cannot be forgotten", id)
			}
			var workspace []byte
			err := tx.QueryRowContext(ctx, `SELECT workspace_id FROM events WHERE access_method_id = ? LIMIT 1`, id[:]).Scan(&workspace)
			if errors.Is(err, sql.ErrNoRows) {
				return domain.Errorf(domain.ENotFound, "access method %s is not in the log: check the id (nothing was forgotten)", id)
			}
			if err != nil {
				return fmt.Errorf("read access method %s: %w", id, err)
			}
			var forgotten sql.NullInt64
			err = tx.QueryRowContext(ctx, `SELECT forgotten_at FROM method_keys WHERE access_method_id = ?`, id[:]).Scan(&forgotten)
			switch {
			case err == nil && forgotten.Valid:
				res.Already = append(res.Already, id)
				continue
			case err == nil:
				_, err = tx.ExecContext(ctx, `UPDATE method_keys SET wrapped = NULL, forgotten_at = ? WHERE access_method_id = ?`, now.UnixNano(), id[:])
			case errors.Is(err, sql.ErrNoRows): // no code yet: none may be kept later
				_, err = tx.ExecContext(ctx, `INSERT INTO method_keys (access_method_id, wrapped, created_at, forgotten_at) VALUES (?, NULL, ?, ?)`,
					id[:], now.UnixNano(), now.UnixNano())
			}
			if err != nil {
				return fmt.Errorf("forget the key of access method %s: %w", id, err)
			}
			ws, _ := domain.IDFromBytes(workspace)
			e, err := forgottenEvent(id, ws, now)
			if err != nil {
				return err
			}
			batch = append(batch, Pending{Event: e, Source: SourceFile, ReceivedAt: now})
			res.Forgotten = append(res.Forgotten, id)
		}
		if len(batch) == 0 {
			return nil
		}
		_, appended, err := tx.Append(ctx, batch)
		if err != nil {
			return err
		}
		if apply != nil && len(appended) > 0 {
			if err := apply(ctx, tx, appended); err != nil {
				return err
			}
		}
		tx.OnCommit(func() {
			k := db.keys
			k.mu.Lock()
			defer k.mu.Unlock()
			for _, id := range res.Forgotten {
				delete(k.deks, id)
			}
		})
		return nil
	})
	if err != nil {
		return ForgetResult{}, fmt.Errorf("forget codes: %w", err)
	}
	if db.engine == Postgres {
		// VACUUM frees the old row versions that held the wrapped keys
		// (their bytes may stay in the freed space, the server's WAL and
		// its backups until overwritten: docs/operating.md).
		if _, err := db.write.ExecContext(ctx, `VACUUM method_keys`); err != nil {
			return res, fmt.Errorf("forget codes: vacuum method_keys: %w", err)
		}
		res.Checkpointed = true // there is no WAL of amtrack's to truncate
		return res, nil
	}
	// A reader holding an old snapshot makes the checkpoint report busy:
	// the WAL is then left as it is (its frames may still hold the old
	// wrapped keys) until a later checkpoint truncates it.
	notTruncated := func(why string, err error) error {
		return fmt.Errorf("forget codes: the codes are forgotten, but the WAL, which may still hold the old "+
			"key bytes, was not truncated (%s): run amtrack forget again: %w", why, err)
	}
	release, err := db.ckpt.hold(ctx)
	if err != nil {
		return res, notTruncated("stopped while waiting for a checkpoint under way", err)
	}
	defer release()
	var busy, logFrames, done int
	if err := db.write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return res, notTruncated("the truncate failed", err)
	}
	res.Checkpointed = busy == 0
	return res, nil
}

// forgottenEvent is the amtrack.codes_forgotten event of access method id.
func forgottenEvent(id, workspace domain.ID, now time.Time) (*domain.Event, error) {
	var eid domain.ID
	if _, err := rand.Read(eid[:]); err != nil {
		return nil, fmt.Errorf("new event id: %w", err)
	}
	eid[6] = eid[6]&0x0f | 0x40 // version 4
	eid[8] = eid[8]&0x3f | 0x80 // RFC 4122 variant
	at := now.Format(time.RFC3339Nano)
	raw := fmt.Appendf(nil, `{"event_id":%q,"event_type":%q,"workspace_id":%q,"created_at":%q,"occurred_at":%q,"access_method_id":%q}`,
		eid, TypeCodesForgotten, workspace, at, at, id)
	e, err := domain.ParseEvent(raw)
	if err != nil {
		return nil, fmt.Errorf("build the %s event: %w", TypeCodesForgotten, err)
	}
	return e, nil
}
