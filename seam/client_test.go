package seam_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/seam"
)

// answer is one canned response of a scripted server.
type answer struct {
	status     int
	retryAfter string
	body       string
	hang       bool // block until the request is canceled
}

// scripted is a server that answers each request with the next answer of
// its script (the last one repeats) and records the requests' bodies.
type scripted struct {
	*httptest.Server
	mu     sync.Mutex
	script []answer
	bodies []string
	n      atomic.Int32
}

func newScripted(t *testing.T, script ...answer) *scripted {
	t.Helper()
	s := &scripted{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		a := s.script[min(int(s.n.Add(1))-1, len(s.script)-1)]
		s.mu.Unlock()
		if a.hang {
			<-r.Context().Done()
			return
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// fastClient returns a client of srv that waits a millisecond between
// attempts and records each retry's wait.
func fastClient(srv *scripted, waits *[]time.Duration) *seam.Client {
	return &seam.Client{
		Endpoint: srv.URL + "/",
		APIKey:   "seam_test_key",
		Backoff:  time.Millisecond,
		OnRetry:  func(_ error, d time.Duration) { *waits = append(*waits, d) },
	}
}

var testWindow = seam.Window{
	After:  time.Date(2026, 3, 1, 9, 59, 59, 999_000_000, time.UTC),
	Before: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC),
}

const okPage = `{"ok":true,"events":[]}`

func TestListEventsRequest(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r, must(io.ReadAll(r.Body))
		// Odd spacing and key order: each event must come back byte for byte.
		io.WriteString(w, `{"ok": true, "events": [ {"b":1,  "a" : "x"} ,{"event_id":"E1","n":[1, 2]}
		]}`)
	}))
	defer srv.Close()
	c := &seam.Client{Endpoint: srv.URL, APIKey: "seam_test_key"}
	events, err := c.ListEvents(context.Background(), testWindow, 1000, 250)
	require.NoError(t, err)
	require.Len(t, events, 2)
	assert.Equal(t, `{"b":1,  "a" : "x"}`, string(events[0]))
	assert.Equal(t, `{"event_id":"E1","n":[1, 2]}`, string(events[1]))

	assert.Equal(t, http.MethodPost, got.Method)
	assert.Equal(t, "/events/list", got.URL.Path)
	assert.Equal(t, "Bearer seam_test_key", got.Header.Get("Authorization"))
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	var req struct {
		Between        []string `json:"between"`
		EventTypes     []string `json:"event_types"`
		Limit          int      `json:"limit"`
		UnstableOffset int      `json:"unstable_offset"`
	}
	require.NoError(t, json.Unmarshal(body, &req), "%s", body)
	assert.Equal(t, []string{"2026-03-01T09:59:59.999Z", "2026-03-01T11:00:00.000Z"}, req.Between)
	assert.Equal(t, 250, req.Limit)
	assert.Equal(t, 1000, req.UnstableOffset)
	assert.Equal(t, seam.EventTypes, req.EventTypes)
}

func TestEventTypes(t *testing.T) {
	require.Len(t, seam.EventTypes, 15)
	method, grant := 0, 0
	seen := map[string]bool{}
	for _, typ := range seam.EventTypes {
		assert.False(t, seen[typ], "%s twice", typ)
		seen[typ] = true
		e := domain.Event{Type: typ}
		switch {
		case e.IsMethodEvent():
			method++
		case e.IsGrantEvent():
			grant++
		}
	}
	assert.Equal(t, 8, method)
	assert.Equal(t, 7, grant)
}

func TestListEventsDefaults(t *testing.T) {
	srv := newScripted(t, answer{status: 200, body: okPage})
	c := &seam.Client{Endpoint: srv.URL, APIKey: "k", EventTypes: []string{"access_method.issued"}}
	_, err := c.ListEvents(context.Background(), testWindow, 0, 0)
	require.NoError(t, err)
	assert.JSONEq(t, `{"between":["2026-03-01T09:59:59.999Z","2026-03-01T11:00:00.000Z"],
		"event_types":["access_method.issued"],"limit":500,"unstable_offset":0}`, srv.bodies[0])
	assert.Equal(t, seam.DefaultEndpoint, (&seam.Client{}).BaseURL())
}

func TestListEventsRetries(t *testing.T) {
	srv := newScripted(t,
		answer{status: 429, retryAfter: "0", body: `{"error":{"type":"too_many_requests","message":"slow down"}}`},
		answer{status: 500, body: `oops`},
		answer{status: 503},
		answer{status: 200, body: `{"ok":true,"events":[{"event_id":"a"}]}`},
	)
	var waits []time.Duration
	c := fastClient(srv, &waits)
	events, err := c.ListEvents(context.Background(), testWindow, 0, 10)
	require.NoError(t, err)
	assert.Len(t, events, 1)
	assert.EqualValues(t, 4, srv.n.Load())
	require.Len(t, waits, 3)
	assert.Equal(t, time.Duration(0), waits[0], "Retry-After: 0 retries at once")
	for _, w := range waits[1:] {
		assert.True(t, w > 0 && w <= 4*time.Millisecond, "backoff %s", w)
	}
	for _, b := range srv.bodies {
		assert.Equal(t, srv.bodies[0], b, "a retry repeats the same request")
	}
}

