package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
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

// TestOpenRefusesForeignFiles checks that Open, which writes, refuses a
// file that is not an amtrack database before changing anything in it, and
// that MustExist refuses a missing path without creating it.
func TestOpenRefusesForeignFiles(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
		msg   string
	}{
		{"text file", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte("name,value\na,1\n"), 0o644))
		}, "is not an SQLite database"},
		{"another application's database", func(t *testing.T, path string) {
			conn, err := sql.Open("sqlite3", path)
			require.NoError(t, err)
			defer conn.Close()
			_, err = conn.ExecContext(ctx, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`)
			require.NoError(t, err)
		}, "another application (tables notes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.db")
			tt.setup(t, path)
			before, err := os.ReadFile(path)
			require.NoError(t, err)
			_, err = store.Open(ctx, path, store.Options{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.msg)
			assert.Equal(t, domain.EInvalid, domain.ErrorCode(err))
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, before, after)
			assert.NoFileExists(t, path+"-wal")
		})
	}

	t.Run("must exist", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a.db")
		_, err := store.Open(ctx, path, store.Options{MustExist: true})
		require.Error(t, err)
		assert.Equal(t, domain.ENotFound, domain.ErrorCode(err))
		assert.Contains(t, err.Error(), "no database at "+path)
		assert.NoFileExists(t, path)
	})
}

// TestOpenReadOnly checks that a read-only DB reads the log, refuses
// writes, and leaves the database file as it was.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	db, err := store.Open(ctx, path, store.Options{})
	require.NoError(t, err)
	_, err = db.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(1, "created", ""))), nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	ro, err := store.OpenReadOnly(ctx, path)
	require.NoError(t, err)
	seq, n, err := ro.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, [2]int64{1, 1}, [2]int64{seq, n})
	_, err = ro.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(2, "created", ""))), nil)
	assert.ErrorContains(t, err, "read only")
	_, err = ro.Reader().ExecContext(ctx, `CREATE TABLE x (a)`)
	assert.Error(t, err, "the reader must not write")
	require.NoError(t, ro.Close())

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}
