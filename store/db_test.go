package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/store"
)

// writerPragmas reads pragmas on the writer connection.
func writerPragmas(t *testing.T, db *store.DB, names ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	got := map[string]string{}
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		for _, p := range names {
			var v string
			if err := tx.QueryRowContext(ctx, "PRAGMA "+p).Scan(&v); err != nil {
				return err
			}
			got[p] = v
		}
		return nil
	}))
	return got
}

// TestOpenSetsPragmas checks the settings every connection relies on: WAL,
// durable commits and foreign keys on the writer, and statement journals in
// memory on both pools (with temp_store=FILE a 1M-event ingest wrote 9 GB of
// temporary files).
func TestOpenSetsPragmas(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	assert.Equal(t, map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1",
		"temp_store": "2", "busy_timeout": "10000", "wal_autocheckpoint": "16384", "journal_size_limit": "134217728"},
		writerPragmas(t, db, "journal_mode", "synchronous", "foreign_keys", "temp_store", "busy_timeout",
			"wal_autocheckpoint", "journal_size_limit"))

	var mode, temp string
	require.NoError(t, db.Reader().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
	require.NoError(t, db.Reader().QueryRowContext(ctx, "PRAGMA temp_store").Scan(&temp))
	assert.Equal(t, "wal", mode)
	assert.Equal(t, "2", temp)
}

// TestOpenCheckpointPages checks that a bulk load's bigger checkpoint
// interval reaches the writer.
func TestOpenCheckpointPages(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"), store.Options{CheckpointPages: 65536})
	require.NoError(t, err)
	defer db.Close()
	assert.Equal(t, map[string]string{"wal_autocheckpoint": "65536"}, writerPragmas(t, db, "wal_autocheckpoint"))
}
