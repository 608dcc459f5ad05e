package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SyncCheckpoint returns how far sync from Seam's events API at endpoint got:
// the end of the last time window it walked completely. ok is false when no
// window has been completed yet.
func (db *DB) SyncCheckpoint(ctx context.Context, endpoint string) (t time.Time, ok bool, err error) {
	var ns int64
	err = db.read.QueryRowContext(ctx, `SELECT checkpoint FROM sync_state WHERE endpoint = ?`,
		syncEndpoint(endpoint)).Scan(&ns)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("read sync checkpoint: %w", err)
	}
	return time.Unix(0, ns).UTC(), true, nil
}

// SetSyncCheckpoint records t as endpoint's sync checkpoint, in its own
// transaction. It overwrites the previous one even when t is earlier: a
// backfill from an older --since that stops halfway resumes where it stopped.
func (db *DB) SetSyncCheckpoint(ctx context.Context, endpoint string, t time.Time) error {
	err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sync_state (endpoint, checkpoint, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (endpoint) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at`,
			syncEndpoint(endpoint), t.UnixNano(), time.Now().UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("write sync checkpoint: %w", err)
	}
	return nil
}

// syncEndpoint is the key of an endpoint: without trailing slashes, so
// "https://connect.getseam.com/" and "https://connect.getseam.com" share one.
func syncEndpoint(endpoint string) string { return strings.TrimRight(endpoint, "/") }
