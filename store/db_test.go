package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/store"
)

// TestOpenSetsPragmas checks the settings every connection relies on: WAL,
// durable commits and foreign keys on the writer, and statement journals in
// memory on both pools (with temp_store=FILE a 1M-event ingest wrote 9 GB of
// temporary files).
func TestOpenSetsPragmas(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	writer := map[string]string{}
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		for _, p := range []string{"journal_mode", "synchronous", "foreign_keys", "temp_store", "busy_timeout", "wal_autocheckpoint", "journal_size_limit"} {
			var v string
			if err := tx.QueryRowContext(ctx, "PRAGMA "+p).Scan(&v); err != nil {
				return err
			}
			writer[p] = v
		}
		return nil
	}))
	assert.Equal(t, map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1",
		"temp_store": "2", "busy_timeout": "10000", "wal_autocheckpoint": "16384", "journal_size_limit": "134217728"}, writer)

	var mode, temp string
	require.NoError(t, db.Reader().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
	require.NoError(t, db.Reader().QueryRowContext(ctx, "PRAGMA temp_store").Scan(&temp))
	assert.Equal(t, "wal", mode)
	assert.Equal(t, "2", temp)
}

// TestOpenCheckpointPages checks that a bulk load's bigger checkpoint
// interval reaches the writer.
func TestOpenCheckpointPages(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "a.db"), store.Options{CheckpointPages: 65536})
	require.NoError(t, err)
	defer db.Close()
	var pages int
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		return tx.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&pages)
	}))
	assert.Equal(t, 65536, pages)
}
