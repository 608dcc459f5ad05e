package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/seam"
	"github.com/amtrack/amtrack/store"
)

const fakeSeamKey = "seam_test1_amtrack"

// fakeSeam is an httptest /events/list that behaves as Seam may: events
// filtered by created_at strictly inside between and by event_types, in a
// shuffled order (stable per window, so offsets mean something), some
// served twice, paged by limit and unstable_offset, with a 429 or a 500
// answered instead of chosen requests. Events are written byte for byte.
type fakeSeam struct {
	*httptest.Server
	mu       sync.Mutex
	events   []fakeEvent
	hidden   map[string]bool // ids not visible yet
	faults   map[int]int     // request number (1-based) => status answered instead
	requests []fakeRequest
}

type fakeEvent struct {
	id, typ string
	created time.Time
	raw     []byte
}

type fakeRequest struct {
	Between        []string `json:"between"`
	EventTypes     []string `json:"event_types"`
	Limit          int      `json:"limit"`
	UnstableOffset int      `json:"unstable_offset"`
}

func newFakeSeam(t *testing.T, raws [][]byte) *fakeSeam {
	t.Helper()
	f := &fakeSeam{hidden: map[string]bool{}, faults: map[int]int{}}
	for _, raw := range raws {
		var e struct {
			ID        string    `json:"event_id"`
			Type      string    `json:"event_type"`
			CreatedAt time.Time `json:"created_at"`
		}
		require.NoError(t, json.Unmarshal(raw, &e), "%s", raw)
		f.events = append(f.events, fakeEvent{id: e.ID, typ: e.Type, created: e.CreatedAt, raw: raw})
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSeam) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/events/list" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+fakeSeamKey {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"type":"unauthorized","message":"API Key not found"},"ok":false}`)
		return
	}
	var req fakeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Between) != 2 || len(req.EventTypes) == 0 {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"type":"invalid_input","message":"bad request"},"ok":false}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	if status := f.faults[len(f.requests)]; status != 0 {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(status)
		return
	}
	after, err1 := time.Parse(time.RFC3339Nano, req.Between[0])
	before, err2 := time.Parse(time.RFC3339Nano, req.Between[1])
	if err1 != nil || err2 != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var list [][]byte
	for _, e := range f.events {
		if e.created.After(after) && e.created.Before(before) && slices.Contains(req.EventTypes, e.typ) && !f.hidden[e.id] {
			list = append(list, e.raw)
		}
	}
	for i := 0; i < len(list); i += 7 {
		list = append(list, list[i]) // served twice
	}
	rng := rand.New(rand.NewPCG(uint64(after.UnixNano()), 1))
	rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	list = list[min(req.UnstableOffset, len(list)):]
	list = list[:min(req.Limit, len(list))]
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"events":[%s],"ok":true}`, bytes.Join(list, []byte(",")))
}

// generated returns generate's stream for methods and seed and, of it, the
// events sync asks for (access_method.* and access_grant.*).
func generated(t *testing.T, methods int, seed uint64) (all, synced [][]byte) {
	t.Helper()
	all = testutil.Stream(t, methods, seed)
	for _, raw := range all {
		var e struct {
			Type string `json:"event_type"`
		}
		require.NoError(t, json.Unmarshal(raw, &e))
		if slices.Contains(seam.EventTypes, e.Type) {
			synced = append(synced, raw)
		}
	}
	return all, synced
}

// dumpDB returns the projection dump of the database at path.
func dumpDB(t *testing.T, path string) string {
	t.Helper()
	ctx := context.Background()
	a, err := openTestApp(t, path)
	require.NoError(t, err)
	defer a.Close()
	var b bytes.Buffer
	require.NoError(t, a.proj.Dump(ctx, &b))
	return b.String()
}

// webhookDump feeds raws through the group-commit writer from several
// goroutines, as the webhook receiver does, and returns the projection dump.
func webhookDump(t *testing.T, raws [][]byte) string {
	t.Helper()
	ctx := context.Background()
	path := tempDB(t)
	a, err := openTestApp(t, path)
	require.NoError(t, err)
	w := store.NewWriter(a.db, a.proj.Apply, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(raws); i += 8 {
				ev, err := domain.ParseEvent(raws[i])
				if assert.NoError(t, err) {
					_, err = w.Append(ctx, []store.Pending{{Event: ev, Source: store.SourceWebhook, MessageID: fmt.Sprint("msg_", i)}})
					assert.NoError(t, err)
				}
			}
		}()
	}
	wg.Wait()
	w.Close()
	require.NoError(t, a.Close())
	return dumpDB(t, path)
}

// logPayloads returns the log's payloads (as received: opened with the key
// file beside the database) by event id and the sources seen.
func logPayloads(t *testing.T, path string) (map[string]string, map[string]int) {
	t.Helper()
	db, err := store.OpenReadOnlyOptions(context.Background(), path, store.Options{Keyring: dbtest.Keyring(t, path)})
	require.NoError(t, err)
	defer db.Close()
	page, err := db.Log().Events(context.Background(), store.EventFilter{})
	require.NoError(t, err)
	payloads, sources := map[string]string{}, map[string]int{}
	for _, rec := range page.Records {
		payloads[hex.EncodeToString(rec.Event.ID[:])] = string(rec.Event.Raw)
		sources[rec.Source]++
	}
	return payloads, sources
}

// hexID returns an event's event_id as the log's lower(hex(event_id)).
func hexID(t *testing.T, raw []byte) string {
	t.Helper()
	id := rawEventID(raw)
	return strings.ReplaceAll(id, "-", "")
}

func syncArgs(f *fakeSeam, db string, extra ...string) []string {
	return append([]string{"sync", "--db", db, "--endpoint", f.URL, "--api-key", fakeSeamKey,
		"--window", "20m", "--overlap", "5m", "--limit", "25"}, extra...)
}

// TestSync backfills a generated stream from a fake Seam that shuffles,
// repeats events, answers a 429 and a 500, and shows one event late: every
// event lands exactly once with source sync, byte for byte, and the
// projection equals the one built from the same events sent as webhooks.
func TestSync(t *testing.T) {
	t.Parallel()
	all, synced := generated(t, 80, 6)
	since := "2026-01-05T07:59:00Z"
	until := time.Date(2026, 1, 5, 14, 0, 0, 0, time.UTC)
	// One more event, created 2 minutes before the first run's end, that
	// Seam shows only after that run: the resumed run's overlap finds it.
	late := []byte(strings.Replace(testutil.MethodEvent(9001, "created", ""), `"2026-03-01T10:30:01.250Z"`, `"2026-01-05T13:58:00.5Z"`, 2))
	fake := newFakeSeam(t, append(slices.Clone(all), late))
	fake.hidden[mustID(t, late)] = true
	fake.faults[2] = http.StatusTooManyRequests
	fake.faults[5] = http.StatusInternalServerError
	db := tempDB(t)

	got := runCLI(t, "", syncArgs(fake, db, "--since", since, "--until", until.Format(time.RFC3339))...)
	require.Equal(t, 0, got.code, got.stderr)
	var n, appended, dups int
	_, err := fmt.Sscanf(got.stdout, "synced %d events (appended %d, duplicates %d) up to 2026-01-05T14:00:00Z\n", &n, &appended, &dups)
	require.NoError(t, err, got.stdout)
	assert.Equal(t, len(synced), appended, "each event appended once")
	assert.Equal(t, n, appended+dups)
	assert.Greater(t, dups, 0, "overlapping windows fetch some events twice")
	assert.Contains(t, got.stderr, "seam answered 429 Too Many Requests; retrying in 0s")
	assert.Contains(t, got.stderr, "seam answered 500 Internal Server Error; retrying in")
	assert.Equal(t, 2, strings.Count(got.stderr, "\n"), "only the two retries on stderr: %s", got.stderr)
	for _, r := range fake.requests {
		assert.Equal(t, seam.EventTypes, r.EventTypes)
	}
	assert.Greater(t, len(fake.requests), 30, "many windows and pages were walked")

	payloads, sources := logPayloads(t, db)
	assert.Equal(t, map[string]int{store.SourceSync: len(synced)}, sources)
	require.Len(t, payloads, len(synced))
	for _, raw := range synced {
		assert.Equal(t, string(raw), payloads[hexID(t, raw)], "the payload is stored as Seam sent it")
	}
	assert.Equal(t, webhookDump(t, synced), dumpDB(t, db), "sync and webhooks build the same projection")

	// The late event shows up; the next run resumes an overlap before the
	// checkpoint, finds it and appends nothing else.
	fake.mu.Lock()
	fake.hidden = map[string]bool{}
	before := len(fake.requests)
	fake.mu.Unlock()
	got = runCLI(t, "", syncArgs(fake, db, "--until", until.Add(30*time.Minute).Format(time.RFC3339))...)
	require.Equal(t, 0, got.code, got.stderr)
	assert.Regexp(t, `^synced \d+ events \(appended 1, duplicates \d+\) up to 2026-01-05T14:30:00Z\n$`, got.stdout)
	assert.Equal(t, "2026-01-05T13:54:59.999Z", fake.requests[before].Between[0], "resumed 5m before the checkpoint")
	payloads, _ = logPayloads(t, db)
	assert.Equal(t, string(late), payloads[hexID(t, late)])

	// Nothing new: a third run appends nothing; the projection still
	// equals the webhooks' one, and verify agrees with it.
	got = runCLI(t, "", syncArgs(fake, db, "--until", until.Add(30*time.Minute).Format(time.RFC3339))...)
	require.Equal(t, 0, got.code, got.stderr)
	assert.Regexp(t, `^synced \d+ events \(appended 0, duplicates \d+\) up to 2026-01-05T14:30:00Z\n$`, got.stdout)
	assert.Equal(t, webhookDump(t, append(slices.Clone(synced), late)), dumpDB(t, db))
	got = runCLI(t, "", "verify", "--db", db)
	assert.Equal(t, 0, got.code, got.stdout+got.stderr)
}

func mustID(t *testing.T, raw []byte) string {
	t.Helper()
	id := rawEventID(raw)
	require.NotEmpty(t, id)
	return id
}

func TestSyncUnauthorized(t *testing.T) {
	_, synced := generated(t, 5, 1)
	fake := newFakeSeam(t, synced)
	db := tempDB(t)
	args := syncArgs(fake, db, "--since", "2026-01-05T00:00:00Z", "--until", "2026-01-06T00:00:00Z")
	args[slices.Index(args, fakeSeamKey)] = "seam_wrong"
	got := runCLI(t, "", args...)
	assert.Equal(t, 1, got.code)
	assert.Equal(t, "amtrack: SEAM_API_KEY was refused (401): check the key\n", got.stderr)
	assert.Empty(t, got.stdout)
	assert.Len(t, fake.requests, 0, "refused before anything was listed")
	payloads, _ := logPayloads(t, db)
	assert.Empty(t, payloads)

	// Without a checkpoint, sync needs --since.
	got = runCLI(t, "", syncArgs(fake, db)...)
	assert.Equal(t, 2, got.code)
	assert.Contains(t, got.stderr, "no sync checkpoint for "+fake.URL)
	assert.Contains(t, got.stderr, "give --since")
}

// TestSyncRejected: a malformed event and a conflicting one are reported
// and counted, the rest is appended, and the checkpoint still moves.
func TestSyncRejected(t *testing.T) {
	db := tempDB(t)
	stored, logged := testutil.MethodEvent(1, "created", ""), testutil.MethodEvent(4, "created", "")
	got := runCLI(t, stored+"\n"+logged+"\n", "ingest", "--db", db, "-")
	require.Equal(t, 0, got.code, got.stderr)
	conflicting := strings.Replace(stored, `"event_description":"An access method event."`, `"event_description":"Changed."`, 1)
	malformed := strings.Replace(testutil.MethodEvent(2, "created", ""), `"access_method_id"`, `"access_method"`, 1)
	fake := newFakeSeam(t, [][]byte{[]byte(conflicting), []byte(malformed), []byte(testutil.MethodEvent(3, "created", "")), []byte(logged)})

	got = runCLI(t, "", syncArgs(fake, db, "--since", "2026-03-01T00:00:00Z", "--until", "2026-03-02T00:00:00Z", "--window", "24h")...)
	assert.Equal(t, 1, got.code)
	assert.Equal(t, "synced 4 events (appended 1, duplicates 1, rejected 2) up to 2026-03-02T00:00:00Z\n", got.stdout)
	lines := stderrLines(got)
	require.Len(t, lines, 2, got.stderr)
	assert.Contains(t, got.stderr, "seam event "+testutil.EventID(2)+`: access_method.created: field "access_method_id"`)
	assert.Contains(t, got.stderr, "seam event "+testutil.EventID(1)+": ")
	assert.Contains(t, got.stderr, "different body")

	// The checkpoint moved: the next run resumes from it.
	got = runCLI(t, "", syncArgs(fake, db, "--until", "2026-03-02T01:00:00Z")...)
	assert.Equal(t, 0, got.code, got.stderr)
	assert.Equal(t, "synced 0 events (appended 0, duplicates 0) up to 2026-03-02T01:00:00Z\n", got.stdout)
}

func TestSyncUsage(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--since", "2026-01-01T00:00:00Z"}, "SEAM_API_KEY is not set: export it or pass --api-key"},
		{[]string{"--api-key", "k", "--since", "yesterday"}, `--since must be an RFC 3339 time such as 2026-11-01T00:00:00Z, got "yesterday"`},
		{[]string{"--api-key", "k", "--until", "2026-01-01"}, `--until must be an RFC 3339 time`},
		{[]string{"--api-key", "k", "--since", "2026-02-01T00:00:00Z", "--until", "2026-01-01T00:00:00Z"}, "--since (2026-02-01T00:00:00Z) must be before --until"},
		{[]string{"--api-key", "k", "--window", "1h", "--overlap", "1h"}, "--overlap must be at least 0 and shorter than --window (1h0m0s), got 1h0m0s"},
		{[]string{"--api-key", "k", "--window", "0s"}, "--window must be positive"},
		{[]string{"--api-key", "k", "--limit", "0"}, "--limit must be at least 1"},
		{[]string{"--api-key", "k", "extra"}, `sync takes no arguments, got ["extra"]`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got := runCLI(t, "", append([]string{"sync", "--db", db}, tt.args...)...)
			assert.Equal(t, 2, got.code)
			assert.Contains(t, got.stderr, tt.want)
			assert.Empty(t, got.stdout)
		})
	}
	assertNoDatabase(t, db, "a usage error creates no database")
}

// recentEvents returns n access_method.created events created over the
// last two hours.
func recentEvents(n int) [][]byte {
	now := time.Now().UTC()
	var out [][]byte
	for i := range n {
		out = append(out, []byte(testutil.Payload{N: i, Type: "created", At: now.Add(-2*time.Hour + time.Duration(i)*time.Minute)}.JSON()))
	}
	return out
}

// TestSyncLongSpan runs `amtrack sync --since` 20 years back over a few
// hundred events, some in bursts of more than a page: the windows grow over
// the empty stretches and shrink on the bursts, so the walk takes a few
// hundred requests where hourly windows would take 175,000 (the fake
// answers 400 past the bound, so such a walk fails at once).
func TestSyncLongSpan(t *testing.T) {
	const limit = 25
	from := time.Date(2006, 1, 1, 0, 0, 0, 0, time.UTC)
	until := from.AddDate(20, 0, 0)
	span := until.Sub(from)
	rng := rand.New(rand.NewPCG(20, 26))
	var raws [][]byte
	add := func(n int, start time.Time, over time.Duration) {
		for range n {
			at := start.Add(time.Duration(rng.Int64N(int64(over)))).Truncate(time.Millisecond)
			raws = append(raws, []byte(testutil.Payload{N: len(raws), Type: "created", At: at}.JSON()))
		}
	}
	add(300, from, span)
	add(3*limit-5, from.AddDate(7, 1, 2), 30*time.Minute) // pages in one window
	add(2*limit, from.AddDate(15, 3, 4), 48*time.Hour)    // more than a page over two days
	fake := newFakeSeam(t, raws)
	pages := (len(raws) + limit - 1) / limit
	levels := int(math.Log2(float64(span / seam.DefaultWindow)))
	// Each page of events costs at most a descent (two requests per
	// halving) and a climb (one per doubling), plus its own pages, twice
	// over as the fake serves some events twice.
	bound := (pages+1)*(3*levels+4) + 2*pages
	fake.faults[bound+1] = http.StatusBadRequest
	db := tempDB(t)

	got := runCLI(t, "", "sync", "--db", db, "--endpoint", fake.URL, "--api-key", fakeSeamKey, "--limit", fmt.Sprint(limit),
		"--since", from.Format(time.RFC3339), "--until", until.Format(time.RFC3339))
	require.Equal(t, 0, got.code, got.stderr)
	var n, appended, dups int
	_, err := fmt.Sscanf(got.stdout, "synced %d events (appended %d, duplicates %d) up to 2026-01-01T00:00:00Z\n", &n, &appended, &dups)
	require.NoError(t, err, got.stdout)
	assert.Equal(t, len(raws), appended, "each event appended once")
	payloads, sources := logPayloads(t, db)
	assert.Len(t, payloads, len(raws))
	assert.Equal(t, map[string]int{store.SourceSync: len(raws)}, sources)
	t.Logf("%d events, %d requests (at most %d)", len(raws), len(fake.requests), bound)
	assert.LessOrEqual(t, len(fake.requests), bound)
	var longest time.Duration
	for _, r := range fake.requests {
		after, _ := time.Parse(time.RFC3339Nano, r.Between[0])
		before, _ := time.Parse(time.RFC3339Nano, r.Between[1])
		longest = max(longest, before.Sub(after))
	}
	assert.Greater(t, longest, 365*24*time.Hour, "the windows grew to years")

	// --window is the first and shortest window.
	got = runCLI(t, "", "sync", "--help")
	assert.Contains(t, got.stderr+got.stdout, "span of the first and shortest time window of the walk")
}

// TestServeSync runs serve --sync-interval against the fake Seam: the
// background sync fills the log (source sync) next to the webhook receiver,
// and serve stops cleanly.
func TestServeSync(t *testing.T) {
	t.Parallel()
	events := recentEvents(30)
	fake := newFakeSeam(t, events)
	fake.faults[1] = http.StatusInternalServerError
	cfg := loadConfig(environ{"SEAM_ENDPOINT": fake.URL}.get)
	db := tempDB(t)

	got := runCLIWith(t, cfg, "", "serve", "--db", db, "--addr", "127.0.0.1:0", "--sync-interval", "1h")
	assert.Equal(t, 2, got.code)
	assert.Contains(t, got.stderr, "--sync-interval needs SEAM_API_KEY")

	cfg.SeamAPIKey = fakeSeamKey
	r := startRunWith(t, cfg, "serve", "--db", db, "--addr", "127.0.0.1:0", "--sync-interval", "1h")
	deadline := time.Now().Add(30 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		var status int
		status, body = testutil.Get(t, r.base+"/v1/events?limit=1000", "")
		require.Equal(t, 200, status, body)
		if strings.Count(body, `"seq"`) == len(events) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, len(events), strings.Count(body, `"seq"`), "synced in the background: %s\n%s", r.stderr, body)
	assert.Len(t, regexp.MustCompile(`"source":\s*"sync"`).FindAllString(body, -1), len(events))
	for !strings.Contains(r.stderr.String(), "msg=sync ") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.Contains(t, r.stderr.String(), "sync: no checkpoint yet, syncing the last 24h0m0s")
	assert.Contains(t, r.stderr.String(), "msg=\"sync: retrying\"")
	assert.Regexp(t, `msg=sync events=\d+ appended=30 duplicates=\d+ rejected=0 `, r.stderr.String())
	require.NoError(t, r.stop())

	// The checkpoint was stored: a sync from the command line resumes.
	got = runCLIWith(t, cfg, "", "sync", "--db", db)
	assert.Equal(t, 0, got.code, got.stderr)
	assert.Regexp(t, `^synced \d+ events \(appended 0, duplicates \d+\) up to `, got.stdout)
}

// fakeSeamConnect is the fake Seam API server from npm
// (@seamapi/fake-seam-connect), run by testdata/fakeseam/fakeseam.mjs.
type fakeSeamConnect struct {
	URL, APIKey, WorkspaceID string
	stdin                    io.WriteCloser
	out                      *bufio.Scanner
}

// startFakeSeamConnect starts the fake on 127.0.0.1, or skips the test when
// node or the package is missing.
func startFakeSeamConnect(t *testing.T) *fakeSeamConnect {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "fakeseam"))
	require.NoError(t, err)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the test against @seamapi/fake-seam-connect")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@seamapi", "fake-seam-connect", "package.json")); err != nil {
		t.Skipf("@seamapi/fake-seam-connect is not installed: run `npm ci` in %s (.ci/run does) to run this test", dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "fakeseam.mjs")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close() // the script exits when its stdin closes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	f := &fakeSeamConnect{stdin: stdin, out: bufio.NewScanner(stdout)}
	f.out.Buffer(nil, 1<<20)
	started := make(chan error, 1)
	go func() {
		if !f.out.Scan() {
			started <- fmt.Errorf("fakeseam.mjs ended before printing its URL: %v", f.out.Err())
			return
		}
		var hello struct {
			URL         string `json:"url"`
			APIKey      string `json:"api_key"`
			WorkspaceID string `json:"workspace_id"`
		}
		err := json.Unmarshal(f.out.Bytes(), &hello)
		f.URL, f.APIKey, f.WorkspaceID = hello.URL, hello.APIKey, hello.WorkspaceID
		started <- err
	}()
	select {
	case err := <-started:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("fakeseam.mjs did not start within a minute")
	}
	require.True(t, strings.HasPrefix(f.URL, "http://127.0.0.1:"), "bound to loopback: %s", f.URL)
	return f
}

// do sends one command to the fake and returns its answer.
func (f *fakeSeamConnect) do(t *testing.T, cmd any) map[string]any {
	t.Helper()
	b, err := json.Marshal(cmd)
	require.NoError(t, err)
	_, err = f.stdin.Write(append(b, '\n'))
	require.NoError(t, err)
	require.True(t, f.out.Scan(), "fakeseam.mjs answered nothing: %v", f.out.Err())
	var answer map[string]any
	require.NoError(t, json.Unmarshal(f.out.Bytes(), &answer))
	require.Equal(t, true, answer["ok"], "%s", f.out.Bytes())
	return answer
}

// TestSyncFakeSeamConnect syncs from Seam's own fake server with events
// injected through its JavaScript API.
func TestSyncFakeSeamConnect(t *testing.T) {
	fake := startFakeSeamConnect(t)
	now := time.Now().UTC()
	at := func(ago time.Duration) string { return now.Add(-ago).Format("2006-01-02T15:04:05.000Z") }
	method := "d5a1c7e3-9f2b-4d6a-b8c4-0000000000aa"
	event := func(n int, typ string, ago time.Duration, extra map[string]any) map[string]any {
		e := map[string]any{"event_id": testutil.EventID(900 + n), "event_type": typ, "workspace_id": fake.WorkspaceID,
			"created_at": at(ago), "occurred_at": at(ago), "event_description": "An access method event.",
			"access_method_id": method, "access_grant_ids": []string{testutil.GrantID}}
		for k, v := range extra {
			e[k] = v
		}
		return e
	}
	fake.do(t, map[string]any{"op": "add_events", "events": []any{
		event(1, domain.TypeCreated, 3*time.Hour, nil),
		event(2, domain.TypeIssued, 150*time.Minute, map[string]any{"code": "4821"}),
		event(3, domain.TypeRevoked, 2*time.Hour, nil),
		event(4, domain.TypeReissued, 90*time.Minute, map[string]any{"code": "4821"}),
		map[string]any{"event_type": "device.connected", "workspace_id": fake.WorkspaceID, "device_id": "august_device_1",
			"created_at": at(80 * time.Minute), "occurred_at": at(80 * time.Minute)}, // not asked for
	}})

	db := tempDB(t)
	got := runCLIWith(t, Config{SeamAPIKey: fake.APIKey}, "", "sync", "--db", db, "--endpoint", fake.URL, "--since", at(4*time.Hour), "--window", "1h")
	require.Equal(t, 0, got.code, got.stderr)
	// Windows overlap by 10 minutes: an event in an overlap is fetched twice.
	assert.Regexp(t, `^synced \d+ events \(appended 4, duplicates \d+\) up to `, got.stdout)
	show := runCLI(t, "", "show", "--db", db, "--reveal-codes", method)
	require.Equal(t, 0, show.code, show.stderr)
	assert.Contains(t, show.stdout, `"status": "issued"`)
	assert.Contains(t, show.stdout, `"reissue_count": 1`)
	assert.Contains(t, show.stdout, `"code": "4821"`)
	_, sources := logPayloads(t, db)
	assert.Equal(t, map[string]int{store.SourceSync: 4}, sources)

	// An event that Seam shows late, created before the checkpoint, during
	// an outage of /events/list: the resumed sync retries through the 503s
	// and finds it in its overlap.
	fake.do(t, map[string]any{"op": "add_events", "events": []any{event(5, domain.TypeDeleted, 3*time.Minute, nil)}})
	fake.do(t, map[string]any{"op": "outage", "routes": []string{"/events/list"}})
	done := make(chan result, 1)
	var stdout, stderr testutil.Buffer
	args := []string{"sync", "--db", db, "--endpoint", fake.URL}
	cfg := withTestKey(t, Config{SeamAPIKey: fake.APIKey}, args) // on the test's goroutine: it may fail the test
	go func() {
		err := Run(context.Background(), cfg, args, strings.NewReader(""), &stdout, &stderr)
		done <- result{stdout: stdout.String(), stderr: stderr.String(), code: exitCode(err, &stderr)}
	}()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(stderr.String(), "retrying"); {
		require.True(t, time.Now().Before(deadline), "no retry after a minute: %s", stderr.String())
		time.Sleep(5 * time.Millisecond)
	}
	fake.do(t, map[string]any{"op": "recover"})
	got = <-done
	require.Equal(t, 0, got.code, got.stderr)
	assert.Contains(t, got.stderr, "seam answered 503 Service Unavailable; retrying in")
	assert.Regexp(t, `^synced \d+ events \(appended 1, duplicates \d+\) up to `, got.stdout)
	show = runCLI(t, "", "show", "--db", db, method)
	assert.Contains(t, show.stdout, `"status": "deleted"`)

	// A key the fake does not know.
	got = runCLI(t, "", "sync", "--db", db, "--endpoint", fake.URL, "--api-key", "seam_unknown_key")
	assert.Equal(t, 1, got.code)
	assert.Equal(t, "amtrack: SEAM_API_KEY was refused (401): check the key\n", got.stderr)
}
