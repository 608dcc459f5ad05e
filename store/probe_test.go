package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/store"
)

// TestProbeWrite checks that the write probe succeeds on a healthy
// database without growing it, and fails when the write fails: a trigger
// that refuses it, or a closed database.
func TestProbeWrite(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	db, err := store.Open(ctx, target, store.Options{Synchronous: "OFF", Keyring: dbtest.Keyring(t, target)})
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
	refuse := dbtest.ByEngine(target, `CREATE TRIGGER refuse_probe BEFORE UPDATE ON write_probe
			BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`,
		`CREATE FUNCTION refuse_probe() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'database or disk is full'; END $$;
		CREATE TRIGGER refuse_probe BEFORE UPDATE ON write_probe FOR EACH ROW EXECUTE FUNCTION refuse_probe()`)
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, refuse)
		return err
	}))
	err = db.ProbeWrite(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "disk is full")

	require.NoError(t, db.Close())
	assert.Error(t, db.ProbeWrite(ctx), "a closed database cannot be written")
}
