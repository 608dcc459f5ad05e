package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/testutil"
)

// running is a server started in-process with Run.
type running struct {
	base           string
	stdout, stderr *testutil.Buffer
	stop           func() error // cancels Run's context (as SIGTERM does) and returns Run's error
}

var servingLine = regexp.MustCompile(`serving (?:demo data )?on (http://[0-9.:\[\]a-z]+)`)

// startRun runs amtrack args in-process in an empty environment and waits
// until it prints where it serves.
func startRun(t *testing.T, args ...string) *running {
	t.Helper()
	return startRunWith(t, Config{}, args...)
}

// startRunWith is startRun with the configuration cfg (and the test key of
// a PostgreSQL --db when cfg gives none: withTestKey).
func startRunWith(t *testing.T, cfg Config, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &testutil.Buffer{}, stderr: &testutil.Buffer{}}
	done := make(chan error, 1)
	cfg = withTestKey(t, cfg, args)
	go func() { done <- Run(ctx, cfg, args, strings.NewReader(""), r.stdout, r.stderr) }()
	var once sync.Once
	var err error
	r.stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { r.stop() })
	deadline := time.Now().Add(time.Minute)
	for {
		if m := servingLine.FindStringSubmatch(r.stdout.String()); m != nil {
			r.base = m[1]
			return r
		}
		select {
		case err := <-done:
			t.Fatalf("amtrack %s ended before serving: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, r.stdout, r.stderr)
		case <-time.After(10 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "not serving after a minute: %s", r.stderr)
	}
}

// TestServe serves an ingested database and checks that the API prints
// the same JSON bodies as show and history, then stops it as SIGTERM does.
func TestServe(t *testing.T) {
	t.Parallel()
	db, n := ingestGenerated(t, 40, 4)
	r := startRun(t, "serve", "--db", db, "--addr", "127.0.0.1:0")
	assert.Regexp(t, `^serving on http://127\.0\.0\.1:\d+\n$`, r.stdout.String())

	status, body := testutil.Get(t, r.base+"/readyz", "")
	require.Equal(t, 200, status, body)
	var ready map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &ready))
	assert.Equal(t, float64(n), ready["log_seq"])

	status, body = testutil.Get(t, r.base+"/v1/access_methods?mode=code&limit=1", "")
	require.Equal(t, 200, status, body)
	var list struct {
		AccessMethods []struct {
			ID     string   `json:"access_method_id"`
			Grants []string `json:"access_grant_ids"`
		} `json:"access_methods"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list.AccessMethods, 1)
	m := list.AccessMethods[0]

	// docs/fold.md: the API and the CLI print the same JSON bodies.
	show := runCLI(t, "", "show", "--db", db, m.ID)
	require.Equal(t, 0, show.code, show.stderr)
	status, body = testutil.Get(t, r.base+"/v1/access_methods/"+m.ID, "")
	require.Equal(t, 200, status)
	assert.Equal(t, show.stdout, body)
	assert.Contains(t, body, `"code_redacted": true`)

	history := runCLI(t, "", "history", "--db", db, m.Grants[0])
	require.Equal(t, 0, history.code, history.stderr)
	status, body = testutil.Get(t, r.base+"/v1/access_grants/"+m.Grants[0]+"/events?limit=1000", "")
	require.Equal(t, 200, status)
	var cli, web map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(history.stdout), &cli))
	require.NoError(t, json.Unmarshal([]byte(body), &web))
	assert.JSONEq(t, string(cli["events"]), string(web["events"]))

	require.NoError(t, r.stop(), "a signal ends serve cleanly")
	_, err := http.Get(r.base + "/healthz")
	assert.Error(t, err, "the server is gone")
}

// TestServeEnvironment checks AMTRACK_API_TOKEN, AMTRACK_REVEAL_CODES,
// AMTRACK_ADDR and AMTRACK_LOG_LEVEL.
func TestServeEnvironment(t *testing.T) {
	t.Parallel()
	db, _ := ingestGenerated(t, 20, 6)
	r := startRunWith(t, loadConfig(environ{
		"AMTRACK_API_TOKEN":    " tok3n ",
		"AMTRACK_REVEAL_CODES": "1",
		"AMTRACK_ADDR":         "127.0.0.1:0",
		"AMTRACK_LOG_LEVEL":    "debug",
	}.get), "serve", "--db", db)

	status, body := testutil.Get(t, r.base+"/v1/access_methods?mode=code&is_issued=true&limit=1", "")
	assert.Equal(t, 401, status, body)
	status, body = testutil.Get(t, r.base+"/v1/access_methods?mode=code&is_issued=true&limit=1", "tok3n")
	require.Equal(t, 200, status, body)
	assert.Regexp(t, `"code": "\d{4,6}"`, body, "codes are revealed")
	status, _ = testutil.Get(t, r.base+"/metrics", "")
	assert.Equal(t, 200, status, "metrics are open")
	require.NoError(t, r.stop())
	assert.Contains(t, r.stderr.String(), "level=DEBUG msg=request", "one debug line per request")
	assert.Contains(t, r.stderr.String(), "level=WARN", "the 401 is logged")
	assert.NotContains(t, r.stderr.String(), "tok3n", "the token is never logged")
}

// TestServeAddresses checks the refusal of a public address without a
// token, and --insecure.
func TestServeAddresses(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	got := runCLI(t, "", "serve", "--db", db, "--addr", "0.0.0.0:0")
	assert.Equal(t, 2, got.code, "a refused address is a usage error")
	assert.Contains(t, got.stderr, "refusing to listen on 0.0.0.0:0 without an API token")
	assert.Empty(t, got.stdout)
	assert.NoFileExists(t, db, "refused before the database is opened")

	r := startRun(t, "serve", "--db", db, "--addr", "0.0.0.0:0", "--insecure")
	assert.Contains(t, r.stdout.String(), "serving on http://0.0.0.0:")
	require.NoError(t, r.stop())
}

func TestServeUsage(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"serve", "--db", db, "--log-level", "loud", "--addr", "127.0.0.1:0"}, 2, "--log-level must be debug, info, warn or error"},
		{[]string{"serve", "--db", db, "extra"}, 2, "serve takes no arguments"},
		{[]string{"serve", "--db", db, "--addr", "nowhere"}, 2, `--addr must be host:port, such as 127.0.0.1:8080, got "nowhere"`},
		{[]string{"serve", "--nope"}, 2, "flag provided but not defined"},
		{[]string{"demo", "extra"}, 2, "demo takes no arguments"},
		{[]string{"serve", "--help"}, 0, "-reveal-codes"},
		{[]string{"demo", "--help"}, 0, "-addr"},
	}
	for _, tt := range tests {
		got := runCLI(t, "", tt.args...)
		assert.Equal(t, tt.code, got.code, "%v: %s", tt.args, got.stderr)
		assert.Contains(t, got.stderr, tt.err, "%v", tt.args)
	}
}

// demoCommands returns the URLs of the curl commands demo printed.
func demoCommands(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.GreaterOrEqual(t, len(lines), 4, out)
	var urls []string
	for _, l := range lines[1:] {
		m := regexp.MustCompile(`curl -s (?:-H "[^"]*" )?'?(http://[^' ]+)'?`).FindStringSubmatch(l)
		require.NotNil(t, m, "not a curl command: %q", l)
		urls = append(urls, m[1])
	}
	return urls
}

