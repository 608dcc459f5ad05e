package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/testutil"
)

// startIngestPipe runs ingest - over a pipe in the background and returns
// the pipe's writer, the cancel that interrupts it and its result.
func startIngestPipe(t *testing.T, db string) (*io.PipeWriter, context.CancelCauseFunc, <-chan error, *bytes.Buffer) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pr.CloseWithError(io.ErrClosedPipe) })
	ctx, cancel := context.WithCancelCause(context.Background())
	t.Cleanup(func() { cancel(nil) })
	var stdout, stderr bytes.Buffer
	errc := make(chan error, 1)
	args := []string{"ingest", "--db", db, "-"}
	cfg := withTestKey(t, Config{}, args)
	go func() { errc <- Run(ctx, cfg, args, pr, &stdout, &stderr) }()
	return pw, cancel, errc, &stdout
}

// writeEvents writes n events to w as JSON Lines, then a blank line: that
// second write returns only once the reader has taken in the events.
func writeEvents(t *testing.T, w io.Writer, from, n int) {
	t.Helper()
	var lines []string
	for i := from; i < from+n; i++ {
		lines = append(lines, testutil.MethodEvent(i, "created", ""))
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	require.NoError(t, err)
	_, err = io.WriteString(w, "\n")
	require.NoError(t, err)
}

// TestIngestTrickleCommits: events that trickle in on stdin are committed
// once the input goes quiet, not only when a whole batch (50,000) is read.
func TestIngestTrickleCommits(t *testing.T) {
	db := tempDB(t)
	pw, _, errc, stdout := startIngestPipe(t, db)
	writeEvents(t, pw, 1, 3)
	waitForCount(t, db, 3)
	writeEvents(t, pw, 4, 2)
	waitForCount(t, db, 5)
	require.NoError(t, pw.Close())
	require.NoError(t, <-errc)
	assert.Equal(t, summary(5, 0, 0), stdout.String())
}

// TestIngestInterruptCommitsParsed: Ctrl-C commits the events already
// read before ingest stops, and its summary counts them.
func TestIngestInterruptCommitsParsed(t *testing.T) {
	old := ingestIdle
	ingestIdle = time.Hour // nothing is flushed for being idle
	t.Cleanup(func() { ingestIdle = old })
	db := tempDB(t)
	pw, cancel, errc, stdout := startIngestPipe(t, db)
	writeEvents(t, pw, 1, 7)
	cancel(&signalCause{sig: syscall.SIGINT})
	var stderr bytes.Buffer
	assert.Equal(t, 130, exitCode(<-errc, &stderr))
	assert.Equal(t, summary(7, 0, 0), stdout.String())
	assert.Equal(t, 7, countEvents(t, db))
}

// waitForCount waits until the database at db holds n events; a test that
// never gets there ends at the deadline rather than hanging.
func waitForCount(t *testing.T, db string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := eventCount(db) // the database may not exist yet
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database never held %d events (it holds %d, %v)", n, got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
