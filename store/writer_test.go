package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// TestWriterGroupCommits sends appends from many goroutines: every one is
// answered with its own outcomes after its commit, seqs are unique, and
// concurrent appends share commits.
func TestWriterGroupCommits(t *testing.T) {
	db := MustOpen(t)
	var commits, events atomic.Int64
	w := store.NewWriter(db, nil, 0)
	w.Observe = func(n int, _ time.Duration) { commits.Add(1); events.Add(int64(n)) }
	const senders, each = 32, 20
	seqs := make(chan int64, senders*each)
	// Parsed here: a helper's require must not run in the senders' goroutines.
	evs := make([]*domain.Event, senders*each)
	for n := range evs {
		evs[n] = testutil.Parse(t, testutil.MethodEvent(n, "created", ""))
	}
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				e := evs[s*each+i]
				out, err := w.Append(context.Background(), pending(e))
				if !assert.NoError(t, err) {
					return
				}
				// The event is committed when Append returns.
				got, err := db.Event(context.Background(), e.ID)
				if assert.NoError(t, err) {
					assert.Equal(t, out[0].Seq, got.Seq)
				}
				seqs <- out[0].Seq
			}
		}(s)
	}
	wg.Wait()
	w.Close()
	close(seqs)
	seen := map[int64]bool{}
	for s := range seqs {
		assert.False(t, seen[s], "seq %d answered twice", s)
		seen[s] = true
	}
	assert.Len(t, seen, senders*each)
	assert.Equal(t, int64(senders*each), events.Load())
	assert.Less(t, commits.Load(), int64(senders*each), "concurrent appends share commits")
}

// TestWriterIsolatesFailures checks that a request whose fold fails does not
// fail the others committed with it.
func TestWriterIsolatesFailures(t *testing.T) {
	db := MustOpen(t)
	bad := testutil.Parse(t, testutil.MethodEvent(999, "created", ""))
	apply := func(_ context.Context, _ *store.Tx, recs []store.Record) error {
		for _, r := range recs {
			if r.Event.ID == bad.ID {
				return errors.New("boom")
			}
		}
		return nil
	}
	w := store.NewWriter(db, apply, 0)
	defer w.Close()
	var wg sync.WaitGroup
	errs := make([]error, 10)
	evs := make([]*domain.Event, len(errs))
	for i := range evs {
		evs[i] = testutil.Parse(t, testutil.MethodEvent(i, "created", ""))
	}
	evs[5] = bad
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = w.Append(context.Background(), pending(evs[i]))
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if i == 5 {
			assert.Error(t, err)
		} else {
			assert.NoError(t, err, fmt.Sprint(i))
		}
	}
	_, n, err := db.Head(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(9), n)
}

func TestWriterClosed(t *testing.T) {
	w := store.NewWriter(MustOpen(t), nil, 0)
	w.Close()
	w.Close() // idempotent
	_, err := w.Append(context.Background(), pending(testutil.Parse(t, testutil.MethodEvent(1, "created", ""))))
	assert.ErrorIs(t, err, store.ErrWriterClosed)
}