func TestListEventsHonoursRetryAfter(t *testing.T) {
	srv := newScripted(t, answer{status: 429, retryAfter: "1"}, answer{status: 200, body: okPage})
	var waits []time.Duration
	c := fastClient(srv, &waits)
	start := time.Now()
	_, err := c.ListEvents(context.Background(), testWindow, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{time.Second}, waits)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "waited as told")

	// An HTTP date in the past means now.
	srv = newScripted(t, answer{status: 503, retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT"}, answer{status: 200, body: okPage})
	waits = nil
	c = fastClient(srv, &waits)
	_, err = c.ListEvents(context.Background(), testWindow, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{0}, waits)
}

func TestListEventsGivesUp(t *testing.T) {
	srv := newScripted(t, answer{status: 503, body: `{"error":{"type":"service_unavailable","message":"down"}}`})
	var waits []time.Duration
	c := fastClient(srv, &waits)
	c.MaxRetries = 2
	_, err := c.ListEvents(context.Background(), testWindow, 0, 10)
	require.Error(t, err)
	assert.EqualValues(t, 3, srv.n.Load())
	assert.Equal(t, "list events (2026-03-01T09:59:59.999Z, 2026-03-01T11:00:00.000Z): seam answered 503 Service Unavailable "+
		"(service_unavailable: down) (gave up after 3 attempts)", err.Error())

	// Negative MaxRetries: a single attempt.
	srv = newScripted(t, answer{status: 502})
	c = fastClient(srv, &waits)
	c.MaxRetries = -1
	_, err = c.ListEvents(context.Background(), testWindow, 0, 10)
	require.Error(t, err)
	assert.EqualValues(t, 1, srv.n.Load())
}

func TestListEventsUnauthorized(t *testing.T) {
	srv := newScripted(t, answer{status: 401, body: `{"error":{"type":"unauthorized","message":"API Key not found"}}`})
	var waits []time.Duration
	_, err := fastClient(srv, &waits).ListEvents(context.Background(), testWindow, 0, 10)
	require.Error(t, err)
	assert.True(t, errors.Is(err, seam.ErrUnauthorized))
	assert.Equal(t, "SEAM_API_KEY was refused (401): check the key", err.Error())
	assert.Equal(t, domain.EUnauthorized, domain.ErrorCode(err))
	assert.EqualValues(t, 1, srv.n.Load(), "a refused key is not retried")
	assert.Empty(t, waits)
}

func TestListEventsClientError(t *testing.T) {
	srv := newScripted(t, answer{status: 400, body: `{"error":{"type":"invalid_input","message":"Must specify either since or between"},"ok":false}`})
	var waits []time.Duration
	_, err := fastClient(srv, &waits).ListEvents(context.Background(), testWindow, 0, 10)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "seam answered 400 Bad Request (invalid_input: Must specify either since or between)")
	assert.EqualValues(t, 1, srv.n.Load(), "a 400 is not retried")
}

func TestListEventsBadAnswer(t *testing.T) {
	for name, body := range map[string]string{
		"no events": `{"ok":true}`,
		"not json":  `<html>`,
		"not array": `{"events":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := newScripted(t, answer{status: 200, body: body})
			var waits []time.Duration
			_, err := fastClient(srv, &waits).ListEvents(context.Background(), testWindow, 0, 10)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "decode answer")
			assert.EqualValues(t, 1, srv.n.Load())
		})
	}
}

func TestListEventsTimeout(t *testing.T) {
	srv := newScripted(t, answer{hang: true}, answer{status: 200, body: `{"events":[{"event_id":"a"}]}`})
	var waits []time.Duration
	c := fastClient(srv, &waits)
	c.Timeout = 50 * time.Millisecond
	events, err := c.ListEvents(context.Background(), testWindow, 0, 10)
	require.NoError(t, err)
	assert.Len(t, events, 1)
	assert.EqualValues(t, 2, srv.n.Load(), "the attempt that timed out was retried")
}

func TestListEventsNetworkError(t *testing.T) {
	srv := newScripted(t, answer{status: 200, body: okPage})
	srv.Close()
	var waits []time.Duration
	c := fastClient(srv, &waits)
	c.MaxRetries = 2
	_, err := c.ListEvents(context.Background(), testWindow, 0, 10)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gave up after 3 attempts")
	assert.Len(t, waits, 2)
}

func TestListEventsCanceledWhileWaiting(t *testing.T) {
	srv := newScripted(t, answer{status: 429, retryAfter: "60"})
	ctx, cancel := context.WithCancel(context.Background())
	c := &seam.Client{Endpoint: srv.URL, APIKey: "k", OnRetry: func(error, time.Duration) { cancel() }}
	start := time.Now()
	_, err := c.ListEvents(ctx, testWindow, 0, 10)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.Less(t, time.Since(start), 30*time.Second, "did not sit out the Retry-After")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
