package seam_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/seam"
)

// listAPI is a small /events/list: events filtered by created_at strictly
// inside between, in a shuffled but stable order, paged by limit and
// unstable_offset (or, with ignorePaging, all at once as the
// fake-seam-connect package does). It records the requests.
type listAPI struct {
	mu           sync.Mutex
	events       []testEvent
	ignorePaging bool
	failWindow   int // answer 400 to requests of this window (1-based; 0: never)
	requests     []listRequest
	windows      []string
}

type testEvent struct {
	id      string
	created time.Time
}

type listRequest struct {
	Between        []string `json:"between"`
	Limit          int      `json:"limit"`
	UnstableOffset int      `json:"unstable_offset"`
}

func (a *listAPI) raw(e testEvent) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"event_id":%q,"created_at":%q}`, e.id, e.created.Format(time.RFC3339Nano)))
}

func (a *listAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req listRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests = append(a.requests, req)
	if len(a.windows) == 0 || a.windows[len(a.windows)-1] != req.Between[0] {
		a.windows = append(a.windows, req.Between[0])
	}
	if a.failWindow == len(a.windows) {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":{"type":"invalid_input","message":"no"}}`)
		return
	}
	after, _ := time.Parse(time.RFC3339Nano, req.Between[0])
	before, _ := time.Parse(time.RFC3339Nano, req.Between[1])
	var match []json.RawMessage
	for _, e := range a.events {
		if e.created.After(after) && e.created.Before(before) {
			match = append(match, a.raw(e))
		}
	}
	// A stable shuffle per window: order is not documented.
	rng := rand.New(rand.NewPCG(uint64(after.UnixNano()), 7))
	rng.Shuffle(len(match), func(i, j int) { match[i], match[j] = match[j], match[i] })
	if !a.ignorePaging {
		match = match[min(req.UnstableOffset, len(match)):]
		match = match[:min(req.Limit, len(match))]
	}
	if match == nil {
		match = []json.RawMessage{}
	}
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "events": match})
}

// memLog is a Sink and Checkpoints in memory, idempotent by event_id as the
// log is.
type memLog struct {
	mu          sync.Mutex
	events      map[string]string
	appends     int
	checkpoints map[string]time.Time
	history     []time.Time
}

func newMemLog() *memLog {
	return &memLog{events: map[string]string{}, checkpoints: map[string]time.Time{}}
}

func (m *memLog) Append(_ context.Context, events []json.RawMessage) (seam.Counts, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.appends++
	var c seam.Counts
	for _, raw := range events {
		var e struct {
			EventID string `json:"event_id"`
		}
		switch {
		case json.Unmarshal(raw, &e) != nil || e.EventID == "":
			c.Rejected++
		case m.events[e.EventID] != "":
			c.Duplicates++
		default:
			m.events[e.EventID] = string(raw)
			c.Appended++
		}
	}
	return c, nil
}

func (m *memLog) SyncCheckpoint(_ context.Context, endpoint string) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.checkpoints[endpoint]
	return t, ok, nil
}

func (m *memLog) SetSyncCheckpoint(_ context.Context, endpoint string, t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkpoints[endpoint] = t
	m.history = append(m.history, t)
	return nil
}

var t10 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// spread returns n events created evenly from start over span, plus the
// given extra instants.
func spread(n int, start time.Time, span time.Duration, extra ...time.Time) []testEvent {
	var out []testEvent
	for i := range n {
		out = append(out, testEvent{id: fmt.Sprintf("ev-%04d", i), created: start.Add(span * time.Duration(i) / time.Duration(n))})
	}
	for i, t := range extra {
		out = append(out, testEvent{id: fmt.Sprintf("edge-%d", i), created: t})
	}
	return out
}

func newSyncer(t *testing.T, api *listAPI, log *memLog) *seam.Syncer {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &seam.Syncer{
		Client:      &seam.Client{Endpoint: srv.URL, APIKey: "k", Backoff: time.Millisecond},
		Sink:        log,
		Checkpoints: log,
		Window:      time.Hour,
		Overlap:     10 * time.Minute,
		Limit:       10,
	}
}

