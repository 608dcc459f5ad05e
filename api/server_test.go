package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/ingest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// TestListen checks which addresses the server listens on: without a
// token only loopback ones, unless insecure.
func TestListen(t *testing.T) {
	p := MustOpen(t)
	tests := []struct {
		name, addr string
		opts       api.Options
		refused    bool // with invalid_input
	}{
		{"loopback", "127.0.0.1:0", api.Options{}, false},
		{"localhost", "localhost:0", api.Options{}, false},
		{"loopback v6", "[::1]:0", api.Options{}, false},
		{"all interfaces", ":0", api.Options{}, true},
		{"all IPv4 interfaces", "0.0.0.0:0", api.Options{}, true},
		{"all IPv6 interfaces", "[::]:0", api.Options{}, true},
		{"a public address", "192.0.2.10:0", api.Options{}, true},
		{"all interfaces with a token", "0.0.0.0:0", api.Options{Token: "t"}, false},
		{"all interfaces, insecure", "0.0.0.0:0", api.Options{Insecure: true}, false},
		{"no port", "127.0.0.1", api.Options{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := api.NewServer(p, tt.opts)
			err := srv.Listen(tt.addr)
			if tt.refused {
				require.Error(t, err)
				assert.Equal(t, domain.EInvalid, domain.ErrorCode(err), err.Error())
				assert.Nil(t, srv.Addr())
				if tt.addr != "127.0.0.1" {
					assert.Contains(t, err.Error(), "AMTRACK_API_TOKEN")
					assert.Contains(t, err.Error(), "--insecure")
				}
				return
			}
			if err != nil && tt.addr == "[::1]:0" {
				t.Skipf("no IPv6 loopback here: %v", err)
			}
			require.NoError(t, err)
			assert.NotContains(t, srv.URL(), ":0", "the real port is known")
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			assert.NoError(t, srv.Serve(ctx), "a cancelled context shuts down at once")
		})
	}
}

