package seam_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
	maxRequests  int // answer 400 to every request past this many (0: no limit)
	requests     []listRequest
	answered     []int // events answered, per request
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
	if a.maxRequests > 0 && len(a.requests) > a.maxRequests {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":{"type":"invalid_input","message":"over %d requests"}}`, a.maxRequests)
		return
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
	a.answered = append(a.answered, len(match))
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
	// With expect set, each checkpoint t records in passed the ids of the
	// events of expect created in [expectFrom, t) not logged yet.
	expect     []testEvent
	expectFrom time.Time
	passed     []string
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
	for _, e := range m.expect {
		if !e.created.Before(m.expectFrom) && e.created.Before(t) && m.events[e.id] == "" {
			m.passed = append(m.passed, fmt.Sprintf("checkpoint %s passed %s created %s", t.Format(time.RFC3339Nano), e.id, e.created.Format(time.RFC3339Nano)))
		}
	}
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

// scatter returns n events with ids prefix-000... created at random
// milliseconds in [start, start+span).
func scatter(rng *rand.Rand, prefix string, n int, start time.Time, span time.Duration) []testEvent {
	out := make([]testEvent, n)
	for i := range out {
		at := start.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Millisecond)
		out[i] = testEvent{id: fmt.Sprintf("%s-%03d", prefix, i), created: at}
	}
	return out
}

// syncAll syncs [from, until) with every event of api expected in it and
// checks what every sync promises: each event in the span lands exactly
// once, none outside it, and no checkpoint passes an event not fetched yet.
func syncAll(t *testing.T, api *listAPI, s *seam.Syncer, log *memLog, from, until time.Time) seam.Result {
	t.Helper()
	log.expect, log.expectFrom = api.events, from
	res, err := s.Sync(context.Background(), from, until)
	require.NoError(t, err)
	var want, got []string
	for _, e := range api.events {
		if !e.created.Before(from) && e.created.Before(until) {
			want = append(want, e.id)
		}
	}
	for id := range log.events {
		got = append(got, id)
	}
	sort.Strings(want)
	sort.Strings(got)
	assert.Equal(t, want, got, "every event of the span, and only those")
	assert.Equal(t, len(want), res.Appended, "each appended once")
	assert.Equal(t, res.Events, res.Appended+res.Duplicates)
	assert.Empty(t, log.passed, "a checkpoint never passes an event not fetched yet")
	assert.Len(t, log.history, res.Windows, "a checkpoint per complete window")
	for i := 1; i < len(log.history); i++ {
		assert.True(t, log.history[i].After(log.history[i-1]), "checkpoints only move forward: %v", log.history)
	}
	assert.Equal(t, until, res.Checkpoint)
	return res
}

// TestSyncLongSpan backfills 20 years that hold a few hundred events, most
// spread thin and some in bursts of more than a page. Walking hourly windows
// would take over 175,000 requests (the fake refuses the request past the
// bound, so the walk fails instead of running for hours): the windows grow
// over the empty stretches and shrink on the bursts, so the requests grow
// with the events, not with the span.
func TestSyncLongSpan(t *testing.T) {
	const window, limit = time.Hour, 50
	from := time.Date(2006, 1, 1, 0, 0, 0, 0, time.UTC)
	until := from.AddDate(20, 0, 0)
	span := until.Sub(from)
	levels := math.Log2(float64(span / window)) // doublings from window to span: 17.4

	tests := []struct {
		name   string
		events func(rng *rand.Rand) []testEvent
		// max is the bound on the requests, in pages = ceil(events/limit)
		// and levels = log2(span/window).
		max func(pages int) int
	}{{
		// Nothing to find costs a request per doubling.
		name:   "empty",
		events: func(*rand.Rand) []testEvent { return nil },
		max:    func(int) int { return int(levels) + 2 },
	}, {
		name: "thin",
		events: func(rng *rand.Rand) []testEvent {
			return scatter(rng, "thin", 300, from, span)
		},
		// A climb of a request per doubling, then about one request per
		// half page of events.
		max: func(pages int) int { return int(levels) + 2 + 4*pages },
	}, {
		name: "bursts",
		events: func(rng *rand.Rand) []testEvent {
			var evs []testEvent
			evs = append(evs, scatter(rng, "thin", 300, from, span)...)
			evs = append(evs, scatter(rng, "hour", 3*limit+7, from.AddDate(3, 2, 1), 40*time.Minute)...) // pages inside one hour
			evs = append(evs, scatter(rng, "days", 2*limit, from.AddDate(11, 7, 3), 72*time.Hour)...)    // a page and more over days
			evs = append(evs, scatter(rng, "end", limit, until.Add(-2*time.Hour), 2*time.Hour)...)       // a full page at the end
			return append(evs, testEvent{"first", from}, testEvent{"last", until.Add(-time.Millisecond)})
		},
		// Each page of events costs at most a descent (two requests per
		// halving: a full first page and the half after it) and a climb
		// (one per doubling), plus its own pages.
		max: func(pages int) int { return (pages+1)*(3*int(levels)+4) + pages },
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := tt.events(rand.New(rand.NewPCG(20, 6)))
			pages := (len(events) + limit - 1) / limit
			api := &listAPI{events: events, maxRequests: tt.max(pages)}
			log := newMemLog()
			s := newSyncer(t, api, log)
			s.Window, s.Limit = window, limit
			var progress [][2]int
			s.Progress = func(done, total int) { progress = append(progress, [2]int{done, total}) }

			res := syncAll(t, api, s, log, from, until)
			t.Logf("%d events, %d requests (at most %d), %d windows", len(events), len(api.requests), tt.max(pages), res.Windows)
			assert.LessOrEqual(t, len(api.requests), tt.max(pages))

			// Paging happens only in windows of the initial size.
			for _, r := range api.requests {
				if r.UnstableOffset > 0 {
					after, _ := time.Parse(time.RFC3339Nano, r.Between[0])
					before, _ := time.Parse(time.RFC3339Nano, r.Between[1])
					assert.LessOrEqual(t, before.Sub(after), window+time.Millisecond, "paged %v", r.Between)
				}
			}
			// Progress counts the windows done against an estimate of the
			// total, which is exact at the end.
			require.Len(t, progress, res.Windows)
			for i, p := range progress {
				assert.Equal(t, i+1, p[0])
				assert.GreaterOrEqual(t, p[1], p[0])
			}
			assert.Equal(t, [2]int{res.Windows, res.Windows}, progress[len(progress)-1])
		})
	}
}