func TestSyncWindows(t *testing.T) {
	until := t10.Add(2*time.Hour + 30*time.Minute)
	api := &listAPI{events: spread(200, t10.Add(-time.Hour), 4*time.Hour,
		t10, t10.Add(time.Hour), until.Add(-time.Millisecond), // on or next to window boundaries: in
		t10.Add(-time.Millisecond), until)} // just outside [t10, until): out (until is the next sync's)
	log := newMemLog()
	s := newSyncer(t, api, log)
	var progress []string
	s.Progress = func(done, total int) { progress = append(progress, fmt.Sprintf("%d/%d", done, total)) }

	res, err := s.Sync(context.Background(), t10, until)
	require.NoError(t, err)

	// Windows end at 11:00, 11:50 and 12:30, each starting 10 min before the
	// previous end (and a millisecond earlier still: between is exclusive).
	assert.Equal(t, []string{"2026-03-01T09:59:59.999Z", "2026-03-01T10:49:59.999Z", "2026-03-01T11:39:59.999Z"}, api.windows)
	assert.Equal(t, []time.Time{t10.Add(time.Hour), t10.Add(110 * time.Minute), until}, log.history)
	assert.Equal(t, []string{"1/3", "2/3", "3/3"}, progress)
	assert.Equal(t, 3, res.Windows)
	assert.Equal(t, until, res.Checkpoint)
	assert.Equal(t, t10, res.From)
	assert.Equal(t, until, res.Until)

	// Every event in [t10, until) landed once; the overlaps were duplicates.
	var want []string
	for _, e := range api.events {
		if !e.created.Before(t10) && e.created.Before(until) {
			want = append(want, e.id)
		}
	}
	var got []string
	for id := range log.events {
		got = append(got, id)
	}
	sort.Strings(want)
	sort.Strings(got)
	assert.Equal(t, want, got)
	assert.Contains(t, got, "edge-0")
	assert.Contains(t, got, "edge-1")
	assert.Contains(t, got, "edge-2")
	assert.Equal(t, len(want), res.Appended)
	assert.Equal(t, 0, res.Rejected)
	assert.Equal(t, res.Events, res.Appended+res.Duplicates)
	assert.Equal(t, 2*(200/24), res.Duplicates, "two 10-minute overlaps of 200 events over 4 h")

	// A second sync of the same span appends nothing.
	again, err := s.Sync(context.Background(), t10, until)
	require.NoError(t, err)
	assert.Equal(t, 0, again.Appended)
	assert.Equal(t, res.Events, again.Duplicates)

	// Resume starts an overlap before the checkpoint.
	from, err := s.Resume(context.Background())
	require.NoError(t, err)
	assert.Equal(t, until.Add(-10*time.Minute), from)
}

func TestSyncPaging(t *testing.T) {
	api := &listAPI{events: spread(57, t10, 30*time.Minute)}
	log := newMemLog()
	s := newSyncer(t, api, log)
	res, err := s.Sync(context.Background(), t10, t10.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 57, res.Appended)
	assert.Equal(t, 0, res.Duplicates)
	var offsets []int
	for _, r := range api.requests {
		offsets = append(offsets, r.UnstableOffset)
		assert.Equal(t, 10, r.Limit)
	}
	assert.Equal(t, []int{0, 10, 20, 30, 40, 50}, offsets, "pages until a short page")

	// A window of exactly a multiple of the limit ends with an empty page.
	api = &listAPI{events: spread(20, t10, 30*time.Minute)}
	s = newSyncer(t, api, newMemLog())
	res, err = s.Sync(context.Background(), t10, t10.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 20, res.Appended)
	assert.Len(t, api.requests, 3)
}

// The fake-seam-connect package ignores limit and unstable_offset: every
// request returns the whole window. Sync must still end, landing each once.
func TestSyncServerIgnoresPaging(t *testing.T) {
	for _, n := range []int{5, 10, 25} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			api := &listAPI{events: spread(n, t10, 30*time.Minute), ignorePaging: true}
			log := newMemLog()
			res, err := newSyncer(t, api, log).Sync(context.Background(), t10, t10.Add(time.Hour))
			require.NoError(t, err)
			assert.Equal(t, n, res.Appended)
			assert.Equal(t, 0, res.Duplicates, "a repeated page is not appended again")
			assert.LessOrEqual(t, len(api.requests), 2)
		})
	}
}

func TestSyncErrorKeepsCheckpoint(t *testing.T) {
	api := &listAPI{events: spread(100, t10, 3*time.Hour), failWindow: 2}
	log := newMemLog()
	s := newSyncer(t, api, log)
	res, err := s.Sync(context.Background(), t10, t10.Add(3*time.Hour))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "400 Bad Request (invalid_input: no)")
	assert.Equal(t, 1, res.Windows)
	assert.Equal(t, t10.Add(time.Hour), res.Checkpoint)
	assert.Equal(t, []time.Time{t10.Add(time.Hour)}, log.history)
	from, err := s.Resume(context.Background())
	require.NoError(t, err)
	assert.Equal(t, t10.Add(50*time.Minute), from)
}

func TestSyncNothingToDo(t *testing.T) {
	api := &listAPI{}
	log := newMemLog()
	s := newSyncer(t, api, log)
	res, err := s.Sync(context.Background(), t10, t10)
	require.NoError(t, err)
	assert.Zero(t, res.Windows)
	assert.Empty(t, api.requests)
	assert.Empty(t, log.history)

	_, err = s.Resume(context.Background())
	assert.True(t, errors.Is(err, seam.ErrNoCheckpoint))

	s.Overlap = time.Hour
	_, err = s.Sync(context.Background(), t10, t10.Add(time.Hour))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "overlap (1h0m0s) must be shorter than the window (1h0m0s)")
}
