package store

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
)

// sortedDB is a database of n generated events, with ranged copies in
// chunks of chunk seqs and the copy statements counted into steps.
func sortedDB(t *testing.T, n int, chunk int64) (db *DB, steps *atomic.Int64) {
	t.Helper()
	dbtest.SQLiteOnly(t, "the sorted copy is SQLite's")
	db = logDB(t, n, Options{SortedReads: true})
	steps = new(atomic.Int64)
	oldChunk, oldHook := sortedChunk, sortedStepHook
	sortedChunk, sortedStepHook = chunk, func() { steps.Add(1) }
	t.Cleanup(func() { sortedChunk, sortedStepHook = oldChunk, oldHook })
	return db, steps
}

// logDB opens a database of the test's engine with opts and the first n
// events of the test corpus.
func logDB(t *testing.T, n int, opts Options) *DB {
	t.Helper()
	ctx := context.Background()
	target := dbtest.Target(t)
	opts.Keyring = dbtest.Keyring(t, target)
	db, err := Open(ctx, target, opts)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var batch []Pending
	for _, raw := range testutil.First(t, n, 7) {
		e, err := domain.ParseEvent(raw)
		require.NoError(t, err)
		batch = append(batch, Pending{Event: e, Source: SourceFile})
	}
	_, err = db.Append(ctx, batch, nil)
	require.NoError(t, err)
	return db
}

// TestSortedCopyChunks: a ranged copy runs once per chunk of seqs, the
// streams come out whole across the chunks' edges, and the methods' copy
// counts the log on the way.
func TestSortedCopyChunks(t *testing.T) {
	db, steps := sortedDB(t, 1000, 64)
	var events int
	require.NoError(t, db.Log().MethodStreams(context.Background(), 1000, func(_ int64, evs []*domain.Event) error {
		events += len(evs)
		return nil
	}))
	assert.Equal(t, int64(1+(1000+63)/64), steps.Load(), "CREATE, then one INSERT per chunk")
	want, err := db.Log().q.QueryContext(context.Background(), `SELECT count(*) FROM events WHERE method_stream IS NOT NULL`)
	require.NoError(t, err)
	defer want.Close()
	require.True(t, want.Next())
	var n int
	require.NoError(t, want.Scan(&n))
	assert.Equal(t, n, events)

	// The copy counted every event (not only the methods') as it read them.
	c, ok := db.counted.get(1000, tallyEvents)
	require.True(t, ok)
	assert.Equal(t, int64(1000), c)
	_, _, ok = db.Log().CopiedRows(1000)
	assert.False(t, ok, "the grants' rows are not counted before their copy")
	// Once the grants' copy has run, the copies' rows are StreamRows'.
	require.NoError(t, db.Log().GrantStreams(context.Background(), 1000, func(int64, domain.ID, []*domain.Event) error { return nil }))
	rows, copied, ok := db.Log().CopiedRows(1000)
	require.True(t, ok)
	wantRows, err := db.Log().StreamRows(context.Background(), 1000)
	require.NoError(t, err)
	assert.Equal(t, wantRows, rows)
	assert.Equal(t, int64(1000), copied)
	_, _, ok = db.Log().CopiedRows(999)
	assert.False(t, ok, "another maxSeq's")
	got, err := db.Log().Count(context.Background(), 1000)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), got)
	got, err = db.Log().Count(context.Background(), 500) // not the copy's: counted by the index
	require.NoError(t, err)
	assert.Equal(t, int64(500), got)
}

// TestSortedCopyWaitsCancelable: a copy waiting for another to finish
// reading gives up when its context ends, and then runs no statement (a
// statement begun after the end could not be interrupted, and would copy
// the whole log).
func TestSortedCopyWaitsCancelable(t *testing.T) {
	db, steps := sortedDB(t, 300, 64)
	require.NoError(t, db.copying.lock(context.Background())) // another copy is reading
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- db.Log().GrantStreams(ctx, 300, func(int64, domain.ID, []*domain.Event) error { return nil })
	}()
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	db.copying.unlock()
	assert.Zero(t, steps.Load(), "no copy statement after the cancel")

	// Cancelled between statements: the next one does not begin.
	ctx, cancel = context.WithCancel(context.Background())
	sortedStepHook = func() {
		if steps.Add(1) == 3 {
			cancel()
		}
	}
	err = db.Log().MethodStreams(ctx, 300, func(int64, []*domain.Event) error { return nil })
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, int64(3), steps.Load(), "the statements after the cancel do not run")
}

// TestCopyTallyKeepsSeveral: a copy up to another maxSeq (a verify taking
// its turn between a rebuild's two copies) does not wipe the rebuild's
// tallies; only the oldest of more than tallyKeep go.
func TestCopyTallyKeepsSeveral(t *testing.T) {
	var c copyTally
	c.record(1000, tallyEvents, 10)
	c.record(900, tallyEvents, 9)
	c.record(1000, tallyMethodRows, 20)
	for _, seq := range []int64{1000, 900} {
		_, ok := c.get(seq, tallyEvents)
		assert.True(t, ok, "maxSeq %d", seq)
	}
	n, ok := c.get(1000, tallyMethodRows)
	assert.True(t, ok)
	assert.Equal(t, int64(20), n)
	for seq := int64(1001); seq < 1001+tallyKeep; seq++ {
		c.record(seq, tallyEvents, seq)
	}
	_, ok = c.get(900, tallyEvents)
	assert.False(t, ok, "the oldest went")
	_, ok = c.get(1000+tallyKeep, tallyEvents)
	assert.True(t, ok)
}

