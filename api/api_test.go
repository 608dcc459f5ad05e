package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/projection/projectiontest"
)

var _ api.ReadModel = (*projection.Projection)(nil)

// MustOpen opens a projection over a fresh database file.
func MustOpen(tb testing.TB) *projection.Projection { return projectiontest.MustOpen(tb) }

// appendEvents appends events in batches of at most 500.
func appendEvents(tb testing.TB, p *projection.Projection, events []*domain.Event) {
	tb.Helper()
	projectiontest.Append(tb, p, events, func() int { return 500 })
}

// seeded returns a projection holding generate's stream for 60 methods
// (about 500 events), and the events.
func seeded(tb testing.TB) (*projection.Projection, []*domain.Event) {
	tb.Helper()
	p := MustOpen(tb)
	events := testutil.Events(tb, 60, 7)
	appendEvents(tb, p, events)
	return p, events
}

// spec is the OpenAPI document, loaded and validated once.
var spec = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	return doc, nil
})

// client sends requests to a handler in-process and validates every
// response against the OpenAPI document: an undocumented status, field or
// content type fails the test.
type client struct {
	tb     testing.TB
	h      http.Handler
	doc    *openapi3.T
	router routers.Router
	header http.Header // sent with every request
}

func newClient(tb testing.TB, h http.Handler) *client {
	tb.Helper()
	doc, err := spec()
	require.NoError(tb, err, "the OpenAPI document must load and validate")
	router, err := gorillamux.NewRouter(doc)
	require.NoError(tb, err)
	return &client{tb: tb, h: h, doc: doc, router: router, header: http.Header{}}
}

// on returns a copy of c that reports to tb (a subtest).
func (c *client) on(tb testing.TB) *client {
	cc := *c
	cc.tb = tb
	return &cc
}

// response is a response received by client.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r response) json(tb testing.TB) map[string]any {
	tb.Helper()
	var v map[string]any
	require.NoError(tb, json.Unmarshal(r.body, &v), "body: %s", r.body)
	return v
}

// errorType returns the error type of an error body.
func (r response) errorType(tb testing.TB) (string, string) {
	tb.Helper()
	e, ok := r.json(tb)["error"].(map[string]any)
	require.True(tb, ok, "not an error body: %s", r.body)
	return e["type"].(string), e["message"].(string)
}

func (c *client) get(target string) response { return c.do(http.MethodGet, target, nil) }

// do sends one request and validates the response.
func (c *client) do(method, target string, header http.Header) response {
	c.tb.Helper()
	return c.send(httptest.NewRequest(method, target, nil), header)
}

// doWithLength sends a request with a body of n bytes.
func (c *client) doWithLength(method, target string, n int) response {
	c.tb.Helper()
	return c.send(httptest.NewRequest(method, target, bytes.NewReader(make([]byte, n))), nil)
}

func (c *client) send(req *http.Request, header http.Header) response {
	c.tb.Helper()
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	c.validate(req, res)
	return res
}

