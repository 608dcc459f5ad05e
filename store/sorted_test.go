package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// readStreams reads db's whole log up to maxSeq in stream order, methods
// then grants, as lines (one for each event, whole) that a diff shows
// briefly.
func readStreams(t *testing.T, db *store.DB, maxSeq int64) (methods, grants []string) {
	t.Helper()
	ctx := context.Background()
	deref := func(p any) string { // the value a pointer field points at, not its address
		switch v := p.(type) {
		case *string:
			if v != nil {
				return *v
			}
		case *bool:
			if v != nil {
				return fmt.Sprint(*v)
			}
		}
		return "<nil>"
	}
	line := func(stream int64, grant domain.ID, e *domain.Event) string {
		c := *e
		c.Code, c.IsBackupCode, c.AccessGrantKey, c.StartsAt, c.EndsAt = nil, nil, nil, nil, nil
		return fmt.Sprintf("stream %d grant %s: %+v code %s backup %s key %s starts %s ends %s", stream, grant, c,
			deref(e.Code), deref(e.IsBackupCode), deref(e.AccessGrantKey), deref(e.StartsAt), deref(e.EndsAt))
	}
	require.NoError(t, db.Log().MethodStreams(ctx, maxSeq, func(stream int64, events []*domain.Event) error {
		for _, e := range events {
			methods = append(methods, line(stream, domain.ID{}, e))
		}
		return nil
	}))
	require.NoError(t, db.Log().GrantStreams(ctx, maxSeq, func(stream int64, id domain.ID, events []*domain.Event) error {
		for _, e := range events {
			grants = append(grants, line(stream, id, e))
		}
		return nil
	}))
	return methods, grants
}

// TestSortedReadsEqualIndexWalk: a whole-log read through a sorted copy
// (what SQLite gets) gives the streams and their events,
// field for field and in the same order, that the walk of the stream
// indexes gives, for a log that arrived shuffled, and up to a seq short of
// the head as well.
func TestSortedReadsEqualIndexWalk(t *testing.T) {
	dbtest.SQLiteOnly(t, "the sorted copy is SQLite's; PostgreSQL plans the read itself")
	ctx := context.Background()
	target := dbtest.Target(t)
	db := openTarget(t, target)
	events := testutil.Events(t, 300, 5)
	rng := rand.New(rand.NewPCG(5, 6))
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	for len(events) > 0 {
		n := min(len(events), 1+rng.IntN(40))
		_, err := db.Append(ctx, pending(events[:n]...), nil)
		require.NoError(t, err)
		events = events[n:]
	}
	head, _, err := db.Log().Head(ctx)
	require.NoError(t, err)

	open := func(walk bool) *store.DB {
		db, err := store.Open(ctx, target, store.Options{Keyring: dbtest.Keyring(t, target), WalkIndexes: walk, SortedReads: !walk})
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}
	walk, sorted := open(true), open(false)
	for _, maxSeq := range []int64{head, head / 2} {
		wantMethods, wantGrants := readStreams(t, walk, maxSeq)
		require.Greater(t, len(wantMethods), 500, "method events up to seq %d", maxSeq)
		require.Greater(t, len(wantGrants), 500, "grant events up to seq %d", maxSeq)
		gotMethods, gotGrants := readStreams(t, sorted, maxSeq)
		assert.Equal(t, wantMethods, gotMethods, "methods up to seq %d", maxSeq)
		assert.Equal(t, wantGrants, gotGrants, "grants up to seq %d", maxSeq)
	}
}

// TestSortedReadsCanceled: a sorted read stops with the context's error
// when it is cancelled while it copies.
func TestSortedReadsCanceled(t *testing.T) {
	dbtest.SQLiteOnly(t, "the sorted copy is SQLite's")
	ctx := context.Background()
	target := dbtest.Target(t)
	db, err := store.Open(ctx, target, store.Options{Keyring: dbtest.Keyring(t, target), SortedReads: true})
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Append(ctx, pending(testutil.Events(t, 50, 9)...), nil)
	require.NoError(t, err)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	err = db.Log().MethodStreams(canceled, 1<<40, func(int64, []*domain.Event) error {
		t.Fatal("no stream after the cancel")
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
}
