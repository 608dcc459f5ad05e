package projection_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/projection/projectiontest"
	"github.com/amtrack/amtrack/store"
)

// openHandle opens its own store.DB and projection on target, as another
// process would.
func openHandle(tb testing.TB, target string) *projection.Projection {
	tb.Helper()
	db, err := store.Open(context.Background(), target, store.Options{Synchronous: "OFF", CacheMiB: 8, Keyring: dbtest.Keyring(tb, target)})
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	p, err := projection.Open(context.Background(), db)
	require.NoError(tb, err)
	return p
}

// TestConcurrentRebuilds starts two rebuilds together on two handles of one
// database, many times: each ends without error or with ErrRebuildRunning, at
// least one of them rebuilds, and the projection verifies afterwards.
func TestConcurrentRebuilds(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	a, b := openHandle(t, target), openHandle(t, target)
	ingest(t, a, testutil.Events(t, 60, 3), rand.New(rand.NewPCG(1, 2)), 50)
	for i := range 20 {
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for j, p := range []*projection.Projection{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[j] = p.Rebuild(ctx, nil)
			}()
		}
		wg.Wait()
		rebuilt := 0
		for j, err := range errs {
			if err == nil {
				rebuilt++
				continue
			}
			assert.ErrorIs(t, err, projection.ErrRebuildRunning, "iteration %d, rebuild %d", i, j)
			assert.Contains(t, err.Error(), "a rebuild is already running (generation ")
		}
		assert.Positive(t, rebuilt, "iteration %d: neither rebuild ran", i)
		verify(t, a)
		verify(t, b)
	}
}