// TestSyncShrinks: after the windows have grown over a quiet stretch, a
// window whose first page is full is not paged but asked again shorter,
// until a window fits in a page, and nothing is lost.
func TestSyncShrinks(t *testing.T) {
	quiet := spread(10, t10, 20*24*time.Hour)                   // one every two days
	burst := spread(45, t10.Add(21*24*time.Hour), 10*time.Hour) // 4.5 an hour: a page in about 2 h
	for i := range burst {
		burst[i].id = fmt.Sprintf("burst-%02d", i)
	}
	api := &listAPI{events: append(quiet, burst...)}
	log := newMemLog()
	s := newSyncer(t, api, log) // window 1h, overlap 10m, limit 10
	until := t10.Add(22 * 24 * time.Hour)
	syncAll(t, api, s, log, t10, until)

	type ask struct {
		after, before time.Time
		offset, got   int
	}
	var asks []ask
	for i, r := range api.requests {
		a, _ := time.Parse(time.RFC3339Nano, r.Between[0])
		b, _ := time.Parse(time.RFC3339Nano, r.Between[1])
		asks = append(asks, ask{a, b, r.UnstableOffset, api.answered[i]})
	}
	var grown, shrunk bool
	for i, a := range asks {
		assert.Zero(t, a.offset, "no paging: every window fits in a page once shrunk")
		grown = grown || a.before.Sub(a.after) > 24*time.Hour
		if i > 0 && a.after.Equal(asks[i-1].after) {
			prev := asks[i-1]
			shrunk = true
			assert.Equal(t, 10, prev.got, "a window is asked again only after a full page")
			// Between reaches a millisecond before the window's start.
			half := ((prev.before.Sub(prev.after) - time.Millisecond) / 2).Truncate(time.Millisecond)
			assert.Equal(t, max(half, time.Hour), a.before.Sub(a.after)-time.Millisecond, "halved")
		}
	}
	assert.True(t, grown, "the windows grew over the quiet stretch")
	assert.True(t, shrunk, "a full window was asked again shorter")
	assert.Less(t, len(asks), 60, "hourly windows take 634 requests")
}

// TestSyncAdaptiveProperty syncs random spans of random events, thin and in
// clusters, with random windows, overlaps and limits, from a server that
// pages or ignores paging: every event lands once and no checkpoint passes
// an event not fetched yet.
func TestSyncAdaptiveProperty(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 40))
			from := t10.Add(time.Duration(rng.Int64N(int64(time.Hour)))).Truncate(time.Millisecond)
			span := time.Millisecond + time.Duration(rng.Int64N(int64(5*365*24*time.Hour))).Truncate(time.Millisecond)
			until := from.Add(span)
			events := scatter(rng, "thin", rng.IntN(100), from.Add(-time.Hour), span+2*time.Hour)
			for c := range rng.IntN(4) {
				at := from.Add(time.Duration(rng.Int64N(int64(span) + 1)))
				events = append(events, scatter(rng, fmt.Sprint("cluster", c), rng.IntN(60), at, time.Duration(1+rng.Int64N(int64(48*time.Hour))))...)
			}
			api := &listAPI{events: events, ignorePaging: rng.IntN(4) == 0}
			log := newMemLog()
			s := newSyncer(t, api, log)
			s.Window = time.Duration(1+rng.Int64N(int64(6*time.Hour))).Truncate(time.Millisecond) + time.Minute
			s.Overlap = time.Duration(rng.Int64N(int64(s.Window)))
			s.Limit = 1 + rng.IntN(20)
			syncAll(t, api, s, log, from, until)
		})
	}
}