// validate checks res against the document. Responses of routes the
// document does not describe (unknown paths, other methods) must be JSON
// errors of the documented Error schema.
func (c *client) validate(req *http.Request, res response) {
	c.tb.Helper()
	// HEAD answers as GET does, without a body: it is checked as a GET.
	find := req
	if req.Method == http.MethodHead {
		find = req.Clone(req.Context())
		find.Method = http.MethodGet
	}
	route, params, err := c.router.FindRoute(find)
	if err != nil && res.status == http.StatusUnauthorized && strings.HasPrefix(req.URL.Path, "/v1") {
		c.validateError(res) // auth comes first on every /v1 path, documented or not
		return
	}
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		// Not in the document: a 404, or a 405 for any method but GET under /v1.
		want := http.StatusNotFound
		if strings.HasPrefix(req.URL.Path, "/v1/") && req.Method != http.MethodGet && req.Method != http.MethodHead {
			want = http.StatusMethodNotAllowed
		}
		require.Equal(c.tb, want, res.status, "%s %s is not in the document: %s", req.Method, req.URL, res.body)
		c.validateError(res)
		return
	case errors.Is(err, routers.ErrMethodNotAllowed):
		require.Equal(c.tb, http.StatusMethodNotAllowed, res.status, "%s %s: %s", req.Method, req.URL, res.body)
		require.NotEmpty(c.tb, res.header.Get("Allow"), "a 405 names the allowed methods")
		c.validateError(res)
		return
	}
	require.NoError(c.tb, err)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.status,
		Header:                 res.header,
		Body:                   io.NopCloser(bytes.NewReader(res.body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	err = openapi3filter.ValidateResponse(context.Background(), in)
	require.NoError(c.tb, err, "%s %s: status %d, body %s", req.Method, req.URL, res.status, res.body)
}

// validateError checks that res is an Error of the document.
func (c *client) validateError(res response) {
	c.tb.Helper()
	require.Equal(c.tb, "application/json", res.header.Get("Content-Type"))
	var v any
	require.NoError(c.tb, json.Unmarshal(res.body, &v))
	schema := c.doc.Components.Schemas["Error"].Value
	require.NoError(c.tb, schema.VisitJSON(v), "body: %s", res.body)
}

// newLogger logs everything, as text, to w.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeModel wraps a ReadModel to make some of its methods fail, block or
// panic.
type fakeModel struct {
	api.ReadModel
	err     error           // returned by AccessMethod and Lag when not nil
	lag     *projection.Lag // returned by Lag when not nil
	block   chan struct{}   // AccessMethod waits for it to close when not nil
	entered chan struct{}   // AccessMethod signals here when it starts, when not nil
	panics  bool            // AccessGrant panics
}

func (f *fakeModel) AccessMethod(ctx context.Context, id domain.ID) (*domain.AccessMethod, error) {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.block != nil {
		<-f.block
	}
	if f.err != nil {
		return nil, f.err
	}
	return f.ReadModel.AccessMethod(ctx, id)
}

func (f *fakeModel) AccessGrant(ctx context.Context, id domain.ID) (*domain.AccessGrant, error) {
	if f.panics {
		panic("boom: secret detail")
	}
	return f.ReadModel.AccessGrant(ctx, id)
}

func (f *fakeModel) Lag(ctx context.Context) (projection.Lag, error) {
	if f.err != nil {
		return projection.Lag{}, f.err
	}
	if f.lag != nil {
		return *f.lag, nil
	}
	return f.ReadModel.Lag(ctx)
}

// ids picks ids from the seeded data for the route tests.
type ids struct {
	method, codeMethod, grant, event string
	methodEvents, grantEvents        int
	firstOccurred                    string
}

func pickIDs(tb testing.TB, events []*domain.Event) ids {
	tb.Helper()
	perMethod := map[domain.ID]int{}
	perGrant := map[domain.ID]int{}
	first := map[domain.ID]int64{}
	var code domain.ID
	for _, e := range events {
		if e.IsMethodEvent() {
			perMethod[e.AccessMethodID]++
			if f, ok := first[e.AccessMethodID]; !ok || e.OccurredAt < f {
				first[e.AccessMethodID] = e.OccurredAt
			}
			if e.Code != nil && code == (domain.ID{}) {
				code = e.AccessMethodID
			}
		}
		for _, g := range e.GrantIDs() {
			perGrant[g]++
		}
	}
	var out ids
	var m, g domain.ID
	for id, n := range perMethod {
		if n > out.methodEvents || n == out.methodEvents && strings.Compare(id.String(), m.String()) < 0 {
			m, out.methodEvents = id, n
		}
	}
	for id, n := range perGrant {
		if n > out.grantEvents || n == out.grantEvents && strings.Compare(id.String(), g.String()) < 0 {
			g, out.grantEvents = id, n
		}
	}
	require.NotZero(tb, code, "the seeded data must hold a PIN code")
	out.method, out.codeMethod, out.grant, out.event = m.String(), code.String(), g.String(), events[0].ID.String()
	out.firstOccurred = domain.FormatNanos(first[m])
	return out
}
