package projection_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/projection/projectiontest"
	"github.com/amtrack/amtrack/store"
)

// MustOpen opens a projection over a fresh database on the engine under test.
func MustOpen(tb testing.TB) *projection.Projection { return projectiontest.MustOpen(tb) }

// ingest appends events in batches of random sizes (1 to maxBatch).
func ingest(tb testing.TB, p *projection.Projection, events []*domain.Event, rng *rand.Rand, maxBatch int) {
	tb.Helper()
	projectiontest.Append(tb, p, events, func() int { return 1 + rng.IntN(maxBatch) })
}

func dump(tb testing.TB, p *projection.Projection) string {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, p.Dump(context.Background(), &buf))
	return buf.String()
}

func verify(tb testing.TB, p *projection.Projection) projection.Stats {
	tb.Helper()
	stats, diffs, err := p.Verify(context.Background(), 10)
	require.NoError(tb, err)
	require.Empty(tb, diffs)
	return stats
}

// shuffledWithDuplicates returns events in a random order with random
// duplicates (a re-delivered event is the same bytes).
func shuffledWithDuplicates(events []*domain.Event, rng *rand.Rand) []*domain.Event {
	out := append([]*domain.Event(nil), events...)
	for _, e := range events {
		if rng.IntN(5) == 0 {
			out = append(out, e)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// TestArrivalOrderDoesNotMatter is the property amtrack exists for: any
// permutation of the arrival order, with any duplicates, folded in any batch
// sizes, gives a byte-identical read model, equal to a rebuild, and verify
// passes.
func TestArrivalOrderDoesNotMatter(t *testing.T) {
	streams := 300
	if testing.Short() {
		streams = 30
	}
	for seed := uint64(1); seed <= uint64(streams); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 7))
			events := testutil.Events(t, 1+rng.IntN(12), seed)

			want := MustOpen(t)
			ingest(t, want, events, rng, len(events))
			wantDump := dump(t, want)
			require.NotEmpty(t, wantDump)
			verify(t, want)

			got := MustOpen(t)
			ingest(t, got, shuffledWithDuplicates(events, rng), rng, 1+rng.IntN(20))
			require.Equal(t, wantDump, dump(t, got), "shuffled with duplicates")
			stats := verify(t, got)
			assert.Equal(t, int64(len(events)), stats.Events)

			_, err := got.Rebuild(context.Background(), nil)
			require.NoError(t, err)
			require.Equal(t, wantDump, dump(t, got), "rebuild equals incremental")
			verify(t, got)
		})
	}
}

// TestAsOfEqualsFoldOfPrefix checks show --as-of T against folding by hand
// the method's events that occurred at or before T.
func TestAsOfEqualsFoldOfPrefix(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		events := testutil.Events(t, 10, seed)
		p := MustOpen(t)
		ingest(t, p, shuffledWithDuplicates(events, rng), rng, 10)

		byMethod := map[domain.ID][]*domain.Event{}
		for _, e := range events {
			if e.IsMethodEvent() {
				byMethod[e.AccessMethodID] = append(byMethod[e.AccessMethodID], e)
			}
		}
		for id, evs := range byMethod {
			sort.Slice(evs, func(i, j int) bool { return evs[i].Key().Compare(evs[j].Key()) < 0 })
			cut := evs[rng.IntN(len(evs))].OccurredAt
			var prefix []*domain.Event
			for _, e := range evs {
				if e.OccurredAt <= cut {
					prefix = append(prefix, e)
				}
			}
			got, err := p.AccessMethodAsOf(ctx, id, cut)
			require.NoError(t, err)
			got, err = p.Reveal(ctx, got) // the code is sealed in the log
			require.NoError(t, err)
			assert.Equal(t, mustJSON(t, domain.FoldAccessMethod(prefix)), mustJSON(t, got), "method %s as of %s", id, domain.FormatNanos(cut))

			_, err = p.AccessMethodAsOf(ctx, id, evs[0].OccurredAt-1)
			assert.Equal(t, domain.ENotFound, domain.ErrorCode(err), "before its first event")

			current, err := p.AccessMethod(ctx, id)
			require.NoError(t, err)
			current, err = p.Reveal(ctx, current)
			require.NoError(t, err)
			assert.Equal(t, mustJSON(t, domain.FoldAccessMethod(evs)), mustJSON(t, current))
		}
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	require.NoError(tb, err)
	return string(b)
}

// TestRebuildBatchBoundaries rebuilds logs of zero events and of sizes
// around the rebuild's write chunk (LESSONS 7: rebuilds that hang at a batch
// boundary or with zero events).
func TestRebuildBatchBoundaries(t *testing.T) {
	ctx := context.Background()
	for _, methods := range []int{0, 1, 4999, 5000, 5001} { // rebuild writes 5000 methods (and grants) per chunk
		t.Run(fmt.Sprint(methods), func(t *testing.T) {
			if testing.Short() && methods > 1 {
				t.Skip("large")
			}
			p := MustOpen(t)
			var events []*domain.Event
			for i := 0; i < methods; i++ {
				grant := fmt.Sprintf("b0000000-0000-4000-8000-%012d", i) // one grant per method: rebuild writes grants in chunks too
				events = append(events, testutil.Parse(t, testutil.Payload{N: i, Type: "issued", Grant: grant}.JSON()))
			}
			ingest(t, p, events, rand.New(rand.NewPCG(1, 2)), 500)
			before := dump(t, p)
			stats, err := p.Rebuild(ctx, nil)
			require.NoError(t, err)
			assert.Equal(t, int64(methods), stats.Methods)
			assert.Equal(t, int64(methods), stats.Events)
			assert.Equal(t, before, dump(t, p))
			verify(t, p)
		})
	}
}

