package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/store"
)

// TestProbeWrite checks that the write probe succeeds on a healthy
// database without growing it, and fails when the write fails: a trigger
// that refuses it, or a closed database.
func TestProbeWrite(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "amtrack.db"), store.Options{Synchronous: "OFF"})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })

	for range 20 {
		require.NoError(t, db.ProbeWrite(ctx))
	}
	var rows, probes int
	require.NoError(t, db.Reader().QueryRowContext(ctx, `SELECT count(*), sum(probes) FROM write_probe`).Scan(&rows, &probes))
	assert.Equal(t, 1, rows, "the probe table holds one row however often it is probed")
	assert.Equal(t, 20, probes, "every probe wrote")

	// A trigger stands for a disk that refuses the write.
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TRIGGER refuse_probe BEFORE UPDATE ON write_probe
			BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`)
		return err
	}))
	err = db.ProbeWrite(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "disk is full")

	require.NoError(t, db.Close())
	assert.Error(t, db.ProbeWrite(ctx), "a closed database cannot be written")
}
