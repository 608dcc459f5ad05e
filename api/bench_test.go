package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/generate"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// benchMethods gives about 40k generated events (8 per method).
const benchMethods = 5000

// benchData fills a fresh database with generate's stream for benchMethods
// methods and returns the projection and the method and grant ids.
func benchData(tb testing.TB) (*projection.Projection, []string, []string) {
	tb.Helper()
	p := MustOpen(tb)
	var methods, grants []string
	seenM, seenG := map[domain.ID]bool{}, map[domain.ID]bool{}
	batch := make([]store.Pending, 0, 5000)
	flush := func() error {
		_, err := p.Append(context.Background(), batch)
		batch = batch[:0]
		return err
	}
	err := generate.Stream(generate.Options{Methods: benchMethods, Seed: 1}, func(raw []byte) error {
		e, err := domain.ParseEvent(raw)
		if err != nil {
			return err
		}
		if e.IsMethodEvent() && !seenM[e.AccessMethodID] {
			seenM[e.AccessMethodID] = true
			methods = append(methods, e.AccessMethodID.String())
		}
		for _, g := range e.GrantIDs() {
			if !seenG[g] {
				seenG[g] = true
				grants = append(grants, g.String())
			}
		}
		batch = append(batch, store.Pending{Event: e, Source: store.SourceFile})
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	require.NoError(tb, err)
	require.NoError(tb, flush())
	return p, methods, grants
}

// benchGet serves GETs of targets (in turn) through the whole handler
// stack and reports requests per second.
func benchGet(b *testing.B, h http.Handler, targets []string) {
	b.ReportAllocs()
	reqs := make([]*http.Request, len(targets))
	for i, t := range targets {
		reqs[i] = httptest.NewRequest(http.MethodGet, t, nil)
	}
	n := 0
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, reqs[n%len(reqs)])
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", targets[n%len(targets)], rec.Code, rec.Body)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkGetAccessMethod measures GET /v1/access_methods/{id} (the
// state) through the real handler stack, over 5000 methods:
// go test ./api -run XXX -bench GetAccessMethod
func BenchmarkGetAccessMethod(b *testing.B) {
	p, methods, _ := benchData(b)
	h := api.NewServer(p, api.Options{}).Handler()
	targets := make([]string, len(methods))
	for i, id := range methods {
		targets[i] = "/v1/access_methods/" + id
	}
	benchGet(b, h, targets)
}

// BenchmarkGetGrantHistory measures GET /v1/access_grants/{id}/events (a
// grant's history, one page of up to 100) through the real handler stack.
func BenchmarkGetGrantHistory(b *testing.B) {
	p, _, grants := benchData(b)
	h := api.NewServer(p, api.Options{}).Handler()
	targets := make([]string, len(grants))
	for i, id := range grants {
		targets[i] = "/v1/access_grants/" + id + "/events"
	}
	benchGet(b, h, targets)
}

// BenchmarkListEvents measures GET /v1/events pages of 100 from the
// start of the log.
func BenchmarkListEvents(b *testing.B) {
	p, _, _ := benchData(b)
	h := api.NewServer(p, api.Options{}).Handler()
	targets := []string{"/v1/events?after_seq=0", "/v1/events?after_seq=20000", "/v1/events?after_seq=39000"}
	benchGet(b, h, targets)
}
