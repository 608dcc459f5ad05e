package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// TestGapSafeReadsAcrossProcesses: two amtrack processes (two *store.DB on
// one PostgreSQL schema) append batches from several goroutines each, one
// through its group-commit Writer and one through Append, while a third,
// read-only process pages the log by seq (Events after the last seq seen),
// as a consumer following the log does. The reader must see every
// committed event exactly once, in seq order, and the log must hold seqs
// 1..N for the N events appended.
//
// Why this can fail: a reader paging by seq advances past every seq it has
// seen, so it never returns to a lower one. If a transaction could commit
// a lower seq after a higher one became visible (seqs taken from a
// PostgreSQL sequence, or from max(seq)+1 read before the transactions are
// serialised, as two processes' transactions interleave), the reader would
// see the higher seq, move past the lower one and never read it: that
// event is missing from what it saw, and gapCheck says so (TestGapCheck
// proves it does; a read made to skip one seq fails this test with "the
// reader never saw seq N"). What makes seq order commit order across
// processes is that every write transaction takes the writer lock (an
// advisory lock per schema, then writer_epoch's one row) before it reads
// the head it numbers from; without both, two processes number from the
// same head and this test fails on their duplicate seqs instead.
func TestGapSafeReadsAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	target := dbtest.NewSchema(t, dbtest.PostgresURL(t))
	a, b := openTarget(t, target), openTarget(t, target)
	reader, err := store.OpenReadOnlyOptions(ctx, target, store.Options{Keyring: dbtest.Keyring(t, target)})
	require.NoError(t, err)
	t.Cleanup(func() { reader.Close() })

	const senders, batches = 4, 20 // per process
	// Every event is new (no duplicate leaves a seq unused), about one of a
	// few methods, so that both processes append to the same streams.
	// Parsed here: a helper's require must not run in the senders.
	var work [2][senders][][]store.Pending
	n := 0
	for p := range work {
		for s := range senders {
			for i := range batches {
				batch := make([]store.Pending, 1+(p+s+i)%4)
				for j := range batch {
					n++
					raw := strings.Replace(testutil.MethodEvent(n, "created", ""), testutil.MethodID(n), testutil.MethodID(n%5), 1)
					batch[j] = store.Pending{Event: testutil.Parse(t, raw), Source: store.SourceWebhook}
				}
				work[p][s] = append(work[p][s], batch)
			}
		}
	}
	total := n

	w := store.NewWriter(a, nil, 0)
	appendTo := [2]func([]store.Pending) ([]store.Outcome, error){
		func(batch []store.Pending) ([]store.Outcome, error) { return w.Append(ctx, batch) },
		func(batch []store.Pending) ([]store.Outcome, error) { return b.Append(ctx, batch, nil) },
	}
	var writers sync.WaitGroup
	var appended atomic.Int64
	errs := make(chan error, 2*senders)
	for p := range work {
		for s := range senders {
			writers.Add(1)
			go func() {
				defer writers.Done()
				for _, batch := range work[p][s] {
					out, err := appendTo[p](batch)
					if err != nil {
						errs <- fmt.Errorf("process %d, sender %d: %w", p, s, err)
						return
					}
					for i, o := range out {
						if o.Err != nil || o.Duplicate {
							errs <- fmt.Errorf("process %d, sender %d: event %s: %+v", p, s, batch[i].Event.ID, o)
							return
						}
						appended.Add(1)
					}
				}
			}()
		}
	}
	var writing atomic.Bool
	writing.Store(true)
	go func() { writers.Wait(); writing.Store(false) }()

	// The reader pages in small pages, so that most pages are read while
	// transactions of both processes are running. It stops at the first
	// empty page read after the writers stopped: by then every commit is
	// visible to it.
	var seen []int64
	var pagesWhileWriting int
	var readErr error
	last := int64(0)
	for {
		stillWriting := writing.Load()
		page, err := reader.Log().Events(ctx, store.EventFilter{After: last, Limit: 5})
		if err != nil {
			readErr = err
			break
		}
		for _, rec := range page.Records {
			seen = append(seen, rec.Seq)
			last = rec.Seq
		}
		if stillWriting && len(page.Records) > 0 {
			pagesWhileWriting++
		}
		if !stillWriting && len(page.Records) == 0 {
			break
		}
	}
	writers.Wait()
	w.Close()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	require.NoError(t, readErr)
	require.Equal(t, int64(total), appended.Load(), "every event was appended")
	assert.Greater(t, pagesWhileWriting, 10, "the reader must page while both processes append, or the test proves nothing")

	page, err := reader.Log().Events(ctx, store.EventFilter{})
	require.NoError(t, err)
	logged := make([]int64, len(page.Records))
	for i, rec := range page.Records {
		logged[i] = rec.Seq
	}
	assert.NoError(t, gapCheck(seen, logged, total))
	assert.Empty(t, checkLog(t, a, nil).Problems, "the chain holds across both processes' appends")
}

// gapCheck says what is wrong with seen, the seqs a reader paging the log
// saw in order, against logged, every seq of the log in order, after n
// events were appended (all new): a seq seen twice or out of order, one
// committed but never seen, or a log that is not seqs 1..n.
func gapCheck(seen, logged []int64, n int) error {
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			return fmt.Errorf("the reader saw seq %d after seq %d", seen[i], seen[i-1])
		}
	}
	for _, seq := range logged {
		if _, found := slices.BinarySearch(seen, seq); !found {
			return fmt.Errorf("the reader never saw seq %d, committed", seq)
		}
	}
	if !slices.Equal(seen, logged) {
		return fmt.Errorf("the reader saw %d seqs, the log holds %d", len(seen), len(logged))
	}
	if len(logged) != n {
		return fmt.Errorf("the log holds %d events, %d were appended", len(logged), n)
	}
	for i, seq := range logged {
		if seq != int64(i+1) {
			return fmt.Errorf("the log's seqs have a gap before seq %d", seq)
		}
	}
	return nil
}

// TestGapCheck: gapCheck passes a complete read and names each way a read
// or the log can go wrong, the skipped event first: the failure
// TestGapSafeReadsAcrossProcesses exists to catch.
func TestGapCheck(t *testing.T) {
	all := []int64{1, 2, 3, 4, 5}
	for _, tc := range []struct {
		name         string
		seen, logged []int64
		n            int
		want         string
	}{
		{"complete", all, all, 5, ""},
		{"an event skipped", []int64{1, 2, 4, 5}, all, 5, "the reader never saw seq 3, committed"},
		{"an event seen twice", []int64{1, 2, 2, 3, 4, 5}, all, 5, "the reader saw seq 2 after seq 2"},
		{"out of order", []int64{1, 3, 2, 4, 5}, all, 5, "the reader saw seq 2 after seq 3"},
		{"a seq not in the log", []int64{1, 2, 3, 4, 5, 6}, all, 5, "the reader saw 6 seqs, the log holds 5"},
		{"an event lost", all, all, 6, "the log holds 5 events, 6 were appended"},
		{"a gap in the log", []int64{1, 2, 4, 5, 6}, []int64{1, 2, 4, 5, 6}, 5, "the log's seqs have a gap before seq 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := gapCheck(tc.seen, tc.logged, tc.n)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.want)
		})
	}
}