// serve starts srv on a free loopback port and returns its URL and a
// function that stops it and returns Serve's error.
func serve(t *testing.T, srv *api.Server) (string, func() error) {
	t.Helper()
	require.NoError(t, srv.Listen("127.0.0.1:0"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	stopped := false
	var err error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return srv.URL(), stop
}

// TestGracefulShutdown checks that a request in flight when the server
// is told to stop finishes, that no new connection is accepted meanwhile,
// and that Serve then returns nil.
func TestGracefulShutdown(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	model := &fakeModel{ReadModel: p, block: make(chan struct{}), entered: make(chan struct{}, 1)}
	base, stop := serve(t, api.NewServer(model, api.Options{}))
	status, _ := testutil.Get(t, base+"/healthz", "")
	require.Equal(t, 200, status)

	type answer struct {
		status int
		body   string
	}
	inflight := make(chan answer, 1)
	go func() {
		res, err := http.Get(base + "/v1/access_methods/" + id.method)
		if err != nil {
			inflight <- answer{body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		inflight <- answer{res.StatusCode, string(b)}
	}()
	<-model.entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// The listener closes: new connections are refused.
	host := strings.TrimPrefix(base, "http://")
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", host, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 5*time.Second, 10*time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	default:
	}
	close(model.block)
	got := <-inflight
	assert.Equal(t, 200, got.status, got.body)
	assert.Contains(t, got.body, id.method)
	assert.NoError(t, <-stopped)
}

// TestShutdownTimeout checks that Serve gives up on a request that does
// not finish within the shutdown timeout, and says so.
func TestShutdownTimeout(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	model := &fakeModel{ReadModel: p, block: make(chan struct{}), entered: make(chan struct{}, 1)}
	defer close(model.block)
	base, stop := serve(t, api.NewServer(model, api.Options{ShutdownTimeout: 100 * time.Millisecond}))
	go func() {
		if res, err := http.Get(base + "/v1/access_methods/" + id.method); err == nil {
			res.Body.Close()
		}
	}()
	<-model.entered
	start := time.Now()
	err := stop()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "shutdown")
	assert.Less(t, time.Since(start), 5*time.Second)
}

// metricLine returns the value of the sample whose line starts with name
// (a metric name with its labels), or "" when there is none.
func metricLine(body, name string) string {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestMetrics checks the HTTP, log and append metrics.
func TestMetrics(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	m := api.NewMetrics(p)
	c := newClient(t, api.NewServer(p, api.Options{Metrics: m}).Handler())
	c.get("/v1/access_methods/" + id.method)
	c.get("/v1/access_methods/" + id.grant) // not a method: 404
	c.get("/nowhere")
	c.do("POST", "/v1/events", nil)

	// Appends: one duplicate and one conflict; a parse failure; webhooks.
	first := events[0]
	conflict, err := domain.ParseEvent([]byte(strings.Replace(string(first.Raw), "{", `{"extra":1,`, 1)))
	require.NoError(t, err)
	batch := []store.Pending{{Event: first, Source: store.SourceFile}, {Event: conflict, Source: store.SourceFile}}
	out, err := p.Append(context.Background(), batch)
	require.NoError(t, err)
	m.AppendBatch(len(batch))
	tally := ingest.Tally{Counter: m}
	tally.Add(batch, out)
	m.EventRejected("", domain.EInvalid)
	m.EventsAppended("access_method.issued", 3)
	m.WebhookResponse(200)
	m.WebhookResponse(401)
	for i := range 250 { // more event types than the label may take
		m.EventsAppended(fmt.Sprintf("custom.type_%d", i), 1)
	}

	res := c.get("/metrics")
	require.Equal(t, 200, res.status)
	body := string(res.body)
	want := map[string]string{
		`amtrack_http_requests_total{method="GET",route="/v1/access_methods/{access_method_id}",status="200"}`: "1",
		`amtrack_http_requests_total{method="GET",route="/v1/access_methods/{access_method_id}",status="404"}`: "1",
		`amtrack_http_requests_total{method="GET",route="unmatched",status="404"}`:                             "1",
		`amtrack_http_requests_total{method="POST",route="/v1/events",status="405"}`:                           "1",
		`amtrack_http_request_duration_seconds_count{route="/v1/access_methods/{access_method_id}"}`:           "2",
		`amtrack_log_head_seq`:   fmt.Sprint(len(events)),
		`amtrack_projection_seq`: fmt.Sprint(len(events)),
		`amtrack_events_duplicate_total{event_type="` + first.Type + `"}`:                          "1",
		`amtrack_events_rejected_total{event_type="` + first.Type + `",reason="conflict"}`:         "1",
		`amtrack_events_rejected_total{event_type="unknown",reason="invalid_input"}`:               "1",
		`amtrack_events_appended_total{event_type="access_method.issued"}`:                         "3",
		`amtrack_webhook_responses_total{status="401"}`:                                            "1",
		`amtrack_append_batch_size_count`:                                                          "1",
		`amtrack_append_batch_size_sum`:                                                            "2",
		`amtrack_events_appended_total{event_type="other"}`:                                        "53", // 3 types came first
		`amtrack_events_appended_total{event_type="custom.type_196"}`:                              "1",
		`amtrack_http_request_duration_seconds_bucket{route="unmatched",le="+Inf"}`:                "1",
		`amtrack_http_requests_total{method="GET",route="/metrics",status="200"}`:                  "",
		`amtrack_events_appended_total{event_type="custom.type_197"}`:                              "",
		`amtrack_events_rejected_total{event_type="` + first.Type + `",reason="invalid_input"}`:    "",
		`amtrack_webhook_responses_total{status="500"}`:                                            "",
		`amtrack_http_requests_total{method="GET",route="/v1/access_methods/abc",status="400"}`:    "",
		`amtrack_http_requests_total{method="GET",route="/nowhere",status="404"}`:                  "",
		`amtrack_http_request_duration_seconds_count{route="/v1/access_methods/` + id.grant + `"}`: "",
	}
	for name, v := range want {
		assert.Equal(t, v, metricLine(body, name), name)
	}
	assert.Contains(t, body, "go_goroutines")
}

// TestRequestLogging checks one debug line per request and a warn line per
// refused request.
func TestRequestLogging(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	var logs testutil.Buffer
	c := newClient(t, api.NewServer(p, api.Options{Logger: newLogger(&logs)}).Handler())
	c.get("/v1/access_methods/" + id.method)
	c.get("/v1/access_methods/nope")
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 3, logs.String())
	assert.Contains(t, lines[0], "level=DEBUG msg=request method=GET uri=/v1/access_methods/"+id.method+" route=/v1/access_methods/{access_method_id} status=200")
	assert.Contains(t, lines[1], `level=WARN msg="request refused" method=GET path=/v1/access_methods/nope status=400 type=invalid_input`)
	assert.Contains(t, lines[2], "level=DEBUG msg=request method=GET uri=/v1/access_methods/nope route=/v1/access_methods/{access_method_id} status=400")

	// At info, requests that succeed leave no line.
	var quiet testutil.Buffer
	info := slog.New(slog.NewTextHandler(&quiet, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c = newClient(t, api.NewServer(p, api.Options{Logger: info}).Handler())
	c.get("/v1/access_methods/" + id.method)
	assert.Empty(t, quiet.String())
	c.get("/v1/access_methods/nope")
	assert.Contains(t, quiet.String(), "level=WARN")
}

// recordingTB records failures instead of failing: it shows that the
// client's validation fails a test.
type recordingTB struct {
	testing.TB
	failed bool
}

var errFailNow = errors.New("FailNow")

func (r *recordingTB) Helper()               {}
func (r *recordingTB) Errorf(string, ...any) { r.failed = true }
func (r *recordingTB) FailNow()              { r.failed = true; panic(errFailNow) }

// TestValidationCatchesDrift checks that the OpenAPI validation of the
// tests fails on a response the document does not describe.
func TestValidationCatchesDrift(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	real := api.NewServer(p, api.Options{}).Handler()
	tests := []struct {
		name   string
		target string
		h      http.HandlerFunc
	}{
		{"an undocumented field", "/v1/access_methods/" + id.method, func(w http.ResponseWriter, r *http.Request) {
			rec := &bodyRewriter{ResponseWriter: w, from: `"version":`, to: `"secret": 1, "version":`}
			real.ServeHTTP(rec, r)
		}},
		{"a missing field", "/v1/access_grants/" + id.grant, func(w http.ResponseWriter, r *http.Request) {
			rec := &bodyRewriter{ResponseWriter: w, from: `"event_count"`, to: `"event_kount"`}
			real.ServeHTTP(rec, r)
		}},
		{"an undocumented status", "/v1/events", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, `{"error":{"type":"internal","message":"teapot"}}`)
		}},
		{"another content type", "/v1/events", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "events")
		}},
		{"a wrong type", "/healthz", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status": 1}`)
		}},
		{"an unknown route answering 200", "/v1/nothing", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			func() {
				defer func() {
					if v := recover(); v != nil && v != errFailNow {
						panic(v)
					}
				}()
				newClient(t, tt.h).on(rec).get(tt.target)
			}()
			assert.True(t, rec.failed, "the validation must fail")
		})
	}
}

