// Package projectiontest has the test helpers that several packages' tests
// share and that need the projection: a projection over a fresh database
// on the engine under test, and appending events through it. Those that need neither the store
// nor the projection are in internal/testutil.
package projectiontest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// MustOpen opens a projection over a fresh database on the engine under
// test (dbtest.Target), with synchronous=OFF on SQLite: tests that use it
// check logic, not durability.
func MustOpen(tb testing.TB) *projection.Projection {
	tb.Helper()
	ctx := context.Background()
	target := dbtest.Target(tb)
	db, err := store.Open(ctx, target, store.Options{Synchronous: "OFF", CacheMiB: 8, Keyring: dbtest.Keyring(tb, target)})
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	p, err := projection.Open(ctx, db)
	require.NoError(tb, err)
	return p
}

// Append appends events through p in batches whose sizes next returns
// (each at least 1), requiring every event to be appended or a duplicate.
// It fails tb, so it runs on the test's goroutine; others call AppendBatches.
func Append(tb testing.TB, p *projection.Projection, events []*domain.Event, next func() int) {
	tb.Helper()
	require.NoError(tb, AppendBatches(p, events, next))
}

// AppendBatches is Append returning the first error (of the append or of an
// event) instead of failing a test, for goroutines other than the test's.
func AppendBatches(p *projection.Projection, events []*domain.Event, next func() int) error {
	for len(events) > 0 {
		n := min(len(events), max(1, next()))
		batch := make([]store.Pending, n)
		for i, e := range events[:n] {
			batch[i] = store.Pending{Event: e, Source: store.SourceFile}
		}
		out, err := p.Append(context.Background(), batch)
		if err != nil {
			return err
		}
		for i, o := range out {
			if o.Err != nil {
				return fmt.Errorf("event %s: %w", batch[i].Event.ID, o.Err)
			}
		}
		events = events[n:]
	}
	return nil
}
