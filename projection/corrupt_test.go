package projection_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// hangTimeout only detects a hang: every operation on a damaged file ends
// far sooner.
const hangTimeout = 60 * time.Second

// cleanDB returns a closed database of a few thousand events on the engine
// under test: an SQLite file checkpointed into the main file (no -wal
// left), or a PostgreSQL schema.
func cleanDB(tb testing.TB, methods int) string {
	tb.Helper()
	ctx := context.Background()
	target := dbtest.Target(tb)
	db, err := store.Open(ctx, target, store.Options{Synchronous: "OFF", CacheMiB: 8, Keyring: dbtest.Keyring(tb, target)})
	require.NoError(tb, err)
	p, err := projection.Open(ctx, db)
	require.NoError(tb, err)
	ingest(tb, p, testutil.Events(tb, methods, 17), rand.New(rand.NewPCG(17, 1)), 500)
	require.NoError(tb, db.Close())
	if !dbtest.IsPostgres(target) {
		_, err = os.Stat(target + "-wal")
		require.ErrorIs(tb, err, os.ErrNotExist, "closing the last connection checkpoints and removes the WAL")
	}
	return target
}

// corrupt writes a copy of src with seed's damage: a few pages overwritten
// with random bytes, or a few random bytes changed.
func corrupt(tb testing.TB, src string, seed uint64) string {
	tb.Helper()
	b, err := os.ReadFile(src)
	require.NoError(tb, err)
	rng := rand.New(rand.NewPCG(seed, 99))
	const page = 4096
	pages := len(b) / page
	switch seed % 3 {
	case 0: // whole pages
		for range 1 + rng.IntN(3) {
			p := 1 + rng.IntN(pages-1)
			for i := p * page; i < (p+1)*page; i++ {
				b[i] = byte(rng.Uint32())
			}
		}
	case 1: // scattered bytes
		for range 1 + rng.IntN(50) {
			b[page+rng.IntN(len(b)-page)] = byte(rng.Uint32())
		}
	default: // a page's header: cell counts, pointers, the right child
		p := 1 + rng.IntN(pages-1)
		for i := range 12 {
			b[p*page+i] = byte(rng.Uint32())
		}
	}
	dst := filepath.Join(tb.TempDir(), fmt.Sprintf("corrupt-%d.db", seed))
	require.NoError(tb, os.WriteFile(dst, b, 0o644))
	return dst
}

// within runs fn and fails the test if it has not returned after
// hangTimeout, printing every goroutine.
func within(tb testing.TB, what string, fn func() error) error {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangTimeout):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		tb.Fatalf("%s hung on a damaged database:\n%s", what, buf)
		return nil
	}
}

// TestDamagedDatabaseEnds runs verify, the queries and a rebuild on many
// randomly damaged copies of one database: each must end (with an error or
// not), and an error must say what was being read.
func TestDamagedDatabaseEnds(t *testing.T) {
	dbtest.SQLiteOnly(t, "random bytes written over an SQLite file's pages")
	seeds := 36
	if testing.Short() {
		seeds = 9
	}
	clean := cleanDB(t, 400)
	ctx := context.Background()
	failed := 0
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			path := corrupt(t, clean, seed)
			err := within(t, "verify", func() error {
				db, err := store.OpenReadOnly(ctx, path)
				if err != nil {
					return err
				}
				defer db.Close()
				p, err := projection.OpenReadOnly(ctx, db)
				if err != nil {
					return err
				}
				if _, err := p.ListAccessMethods(ctx, projection.MethodFilter{Limit: 1000}); err != nil {
					return err
				}
				_, diffs, err := p.Verify(ctx, 5)
				if err == nil && len(diffs) > 0 {
					err = fmt.Errorf("%d differences", len(diffs))
				}
				return err
			})
			if err != nil {
				failed++
				t.Logf("verify: %v", err)
			}
			err = within(t, "rebuild", func() error {
				db, err := store.Open(ctx, path, store.Options{Synchronous: "OFF"})
				if err != nil {
					return err
				}
				defer db.Close()
				p, err := projection.Open(ctx, db)
				if err != nil {
					return err
				}
				_, err = p.Rebuild(ctx, nil)
				return err
			})
			if err != nil {
				t.Logf("rebuild: %v", err)
			}
		})
	}
	t.Logf("%d of %d damaged copies failed verify", failed, seeds)
}

// TestVerifyCanceled cancels a verify of a large-ish database part way:
// it returns context.Canceled instead of running to the end.
func TestVerifyCanceled(t *testing.T) {
	target := cleanDB(t, 3000)
	db, err := store.OpenReadOnly(context.Background(), target)
	require.NoError(t, err)
	defer db.Close()
	p, err := projection.OpenReadOnly(context.Background(), db)
	require.NoError(t, err)
	// Cancel ever later until a verify runs to its end: every one stopped
	// before must say context.Canceled, and at least one is stopped part way.
	stopped := 0
	for after := time.Duration(0); ; after = max(time.Millisecond, 2*after) {
		ctx, cancel := context.WithCancel(context.Background())
		timer := time.AfterFunc(after, cancel)
		err := within(t, "verify", func() error {
			_, _, err := p.Verify(ctx, 5)
			return err
		})
		timer.Stop()
		cancel()
		if err == nil {
			break
		}
		require.ErrorIs(t, err, context.Canceled, "verify canceled after %s", after)
		if after > 0 {
			stopped++
		}
	}
	require.Positive(t, stopped, "no verify was stopped part way")
}