// TestRebuildWhileAppendingAndReading rebuilds while one goroutine appends
// and another reads: nothing appended is lost, readers always get an
// answer, and the result verifies.
func TestRebuildWhileAppendingAndReading(t *testing.T) {
	ctx := context.Background()
	events := testutil.Events(t, 400, 99)
	half := len(events) / 2
	p := MustOpen(t)
	rng := rand.New(rand.NewPCG(3, 4))
	ingest(t, p, events[:half], rng, 200)
	probe := events[0].AccessMethodID
	for _, e := range events {
		if e.IsMethodEvent() && domain.Folds(e.Type) {
			probe = e.AccessMethodID
			break
		}
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	// The appender reports its error, checked after Wait: FailNow is for
	// the test's goroutine only.
	var appendErr error
	go func() { // appender
		defer wg.Done()
		arng := rand.New(rand.NewPCG(5, 6))
		appendErr = projectiontest.AppendBatches(p, events[half:], func() int { return 1 + arng.IntN(20) })
	}()
	reads := 0
	go func() { // reader
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, err := p.AccessMethod(ctx, probe)
			if !assert.NoError(t, err) {
				return
			}
			reads++
		}
	}()
	for i := 0; i < 3; i++ {
		_, err := p.Rebuild(ctx, nil)
		require.NoError(t, err)
	}
	close(stop)
	wg.Wait()
	require.NoError(t, appendErr)
	assert.Positive(t, reads)

	stats := verify(t, p)
	assert.Equal(t, int64(len(events)), stats.Events, "every appended event is in the log")
	want := MustOpen(t)
	ingest(t, want, events, rng, len(events))
	assert.Equal(t, dump(t, want), dump(t, p), "the read model equals one built in a single pass")
}

// TestOpenRebuildsOnSchemaVersionChange checks that a projection recorded
// with another schema version is rebuilt on open.
func TestOpenRebuildsOnSchemaVersionChange(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	opts := store.Options{Synchronous: "OFF", Keyring: dbtest.Keyring(t, target)}
	db, err := store.Open(ctx, target, opts)
	require.NoError(t, err)
	p, err := projection.Open(ctx, db)
	require.NoError(t, err)
	ingest(t, p, testutil.Events(t, 5, 1), rand.New(rand.NewPCG(1, 1)), 10)
	want := dump(t, p)
	// Damage the projection and mark it as an old version.
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM access_methods`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE projection_meta SET value = 0 WHERE key = 'schema_version'`)
		return err
	}))
	require.NoError(t, db.Close())

	db, err = store.Open(ctx, target, opts)
	require.NoError(t, err)
	defer db.Close()
	p, err = projection.Open(ctx, db)
	require.NoError(t, err)
	assert.Equal(t, want, dump(t, p))
	verify(t, p)
}

// TestTwoWritersOnOneDatabase appends through two independent handles on
// one database, as two processes would (serve and an ingest): each one's
// cached states must be dropped when the other commits.
func TestTwoWritersOnOneDatabase(t *testing.T) {
	target := dbtest.Target(t)
	a, b := openHandle(t, target), openHandle(t, target)
	events := testutil.Events(t, 30, 5)
	rng := rand.New(rand.NewPCG(8, 9))
	for i := 0; i < len(events); i += 7 {
		p := a
		if (i/7)%2 == 1 {
			p = b
		}
		ingest(t, p, events[i:min(i+7, len(events))], rng, 7)
	}
	verify(t, a)
	want := MustOpen(t)
	ingest(t, want, events, rng, len(events))
	assert.Equal(t, dump(t, want), dump(t, a))
}

// TestRebuildSortedEqualsIndexWalk: on SQLite a rebuild and a verify read
// the log through a sorted copy; reading it by walking the stream indexes
// instead gives the same read model, byte for byte, and both equal the
// incremental fold of a log that arrived shuffled with duplicates.
func TestRebuildSortedEqualsIndexWalk(t *testing.T) {
	dbtest.SQLiteOnly(t, "the sorted copy is SQLite's")
	ctx := context.Background()
	target := dbtest.Target(t)
	rng := rand.New(rand.NewPCG(21, 22))
	events := testutil.Events(t, 200, 21)
	sdb, err := store.Open(ctx, target, store.Options{Synchronous: "OFF", Keyring: dbtest.Keyring(t, target), SortedReads: true})
	require.NoError(t, err)
	defer sdb.Close()
	sorted, err := projection.Open(ctx, sdb)
	require.NoError(t, err)
	ingest(t, sorted, shuffledWithDuplicates(events, rng), rng, 50)
	want := dump(t, sorted)

	db, err := store.Open(ctx, target, store.Options{Synchronous: "OFF", Keyring: dbtest.Keyring(t, target), WalkIndexes: true})
	require.NoError(t, err)
	defer db.Close()
	walk, err := projection.Open(ctx, db)
	require.NoError(t, err)
	for name, p := range map[string]*projection.Projection{"sorted copy": sorted, "index walk": walk} {
		stats, err := p.Rebuild(ctx, nil)
		require.NoError(t, err, name)
		assert.Equal(t, int64(200), stats.Methods, name)
		assert.Equal(t, want, dump(t, p), "rebuilt through the %s", name)
		verify(t, p)
	}
}