// TestDemo runs demo in-process: every printed command works, the data
// is there, and the temporary database is removed on exit.
func TestDemo(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	r := startRunWith(t, loadConfig(environ{"TMPDIR": tmp}.get), "demo", "--addr", "127.0.0.1:0")
	out := r.stdout.String()
	assert.Regexp(t, `^serving demo data on http://127\.0\.0\.1:\d+, try:\n`, out)
	urls := demoCommands(t, out)
	require.Len(t, urls, 4)
	for _, u := range urls {
		status, body := testutil.Get(t, u, "")
		assert.Equal(t, 200, status, "%s: %s", u, body)
	}
	status, body := testutil.Get(t, urls[0], "")
	require.Equal(t, 200, status)
	assert.Contains(t, body, `"code_redacted": true`, "the sample method shows a redacted PIN")
	status, body = testutil.Get(t, r.base+"/readyz", "")
	assert.Equal(t, 200, status, body)
	status, body = testutil.Get(t, r.base+"/metrics", "")
	require.Equal(t, 200, status)
	assert.Regexp(t, `amtrack_events_appended_total\{event_type="access_method.issued"\} \d+`, body)

	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	require.Len(t, entries, 1, "demo's temporary directory")
	require.NoError(t, r.stop())
	_, err = os.Stat(filepath.Join(tmp, entries[0].Name()))
	assert.True(t, os.IsNotExist(err), "the temporary database is removed on exit")
}
