package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/ingest"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// setIngestChunk makes ingest hand the writer n events at a time.
func setIngestChunk(t *testing.T, n int) {
	t.Helper()
	old := ingestChunk
	ingestChunk = n
	t.Cleanup(func() { ingestChunk = old })
}

// TestIngestSlowInputReleasesTheWriter: an input that keeps coming, too
// slowly to fill a chunk quickly but never silent long enough for the idle
// flush, must not hold a transaction (and with it the database's one
// writer lock) open while ingest waits for it: another writer gets the
// lock within its busy timeout the whole time.
func TestIngestSlowInputReleasesTheWriter(t *testing.T) {
	dbtest.SQLiteOnly(t, "it probes SQLite's write lock from a second connection")
	setIngestChunk(t, 2)
	db := tempDB(t)
	require.Equal(t, 0, runCLI(t, "", "ingest", "--db", db, "-").code)
	pw, _, errc, stdout := startIngestPipe(t, db)
	const n = 100 // 4 s of input
	var writing atomic.Bool
	writing.Store(true)
	go func() {
		defer writing.Store(false)
		for i := 1; i <= n; i++ { // a chunk every 80 ms, each read waiting 40 ms
			if _, err := io.WriteString(pw, testutil.MethodEvent(i, "created", "")+"\n"); err != nil {
				return
			}
			time.Sleep(40 * time.Millisecond)
		}
		pw.Close()
	}()

	// The probe polls for the lock itself, every 5 ms, rather than
	// through SQLite's busy handler, whose waits grow to 100 ms and can
	// miss the moments between ingest's transactions on a loaded machine.
	other, err := sql.Open("sqlite3", "file:"+db+"?_busy_timeout=0&_txlock=immediate")
	require.NoError(t, err)
	defer other.Close()
	other.SetMaxOpenConns(1)
	lock := func() (*sql.Tx, error) {
		deadline := time.Now().Add(1500 * time.Millisecond)
		for {
			tx, err := other.Begin()
			if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "locked") {
				return tx, err
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond) // ingest has begun appending
	for i := 0; i < 5; i++ {
		tx, err := lock()
		require.NoError(t, err, "another writer must get the lock while ingest waits for its input (try %d)", i)
		require.True(t, writing.Load(), "the lock must come while the input is still coming (try %d)", i)
		require.NoError(t, tx.Commit())
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, <-errc)
	assert.Equal(t, summary(n, 0, 0), stdout.String())
	assert.Equal(t, n, countEvents(t, db))
}

// TestIngestTxnInterruptKeepsParsed: when the reader stops for an
// interrupt while it was handing the writer a chunk, the entries it had
// parsed stay in the batcher, and the transaction appends them before it
// commits, whichever of the closed channel and the ended context the
// writer sees first (both are ready; Go picks one at random).
func TestIngestTxnInterruptKeepsParsed(t *testing.T) {
	db := tempDB(t)
	e := &env{cfg: withTestKey(t, Config{}, []string{"ingest", "--db", db}), stdout: io.Discard, stderr: io.Discard}
	a, err := e.openApp(context.Background(), db, store.Options{})
	require.NoError(t, err)
	defer a.Close()
	n := 0
	parsed := func(k int) []entry {
		out := make([]entry, k)
		for i := range out {
			n++
			out[i] = entry{name: "test", line: n}
			out[i].pending, out[i].err = ingest.Parse([]byte(testutil.MethodEvent(n, "created", "")), "file", "", time.Time{})
			require.NoError(t, out[i].err)
		}
		return out
	}
	for run := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		b := &batcher{out: make(chan chunk), size: 3}
		first := chunk{entries: parsed(3)}
		b.batch = parsed(2) // the chunk the reader was sending when the interrupt came
		cancel()
		b.close()
		var c ingest.Tally
		end, err := a.ingestTxn(context.Background(), ctx, b, first, &c, nil, io.Discard)
		require.NoError(t, err)
		assert.Equal(t, endInterrupted, end, "run %d", run)
		assert.Equal(t, 5, c.Appended, "run %d: the entries left in the batcher must be appended", run)
	}
	assert.Equal(t, n, countEvents(t, db))
}

// TestIngestStrictManyChunks: a strict ingest of several chunks is all or
// nothing: a conflict in its last chunk leaves out the chunks before it.
func TestIngestStrictManyChunks(t *testing.T) {
	setIngestChunk(t, 2)
	dir := t.TempDir()
	var lines []string
	for i := 1; i <= 7; i++ {
		lines = append(lines, testutil.MethodEvent(i, "created", ""))
	}
	db := tempDB(t)
	got := runCLI(t, "", "ingest", "--db", db, "--strict", writeFile(t, dir, "good.jsonl", strings.Join(lines, "\n")+"\n"))
	assert.Equal(t, summary(7, 0, 0), got.stdout, got.stderr)

	// The last line conflicts with the log: nothing of the seven chunks' worth goes in.
	db2 := tempDB(t)
	require.Equal(t, 0, runCLI(t, "", "ingest", "--db", db2, writeFile(t, dir, "one.jsonl", testutil.MethodEvent(1, "created", "")+"\n")).code)
	conflict := append(lines[1:], testutil.MethodEvent(1, "issued", `,"code":"1234"`))
	got = runCLI(t, "", "ingest", "--db", db2, "--strict", writeFile(t, dir, "conflict.jsonl", strings.Join(conflict, "\n")+"\n"))
	assert.Equal(t, summary(0, 0, 1), got.stdout, got.stderr)
	assert.Contains(t, got.stderr, "--strict: nothing appended")
	assert.Equal(t, 1, countEvents(t, db2), fmt.Sprintf("only the event ingested before: %s", got.stderr))
}