// TestSortScanEqualsWalk checks that the sorter's read of the method
// events (sortScan) gives every method's events in the order the index walk
// does, up to a maxSeq short of the head too, and stops when ctx ends.
func TestSortScanEqualsWalk(t *testing.T) {
	db, _ := sortedDB(t, 3000, 1<<18)
	ctx := context.Background()
	type row struct {
		stream int64
		ids    []domain.ID
	}
	read := func(read func(fn func(int64, []*domain.Event) error) error) []row {
		var rows []row
		require.NoError(t, read(func(stream int64, events []*domain.Event) error {
			r := row{stream: stream}
			for _, e := range events {
				r.ids = append(r.ids, e.ID)
			}
			rows = append(rows, r)
			return nil
		}))
		return rows
	}
	rows, err := db.read.QueryContext(ctx, `EXPLAIN QUERY PLAN `+methodsWalk, 0, 10, 3000)
	require.NoError(t, err)
	var plan string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		plan += detail + "; "
	}
	require.NoError(t, rows.Err())
	rows.Close()
	assert.Contains(t, plan, "USING INDEX events_method_stream")
	assert.NotContains(t, plan, "TEMP B-TREE")
	for _, maxSeq := range []int64{3000, 1234} {
		walk := read(func(fn func(int64, []*domain.Event) error) error {
			return streamRows(ctx, db.read, methodsWalk, allFold, []any{maxSeq}, fn)
		})
		sorter := read(func(fn func(int64, []*domain.Event) error) error {
			return db.Log().sortScan(ctx, maxSeq, fn)
		})
		require.NotEmpty(t, walk)
		assert.Equal(t, walk, sorter, "up to seq %d", maxSeq)
	}
	// Canceled after the first method: the read stops there.
	ctx, cancel := context.WithCancel(ctx)
	calls := 0
	err = db.Log().sortScan(ctx, 3000, func(int64, []*domain.Event) error {
		calls++
		cancel()
		return nil
	})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, calls, 10)

	db.walkIndexes = true
	assert.False(t, db.Log().sortScans(), "WalkIndexes walks")
	db.walkIndexes = false
	assert.True(t, db.Log().sortScans())
}

// TestGrantStreamsBetween checks that reads of consecutive stream ranges
// give together what GrantStreams gives (through the sorted copy, on
// SQLite), each grant once, on either engine.
func TestGrantStreamsBetween(t *testing.T) {
	var db *DB
	if dbtest.Postgres() {
		db = logDB(t, 2000, Options{})
	} else {
		db, _ = sortedDB(t, 2000, 1<<18)
	}
	ctx := context.Background()
	type grant struct {
		stream int64
		id     domain.ID
		events int
	}
	collect := func(out *[]grant) func(int64, domain.ID, []*domain.Event) error {
		return func(stream int64, id domain.ID, events []*domain.Event) error {
			*out = append(*out, grant{stream, id, len(events)})
			return nil
		}
	}
	var whole, parts []grant
	require.NoError(t, db.Log().GrantStreams(ctx, 1500, func(stream int64, id domain.ID, events []*domain.Event) error {
		// Each event holds the grant fold's fields as the log has them,
		// and none of those only a method's fold reads.
		for _, e := range events {
			rec, err := db.Log().Event(ctx, e.ID)
			require.NoError(t, err)
			full := rec.Event
			assert.Equal(t, []any{full.Type, full.OccurredAt, full.CreatedAt, full.AccessGrantID, full.AccessGrantIDs, full.AccessGrantKeys,
				full.AccessGrantKey, full.StartsAt, full.EndsAt},
				[]any{e.Type, e.OccurredAt, e.CreatedAt, e.AccessGrantID, e.AccessGrantIDs, e.AccessGrantKeys, e.AccessGrantKey, e.StartsAt, e.EndsAt})
			assert.Equal(t, []any{domain.ID{}, domain.ID{}, false, (*bool)(nil)}, []any{e.WorkspaceID, e.AccessMethodID, e.CodeSealed, e.IsBackupCode})
		}
		return collect(&whole)(stream, id, events)
	}))
	require.NotEmpty(t, whole)
	last, err := db.Log().LastStream(ctx)
	require.NoError(t, err)
	require.Greater(t, last, whole[len(whole)-1].stream-1)
	for _, r := range [][2]int64{{0, last / 3}, {last / 3, last / 2}, {last / 2, last}, {last, last + 100}} {
		require.NoError(t, db.Log().GrantStreamsBetween(ctx, 1500, r[0], r[1], collect(&parts)))
	}
	assert.Equal(t, whole, parts)
}
