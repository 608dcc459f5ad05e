package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
)

// interrupted returns a context cancelled as main cancels it when sig arrives.
func interrupted(sig syscall.Signal) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(&signalCause{sig: sig})
	return ctx
}

func TestExitCodeOfSignals(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{"sigint, cut short", &interruptedError{sig: syscall.SIGINT, err: context.Canceled}, 130, "amtrack: interrupted\n"},
		{"sigint, clean stop", &interruptedError{sig: syscall.SIGINT}, 130, ""},
		{"sigterm, cut short", &interruptedError{sig: syscall.SIGTERM, err: context.Canceled}, 143, "amtrack: interrupted\n"},
		{"sigint, another error", &interruptedError{sig: syscall.SIGINT, err: io.ErrUnexpectedEOF}, 130, "amtrack: unexpected EOF\n"},
		{"sigint, a command's message", &interruptedError{sig: syscall.SIGINT, err: &exitError{code: 1, msg: "interrupted: run it again"}}, 130, "amtrack: interrupted: run it again\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			assert.Equal(t, tt.code, exitCode(tt.err, &stderr))
			assert.Equal(t, tt.stderr, stderr.String())
		})
	}
}

// TestInterrupted: a command whose context main cancelled on a signal
// exits 128 + the signal's number.
func TestInterrupted(t *testing.T) {
	inTempDir(t)
	db := tempDB(t)
	require.Equal(t, 0, runCLI(t, testutil.MethodEvent(1, "created", "")+"\n", "ingest", "--db", db, "-").code)
	tests := []struct {
		args []string
		sig  syscall.Signal
		code int
	}{
		{[]string{"verify", "--db", db}, syscall.SIGINT, 130},
		{[]string{"rebuild", "--db", db}, syscall.SIGINT, 130},
		{[]string{"show", "--db", db, testutil.MethodID(1)}, syscall.SIGINT, 130},
		{[]string{"ingest", "--db", db, "-"}, syscall.SIGINT, 130},
		{[]string{"serve", "--db", db, "--addr", "127.0.0.1:0"}, syscall.SIGINT, 130},
		{[]string{"verify", "--db", db}, syscall.SIGTERM, 143},
	}
	for _, tt := range tests {
		t.Run(tt.args[0]+" "+tt.sig.String(), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Run(interrupted(tt.sig), withTestKey(t, Config{}, tt.args), tt.args, strings.NewReader(""), &stdout, &stderr)
			assert.Equal(t, tt.code, exitCode(err, &stderr), stderr.String())
		})
	}
}

// TestServeSignals stops serve and demo, once they serve, as main does on
// a signal: SIGINT exits 130, SIGTERM (a service manager's stop) 0, both
// after the graceful shutdown.
func TestServeSignals(t *testing.T) {
	inTempDir(t)
	db := tempDB(t)
	tests := []struct {
		args []string
		sig  syscall.Signal
		code int
	}{
		{[]string{"serve", "--db", db, "--addr", "127.0.0.1:0"}, syscall.SIGINT, 130},
		{[]string{"serve", "--db", db, "--addr", "127.0.0.1:0"}, syscall.SIGTERM, 0},
		{[]string{"demo", "--addr", "127.0.0.1:0"}, syscall.SIGINT, 130},
		{[]string{"demo", "--addr", "127.0.0.1:0"}, syscall.SIGTERM, 0},
	}
	for _, tt := range tests {
		t.Run(tt.args[0]+" "+tt.sig.String(), func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			stdout, stderr := &testutil.Buffer{}, &testutil.Buffer{}
			errc := make(chan error, 1)
			cfg := withTestKey(t, Config{}, tt.args) // on the test's goroutine: it may fail the test
			go func() { errc <- Run(ctx, cfg, tt.args, strings.NewReader(""), stdout, stderr) }()
			require.Eventually(t, func() bool { return servingLine.MatchString(stdout.String()) }, time.Minute, 10*time.Millisecond,
				"stderr: %s", stderr)
			cancel(&signalCause{sig: tt.sig})
			var out bytes.Buffer
			assert.Equal(t, tt.code, exitCode(<-errc, &out))
			assert.Empty(t, out.String(), "a clean stop prints nothing")
		})
	}
}

// eventCount returns the number of events in the log of db.
func eventCount(db string) (int, error) {
	driver, dsn := "sqlite3", "file:"+db+"?mode=ro"
	if dbtest.IsPostgres(db) {
		driver, dsn = "pgx", db
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n int
	err = conn.QueryRow(`SELECT count(*) FROM events`).Scan(&n)
	return n, err
}

// countEvents returns the number of events in the log of db.
func countEvents(t *testing.T, db string) int {
	t.Helper()
	n, err := eventCount(db)
	require.NoError(t, err)
	return n
}

// waitForEvents waits until the log of db holds events (the database may
// not exist yet, or have no tables).
func waitForEvents(t *testing.T, db string, done <-chan struct{}) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		if _, err := os.Stat(db); err == nil || dbtest.IsPostgres(db) {
			if n, err := eventCount(db); err == nil && n > 0 {
				return
			}
		}
		select {
		case <-done:
			t.Fatal("ingest ended before committing anything")
		case <-deadline:
			t.Fatal("ingest committed nothing in two minutes")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestIngestInterrupted interrupts an ingest of an endless stdin after it
// committed a few batches: it prints what it committed and exits 130.
func TestIngestInterrupted(t *testing.T) {
	setIngestBatch(t, 500)
	db := tempDB(t)
	pr, pw := io.Pipe()
	go testutil.WriteEndless(pw)
	defer pr.CloseWithError(io.ErrClosedPipe)

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var stdout, stderr bytes.Buffer
	errc := make(chan error, 1)
	done := make(chan struct{})
	args := []string{"ingest", "--db", db, "-"}
	cfg := withTestKey(t, Config{}, args)
	go func() {
		errc <- Run(ctx, cfg, args, pr, &stdout, &stderr)
		close(done)
	}()
	waitForEvents(t, db, done)
	cancel(&signalCause{sig: syscall.SIGINT})
	err := <-errc
	assert.Equal(t, 130, exitCode(err, &stderr))
	assert.Equal(t, summary(countEvents(t, db), 0, 0), stdout.String())
	assert.Equal(t, "amtrack: interrupted\n", stderr.String())
}

// setIngestBatch makes ingest append n events per transaction for the test.
func setIngestBatch(t *testing.T, n int) {
	t.Helper()
	old := ingestBatch
	ingestBatch = n
	t.Cleanup(func() { ingestBatch = old })
}

// TestIngestSummaryAfterFailure: an append that fails after earlier
// batches committed still reports what they committed, then the error.
func TestIngestSummaryAfterFailure(t *testing.T) {
	setIngestBatch(t, 2)
	dir := t.TempDir()
	db := tempDB(t)
	require.Equal(t, 0, runCLI(t, "", "ingest", "--db", db, "-").code)
	failAppends(t, db, 2)

	var lines []string
	for n := 1; n <= 5; n++ {
		lines = append(lines, testutil.MethodEvent(n, "created", ""))
	}
	path := writeFile(t, dir, "events.jsonl", strings.Join(lines, "\n")+"\n")
	got := runCLI(t, "", "ingest", "--db", db, path)
	assert.Equal(t, 1, got.code)
	assert.Equal(t, summary(2, 0, 0), got.stdout)
	assert.Contains(t, got.stderr, "injected failure")
	assert.Len(t, stderrLines(got), 1, got.stderr)
	assert.Equal(t, 2, countEvents(t, db))
}