// TestConcurrentOpensRebuildOnce starts two opens of a database whose read
// model is stale, as two processes started together after an upgrade: both
// open without error (one waits for the other's rebuild).
func TestConcurrentOpensRebuildOnce(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	p := openHandle(t, target)
	ingest(t, p, testutil.Events(t, 60, 4), rand.New(rand.NewPCG(1, 3)), 50)
	for i := range 10 {
		require.NoError(t, p.DB().Update(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE projection_meta SET value = 0 WHERE key = 'schema_version'`)
			return err
		}))
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for j := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := store.Open(ctx, target, store.Options{Synchronous: "OFF", CacheMiB: 8, Keyring: dbtest.Keyring(t, target)})
				if err != nil {
					errs[j] = err
					return
				}
				defer db.Close()
				_, errs[j] = projection.Open(ctx, db)
			}()
		}
		wg.Wait()
		for j, err := range errs {
			assert.NoError(t, err, "iteration %d, open %d", i, j)
		}
		verify(t, p)
	}
}

// TestCrashedRebuildDoesNotBlock leaves a claim and half-built tables
// behind, as a rebuild whose process died would: while its heartbeat is
// recent a rebuild is refused, once it is stale the next rebuild takes over
// and removes the leftovers.
func TestCrashedRebuildDoesNotBlock(t *testing.T) {
	ctx := context.Background()
	p := MustOpen(t)
	ingest(t, p, testutil.Events(t, 20, 5), rand.New(rand.NewPCG(2, 2)), 20)
	crash := func(heartbeat time.Time) {
		t.Helper()
		db := p.DB()
		require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
			for _, q := range []string{
				db.DDL(`CREATE TABLE IF NOT EXISTS access_methods_g41 (stream INTEGER PRIMARY KEY)`),
				db.DDL(`CREATE TABLE IF NOT EXISTS access_grants_g41 (stream INTEGER PRIMARY KEY)`),
				`INSERT INTO projection_meta (key, value) VALUES ('rebuild_generation', 41), ('rebuild_owner', 12345),
					('rebuild_started', ` + fmt.Sprint(heartbeat.Add(-time.Hour).UnixNano()) + `),
					('rebuild_heartbeat', ` + fmt.Sprint(heartbeat.UnixNano()) + `)
					ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	tableCount := func() int {
		t.Helper()
		q := dbtest.ByEngine(p.DB().Path(), `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name GLOB '*_g[0-9]*'`,
			`SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name ~ '_g[0-9]'`)
		var n int
		require.NoError(t, p.DB().Reader().QueryRowContext(ctx, q).Scan(&n))
		return n
	}

	crash(time.Now())
	_, err := p.Rebuild(ctx, nil)
	require.ErrorIs(t, err, projection.ErrRebuildRunning)
	assert.Contains(t, err.Error(), "a rebuild is already running (generation 41 since ")
	require.Equal(t, 2, tableCount(), "the crashed rebuild's tables, which the refused rebuild leaves")

	crash(time.Now().Add(-projection.RebuildStaleAfter - time.Second))
	_, err = p.Rebuild(ctx, nil)
	require.NoError(t, err)
	assert.Zero(t, tableCount(), "the crashed rebuild's tables are left behind")
	verify(t, p)
	// The next rebuild does not reuse the crashed one's generation.
	_, err = p.Rebuild(ctx, nil)
	require.NoError(t, err)
	verify(t, p)
}

// TestCanceledRebuildReleasesItsClaim checks that a rebuild stopped by its
// context drops its tables and claim, so the next one runs at once.
func TestCanceledRebuildReleasesItsClaim(t *testing.T) {
	p := MustOpen(t)
	ingest(t, p, testutil.Events(t, 200, 6), rand.New(rand.NewPCG(2, 3)), 100)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := p.Rebuild(ctx, func(done, total int64) {
		if calls++; calls == 1 {
			cancel()
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	_, err = p.Rebuild(context.Background(), nil)
	require.NoError(t, err)
	verify(t, p)
}

// TestRebuildSwapsWithTheCacheCut: a rebuild's swap drops the old tables
// with the writer's page cache cut (SQLite), and the writer has its own
// cache back after it.
func TestRebuildSwapsWithTheCacheCut(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	db, err := store.Open(ctx, target, store.Options{Synchronous: "OFF", CacheMiB: 32, Keyring: dbtest.Keyring(t, target)})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	if db.Engine() == store.Postgres {
		t.Skip("SQLite's page cache")
	}
	p, err := projection.Open(ctx, db)
	require.NoError(t, err)
	projectiontest.Append(t, p, testutil.Events(t, 20, 3), func() int { return 7 })
	pragma := func(tx *store.Tx, name string) int {
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, `PRAGMA `+name).Scan(&n))
		return n
	}
	swaps := 0
	projection.OnSwap(t, func(ctx context.Context, tx *store.Tx) {
		swaps++
		assert.Equal(t, -8*1024, pragma(tx, "cache_size"), "the swap's page cache as it drops, in KiB")
	})
	_, err = p.Rebuild(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, swaps)
	require.NoError(t, p.DB().Update(ctx, func(tx *store.Tx) error {
		assert.Equal(t, -32*1024, pragma(tx, "cache_size"), "the writer's own cache, after the swap")
		return nil
	}))
}

// TestRebuildIndexesItsTables: a rebuild writes its rows into tables
// without their secondary indexes and builds those before the swap, so the
// live tables have them all, on either engine, after a first rebuild and
// after a second one; and it reports how long its writes held the writer.
func TestRebuildIndexesItsTables(t *testing.T) {
	ctx := context.Background()
	p := projectiontest.MustOpen(t)
	projectiontest.Append(t, p, testutil.Events(t, 40, 3), func() int { return 9 })
	q := dbtest.ByEngine(p.DB().Path(),
		`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL
			AND tbl_name IN ('access_methods', 'access_method_grants', 'access_method_keys', 'access_grants')`,
		`SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname NOT LIKE '%pkey'
			AND tablename IN ('access_methods', 'access_method_grants', 'access_method_keys', 'access_grants')`)
	for range 2 {
		stats, err := p.Rebuild(ctx, nil)
		require.NoError(t, err)
		assert.Positive(t, stats.Hold, "the writes before the swap held the writer")
		var n int
		require.NoError(t, p.DB().Reader().QueryRowContext(ctx, q).Scan(&n))
		assert.Equal(t, 4, n, "access_methods and access_grants by id, the grant and key links by method")
		_, diffs, err := p.Verify(ctx, 10)
		require.NoError(t, err)
		assert.Empty(t, diffs)
	}
}