// bodyRewriter replaces from with to in a response body (written at once).
type bodyRewriter struct {
	http.ResponseWriter
	from, to string
}

func (b *bodyRewriter) Write(p []byte) (int, error) {
	out := strings.Replace(string(p), b.from, b.to, 1)
	_, err := b.ResponseWriter.Write([]byte(out))
	return len(p), err
}

// TestClose checks that Close frees the address at once, even before Serve.
func TestClose(t *testing.T) {
	srv := api.NewServer(MustOpen(t), api.Options{})
	require.NoError(t, srv.Listen("127.0.0.1:0"))
	addr := srv.Addr().String()
	require.NoError(t, srv.Close())
	_, err := net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "nothing listens any more")
}

// TestHandle checks the extension point the webhook receiver uses: a route
// outside /v1 and its auth, with a JSON 405 for other methods.
func TestHandle(t *testing.T) {
	srv := api.NewServer(MustOpen(t), api.Options{Token: "t"})
	srv.Handle("/webhooks/test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}), http.MethodPost)
	h := srv.Handler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhooks/test", strings.NewReader("{}")))
	assert.Equal(t, http.StatusAccepted, rec.Code, "no token needed")

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/webhooks/test", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "POST", rec.Header().Get("Allow"))
	assert.Contains(t, rec.Body.String(), `"type": "method_not_allowed"`)
}
