package store_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// TestBackupWhileAppending takes a backup while a goroutine keeps appending
// through the writer: the copy is a consistent amtrack database holding
// every event committed before the backup started, and an existing
// destination is refused.
func TestBackupWhileAppending(t *testing.T) {
	dbtest.SQLiteOnly(t, "Backup copies an SQLite file (VACUUM INTO); TestBackupRefusesPostgres is PostgreSQL's")
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	db, err := store.Open(ctx, path, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	events := testutil.Events(t, 400, 2)
	first := len(events) / 4
	for i := 0; i < first; i += 100 {
		batch := make([]store.Pending, 0, 100)
		for _, e := range events[i:min(i+100, first)] {
			batch = append(batch, store.Pending{Event: e, Source: store.SourceWebhook})
		}
		_, err := db.Append(ctx, batch, nil)
		require.NoError(t, err)
	}

	w := store.NewWriter(db, nil, 0)
	var wg sync.WaitGroup
	wg.Add(1)
	stop := make(chan struct{})
	go func() {
		defer wg.Done()
		for _, e := range events[first:] {
			select {
			case <-stop:
				return
			default:
			}
			_, err := w.Append(ctx, []store.Pending{{Event: e, Source: store.SourceWebhook}})
			if !assert.NoError(t, err) {
				return
			}
		}
	}()
	dest := filepath.Join(dir, "backup.db")
	stats, err := store.Backup(ctx, path, dest)
	close(stop)
	wg.Wait()
	w.Close()
	require.NoError(t, err)

	// The copy is a whole amtrack database, with what it says it has.
	copyDB, err := store.OpenReadOnly(ctx, dest)
	require.NoError(t, err)
	defer copyDB.Close()
	var check string
	require.NoError(t, copyDB.Reader().QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check))
	assert.Equal(t, "ok", check)
	rows, err := copyDB.Reader().QueryContext(ctx, `PRAGMA foreign_key_check`)
	require.NoError(t, err)
	assert.False(t, rows.Next(), "the copy has dangling references")
	require.NoError(t, rows.Close())
	seq, n, err := copyDB.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, stats.Events, n)
	assert.Equal(t, seq, n, "the copy's seqs have no gap")
	assert.GreaterOrEqual(t, n, int64(first))
	for _, e := range events[:first] {
		_, err := copyDB.Event(ctx, e.ID)
		require.NoError(t, err, "event %s committed before the backup", e.ID)
	}
	fi, err := os.Stat(dest)
	require.NoError(t, err)
	assert.Equal(t, fi.Size(), stats.Bytes)

	// Nothing is left beside dest but dest (and what reading it made): the
	// key file stays beside the source.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.Regexp(t, `^(a\.db|backup\.db)(-wal|-shm)?$|^a\.db\.key$`, e.Name())
	}

	t.Run("existing destination", func(t *testing.T) {
		before, err := os.ReadFile(dest)
		require.NoError(t, err)
		_, err = store.Backup(ctx, path, dest)
		require.Error(t, err)
		assert.Equal(t, domain.EConflict, domain.ErrorCode(err))
		assert.Contains(t, err.Error(), dest+" already exists")
		after, err := os.ReadFile(dest)
		require.NoError(t, err)
		assert.Equal(t, before, after)
	})
	t.Run("not an amtrack database", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "notes.txt")
		require.NoError(t, os.WriteFile(other, []byte("hello\n"), 0o644))
		out := filepath.Join(t.TempDir(), "b.db")
		_, err := store.Backup(ctx, other, out)
		assert.ErrorContains(t, err, "not an SQLite database")
		assert.NoFileExists(t, out)
	})
}

// TestBackupRefusesPostgres: Backup copies an SQLite file; given a
// PostgreSQL URL it says to use the server's own tools, without printing
// the URL's password, and writes nothing.
func TestBackupRefusesPostgres(t *testing.T) {
	u, err := url.Parse(dbtest.NewSchema(t, dbtest.PostgresURL(t)))
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), "s3cret")
	out := filepath.Join(t.TempDir(), "b.db")
	_, err = store.Backup(context.Background(), u.String(), out)
	require.Error(t, err)
	assert.Equal(t, domain.EInvalid, domain.ErrorCode(err))
	assert.Contains(t, err.Error(), "pg_dump")
	assert.NotContains(t, err.Error(), "s3cret")
	assert.NoFileExists(t, out)
}
