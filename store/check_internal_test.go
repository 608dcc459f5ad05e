package store

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
)

// manyRowsDB is a database of more rows than CheckLog reads ahead, with
// rows edited outside amtrack in several of its chunks.
func manyRowsDB(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	target := dbtest.Target(t)
	opts := Options{Keyring: dbtest.Keyring(t, target)}
	db, err := Open(ctx, target, opts)
	require.NoError(t, err)
	var batch []Pending
	for _, raw := range testutil.First(t, 3*chunkRows*chunkAhead, 42) {
		e, err := domain.ParseEvent(raw)
		require.NoError(t, err)
		batch = append(batch, Pending{Event: e, Source: SourceFile})
	}
	_, err = db.Append(ctx, batch, nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	// The same edits in each engine's dialect (its blob literals and
	// substring function, its DROP TRIGGER naming the table).
	dbtest.Exec(t, target,
		dbtest.ByEngine(target, "DROP TRIGGER events_no_update", "DROP TRIGGER events_no_update ON events"),
		"UPDATE events SET event_type = 'access_method.x' WHERE seq = 3",
		"UPDATE events SET occurred_at = occurred_at + 1 WHERE seq = 700",
		dbtest.ByEngine(target, "UPDATE events SET payload = CAST('{' AS BLOB) WHERE seq = 1100",
			`UPDATE events SET payload = '\x7b'::bytea WHERE seq = 1100`),
		"UPDATE events SET sealed = "+dbtest.ByEngine(target, "x'00' || substr(sealed, 2)", `'\x00'::bytea || substring(sealed from 2)`)+
			" WHERE seq = (SELECT min(seq) FROM events WHERE sealed IS NOT NULL AND seq > 1300)",
		"UPDATE events SET received_at = received_at + 1 WHERE seq = 2000",
		"UPDATE events SET has_code = NULL WHERE seq = (SELECT min(seq) FROM events WHERE sealed IS NOT NULL AND seq > 2600)",
		"UPDATE events SET created_at = created_at + 1 WHERE seq = 3000",
	)
	db, err = OpenReadOnlyOptions(ctx, target, opts)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// checkWith runs CheckLog's walk with workers parsing ahead.
func checkWith(t *testing.T, db *DB, workers, maxProblems int) LogCheck {
	t.Helper()
	var out LogCheck
	require.NoError(t, db.View(context.Background(), func(s *Snapshot) error {
		c := &checker{max: maxProblems, workers: workers}
		err := c.run(context.Background(), s.Log(), nil)
		out = c.out
		return err
	}))
	return out
}

// TestCheckLogManyRows: the problems of rows edited across many chunks come
// in seq order, the first chain break among them, and maxProblems keeps the
// first ones.
func TestCheckLogManyRows(t *testing.T) {
	db := manyRowsDB(t)
	check := func(maxProblems int) LogCheck {
		var got LogCheck
		require.NoError(t, db.View(context.Background(), func(s *Snapshot) error {
			var err error
			got, err = s.CheckLog(context.Background(), nil, maxProblems)
			return err
		}))
		return got
	}
	want := []string{
		"append-only trigger events_no_update is missing: the log may have been edited outside amtrack; run amtrack rebuild (or serve or ingest) to recreate it",
		`seq 3: column event_type is "access_method.x", the payload gives "access_method.delay_in_issuing": the row was edited outside amtrack`,
		"seq 700: column occurred_at is 1767600836206000001, the payload gives 1767600836206000000: the row was edited outside amtrack",
		"seq 1100: the stored payload is no longer a valid event: it was edited outside amtrack",
		"seq 1100: the chain breaks: the event's payload, received_at, source or message id differs from what was appended " +
			"(edited or moved outside amtrack), or an event before it was deleted",
		"seq 1325: the sealed bytes do not open: the row was edited outside amtrack",
		"seq 2601: column has_code is false, the event gives true (values redacted): the row was edited outside amtrack",
		"seq 3000: column created_at is 1767603083670000001, the payload gives 1767603083670000000: the row was edited outside amtrack",
	}
	assert.Equal(t, want, check(100).Problems)
	assert.Equal(t, want[:4], check(4).Problems)
	assert.Equal(t, int64(3*chunkRows*chunkAhead), check(100).Head.Seq, "past the break, the head is the stored one")
}

// TestCheckLogWorkersAgree: the walk finds the same, in the same order,
// whether rows are parsed ahead by workers or by the walk itself.
func TestCheckLogWorkersAgree(t *testing.T) {
	db := manyRowsDB(t)
	for _, maxProblems := range []int{100, 4} {
		want := checkWith(t, db, 0, maxProblems)
		require.NotEmpty(t, want.Problems)
		for _, workers := range []int{1, 2, 3} {
			assert.Equal(t, want, checkWith(t, db, workers, maxProblems), "%d workers, at most %d problems", workers, maxProblems)
		}
	}
}

// feedWorkers counts the goroutines running rowFeed.work.
func feedWorkers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "store.(*rowFeed).work(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestRowFeedCancel: cancelling the context mid-walk stops the feed at
// the next row, and closing it leaves no worker behind.
func TestRowFeedCancel(t *testing.T) {
	db := manyRowsDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var err error
	var running int
	require.NoError(t, db.View(context.Background(), func(s *Snapshot) error {
		rows, qerr := s.Log().q.QueryContext(ctx, `SELECT method_stream, `+recordList+` FROM events ORDER BY seq`)
		if qerr != nil {
			return qerr
		}
		defer rows.Close()
		f := newRowFeed(ctx, rows, nil, 2)
		for range chunkRows + 1 {
			rec, nerr := f.next()
			if nerr != nil || rec == nil {
				f.close()
				return fmt.Errorf("row before the cancel: %v, %w", rec, nerr)
			}
		}
		cancel()
		_, err = f.next()
		running = feedWorkers()
		f.close()
		return nil
	}))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 2, running, "workers before close")
	// close has waited for the workers' Done; a worker's goroutine may
	// still be returning from its deferred call for a moment after that,
	// so the stack is read until it is gone. A worker that close did not
	// stop stays blocked for good and fails this.
	assert.Eventually(t, func() bool { return feedWorkers() == 0 }, 5*time.Second, time.Millisecond, "workers after close")
}

// TestStreamIndex: the log check's compact index of event_streams answers
// as the table does, for every stream, on a clean log and on one whose
// streams were edited (a gap in the numbers, a stream of the other kind).
func TestStreamIndex(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	db, err := Open(ctx, target, Options{Keyring: dbtest.Keyring(t, target)})
	require.NoError(t, err)
	defer db.Close()
	var batch []Pending
	for _, raw := range testutil.First(t, 300, 5) {
		e, err := domain.ParseEvent(raw)
		require.NoError(t, err)
		batch = append(batch, Pending{Event: e, Source: SourceFile})
	}
	_, err = db.Append(ctx, batch, nil)
	require.NoError(t, err)

	same := func(t *testing.T) {
		t.Helper()
		x, err := db.Log().allStreams(ctx)
		require.NoError(t, err)
		table := map[int64]streamKey{}
		grants := map[domain.ID]int64{}
		for _, row := range dbtest.Rows(t, db.Reader(), `SELECT stream, kind, id FROM event_streams`) {
			id, ok := domain.IDFromBytes(row[2].([]byte))
			require.True(t, ok)
			n, kind := row[0].(int64), row[1].(string)
			table[n] = streamKey{kind, id}
			if kind == KindGrant {
				grants[id] = n
			}
		}
		require.NotEmpty(t, grants)
		for n := int64(-1); n <= int64(len(table))+3; n++ {
			want, wantOK := table[n]
			got, ok := x.key(n)
			require.Equal(t, wantOK, ok, "stream %d", n)
			require.Equal(t, want, got, "stream %d", n)
		}
		require.Equal(t, grants, x.grants)
	}
	t.Run("clean", func(t *testing.T) {
		same(t)
		x, err := db.Log().allStreams(ctx)
		require.NoError(t, err)
		assert.Empty(t, x.sparse, "a clean log's streams are all dense")
	})
	t.Run("edited", func(t *testing.T) {
		dbtest.SQLiteOnly(t, "the edit is in SQLite's dialect; cmd's chain tests edit streams on both engines")
		dbtest.Exec(t, target,
			`DROP TRIGGER event_streams_no_delete`,
			`DROP TRIGGER event_streams_no_update`,
			`DELETE FROM event_streams WHERE stream = 7`,
			`UPDATE event_streams SET kind = CASE kind WHEN 'access_grant' THEN 'access_method' ELSE 'access_grant' END WHERE stream = 3`)
		same(t)
	})
}
