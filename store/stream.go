package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/amtrack/amtrack/domain"
)

// Stream kinds.
const (
	KindMethod = "access_method"
	KindGrant  = "access_grant"
)

type streamKey struct {
	kind string
	id   domain.ID
}

// Stream returns the stream number of an access method or grant, creating it
// on first sight.
func (tx *Tx) Stream(ctx context.Context, kind string, id domain.ID) (int64, error) {
	k := streamKey{kind, id}
	if n, ok := tx.db.streams[k]; ok {
		return n, nil
	}
	if n, ok := tx.streams[k]; ok {
		return n, nil
	}
	// Most ids missing from the cache are new: insert first, look up if
	// taken. The number is the next after the highest (what SQLite's rowid
	// gives), assigned under the writer lock on either engine, so the same
	// log numbers its streams the same everywhere.
	var n int64
	err := tx.QueryRowContext(ctx, `INSERT INTO event_streams (stream, kind, id)
		SELECT coalesce(max(stream), 0) + 1, ?, ? FROM event_streams WHERE true
		ON CONFLICT DO NOTHING RETURNING stream`, kind, id[:]).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, `SELECT stream FROM event_streams WHERE id = ? AND kind = ?`, id[:], kind).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("%s %s stream: %w", kind, id, err)
	}
	if tx.streams == nil {
		tx.streams = make(map[streamKey]int64)
	}
	tx.streams[k] = n
	return n, nil
}

// maxCachedStreams bounds the stream cache; past it the cache starts over.
const maxCachedStreams = 1 << 20

// rememberStreams adds the streams of a committed transaction to the cache.
// The caller holds db.mu.
func (db *DB) rememberStreams(m map[streamKey]int64) {
	if len(m) == 0 {
		return
	}
	if db.streams == nil || len(db.streams)+len(m) > maxCachedStreams {
		db.streams = make(map[streamKey]int64, len(m))
	}
	for k, v := range m {
		db.streams[k] = v
	}
}
