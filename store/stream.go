package store

import (
	"context"
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
	if n, ok := tx.cachedStream(k); ok {
		return n, nil
	}
	if err := tx.ensureStreams(ctx, []streamKey{k}); err != nil {
		return 0, err
	}
	return tx.streams[k], nil
}

// cachedStream returns the number of stream k when this transaction or the
// cache of committed ones knows it.
func (tx *Tx) cachedStream(k streamKey) (int64, bool) {
	if n, ok := tx.db.streams[k]; ok {
		return n, true
	}
	n, ok := tx.streams[k]
	return n, ok
}

// streamBatch is the most streams ensureStreams looks up or inserts in
// one statement.
const streamBatch = 200

// ensureStreams makes sure every stream of keys exists and is known to tx:
// those not cached are looked up in one query, and those missing are
// created, numbered in the order of keys, in one INSERT. The number of a
// new stream is the next after the highest (what SQLite's rowid gives),
// assigned under the writer lock on either engine, so that the same log
// numbers its streams the same everywhere.
func (tx *Tx) ensureStreams(ctx context.Context, keys []streamKey) error {
	var missing []streamKey
	seen := map[streamKey]bool{}
	for _, k := range keys {
		if _, ok := tx.cachedStream(k); !ok && !seen[k] {
			seen[k] = true
			missing = append(missing, k)
		}
	}
	for start := 0; start < len(missing); start += streamBatch {
		if err := tx.createStreams(ctx, missing[start:min(start+streamBatch, len(missing))]); err != nil {
			return err
		}
	}
	return nil
}

// createStreams looks up keys (none of them known to tx) and creates those
// that do not exist.
func (tx *Tx) createStreams(ctx context.Context, keys []streamKey) error {
	if tx.streams == nil {
		tx.streams = make(map[streamKey]int64)
	}
	args := make([]any, 0, 3*len(keys))
	for _, k := range keys {
		args = append(args, k.id[:])
	}
	rows, err := tx.QueryContext(ctx, `SELECT stream, kind, id FROM event_streams WHERE id IN (`+Placeholders(1, len(keys))+`)`, args...)
	if err != nil {
		return fmt.Errorf("read streams: %w", err)
	}
	found := map[streamKey]int64{}
	for rows.Next() {
		var n int64
		var kind string
		var b []byte
		if err := rows.Scan(&n, &kind, &b); err != nil {
			rows.Close()
			return fmt.Errorf("read streams: %w", err)
		}
		if id, ok := domain.IDFromBytes(b); ok {
			found[streamKey{kind, id}] = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read streams: %w", err)
	}
	args = args[:0]
	for _, k := range keys {
		if n, ok := found[k]; ok {
			tx.streams[k] = n
			continue
		}
		if tx.nextStream == 0 {
			var last int64
			if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(stream), 0) FROM event_streams`).Scan(&last); err != nil {
				return fmt.Errorf("read streams: %w", err)
			}
			tx.nextStream = last + 1
		}
		tx.streams[k] = tx.nextStream
		args = append(args, tx.nextStream, k.kind, k.id[:])
		tx.nextStream++
	}
	if len(args) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_streams (stream, kind, id) VALUES `+Placeholders(3, len(args)/3), args...); err != nil {
		return fmt.Errorf("create streams: %w", err)
	}
	return nil
}

// maxCachedStreams bounds the stream cache; past it the cache starts over.
const maxCachedStreams = 1 << 17

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
