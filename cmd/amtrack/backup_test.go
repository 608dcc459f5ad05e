package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

var backedUpLine = regexp.MustCompile(`^backed up (\d+) events to (.+) \((\d+) bytes\)\n$`)

// TestBackupWhileServing takes a backup while webhooks are being written,
// as serve writes them (the group-commit writer, folding in the same
// transaction, the events still in the WAL): the copy verifies, holds what
// was committed before the backup started, and an existing destination is
// refused.
func TestBackupWhileServing(t *testing.T) {
	dbtest.SQLiteOnly(t, "backs up a database file with VACUUM INTO, its events in the WAL; PostgreSQL's backup is refused (TestBackupPostgresRefused)")
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	a, err := openApp(ctx, path)
	require.NoError(t, err)
	defer a.Close()
	events := testutil.Events(t, 300, 9)
	first := len(events) / 3
	for i := 0; i < first; i += 50 {
		batch := []store.Pending{}
		for _, e := range events[i:min(i+50, first)] {
			batch = append(batch, store.Pending{Event: e, Source: store.SourceWebhook})
		}
		_, err := a.proj.Append(ctx, batch)
		require.NoError(t, err)
	}
	_, err = os.Stat(path + "-wal")
	require.NoError(t, err, "the events committed so far sit in the WAL")

	w := store.NewWriter(a.db, a.proj.Apply, 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, e := range events[first:] {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := w.Append(ctx, []store.Pending{{Event: e, Source: store.SourceWebhook}}); !assert.NoError(t, err) {
				return
			}
		}
	}()
	dest := filepath.Join(dir, "copy.db")
	got := runCLI(t, "", "backup", "--db", path, dest)
	close(stop)
	wg.Wait()
	w.Close()
	require.Equal(t, 0, got.code, got.stderr)
	m := backedUpLine.FindStringSubmatch(got.stdout)
	require.NotNil(t, m, "backup printed %q", got.stdout)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, first)
	assert.Equal(t, dest, m[2])
	fi, err := os.Stat(dest)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(fi.Size()), m[3])
	assert.Contains(t, got.stderr, "the copy holds no key: keep "+path+".key", "says the key is not in the copy")
	assert.NoFileExists(t, dest+".key", "the key is not copied")

	got = runCLI(t, "", "verify", "--db", dest)
	assert.Equal(t, 0, got.code, got.stdout+got.stderr)
	assert.Regexp(t, fmt.Sprintf(`^projection matches the log \(%d events, \d+ access methods\)\nlog head \d+:[0-9a-f]{64}\n$`, n), got.stdout)

	t.Run("existing destination", func(t *testing.T) {
		sum := fileSum(t, dest)
		got := runCLI(t, "", "backup", "--db", path, dest)
		assert.Equal(t, 1, got.code)
		assert.Empty(t, got.stdout)
		assert.Equal(t, "amtrack: "+dest+" already exists: give a new file name, or remove it first\n", got.stderr)
		assert.Equal(t, sum, fileSum(t, dest))
	})
	t.Run("missing database", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing.db")
		out := filepath.Join(t.TempDir(), "out.db")
		got := runCLI(t, "", "backup", "--db", missing, out)
		assert.Equal(t, 1, got.code)
		assert.Contains(t, got.stderr, "no database at "+missing)
		assert.NoFileExists(t, missing)
		assert.NoFileExists(t, out)
	})
	for _, args := range [][]string{{"backup", "--db", path}, {"backup", "--db", path, "x.db", "y.db"}} {
		t.Run(fmt.Sprint(len(args))+" arguments", func(t *testing.T) {
			got := runCLI(t, "", args...)
			assert.Equal(t, 2, got.code)
			assert.Contains(t, got.stderr, "DEST")
		})
	}
}
