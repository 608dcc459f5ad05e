// Package projectiontest has the test helpers that several packages' tests
// share: a projection over a fresh database file, and generated events.
package projectiontest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// MustOpen opens a projection over a fresh database file in tb's temporary
// directory, with synchronous=OFF: tests that use it check logic, not
// durability.
func MustOpen(tb testing.TB) *projection.Projection {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(tb.TempDir(), "amtrack.db"), store.Options{Synchronous: "OFF", CacheMiB: 8})
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	p, err := projection.Open(ctx, db)
	require.NoError(tb, err)
	return p
}

// Generate returns generate's stream for (methods, seed), parsed.
func Generate(tb testing.TB, methods int, seed uint64) []*domain.Event {
	tb.Helper()
	var out []*domain.Event
	err := domain.Generate(domain.GenerateOptions{Methods: methods, Seed: seed}, func(b []byte) error {
		e, err := domain.ParseEvent(b)
		out = append(out, e)
		return err
	})
	require.NoError(tb, err)
	return out
}

// Append appends events through p in batches whose sizes next returns
// (each at least 1), requiring every event to be appended or a duplicate.
func Append(tb testing.TB, p *projection.Projection, events []*domain.Event, next func() int) {
	tb.Helper()
	for len(events) > 0 {
		n := min(len(events), max(1, next()))
		batch := make([]store.Pending, n)
		for i, e := range events[:n] {
			batch[i] = store.Pending{Event: e, Source: store.SourceFile}
		}
		out, err := p.Append(context.Background(), batch)
		require.NoError(tb, err)
		for _, o := range out {
			require.NoError(tb, o.Err)
		}
		events = events[n:]
	}
}
