package api_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/projection"
)

// TestRoutes sends one request per route, status and error type, and checks
// the status, the error type and that the message names what is wrong.
// Every response is also validated against the OpenAPI document.
func TestRoutes(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	c := newClient(t, api.NewServer(p, api.Options{}).Handler())
	unknown := "00000000-0000-4000-8000-000000000000"
	upper := strings.ToUpper(id.method)
	seqCursor := base64.RawURLEncoding.EncodeToString([]byte{1, 's', 0, 0, 0, 0, 0, 0, 0, 5})

	tests := []struct {
		name     string
		method   string
		target   string
		header   http.Header
		status   int
		errType  string // for error statuses
		contains string // in the body (an error's message names the parameter)
		check    func(t *testing.T, body map[string]any)
	}{
		// GET /v1/access_methods/{access_method_id}
		{name: "method", target: "/v1/access_methods/" + id.method, status: 200, check: func(t *testing.T, b map[string]any) {
			assert.Equal(t, id.method, b["access_method"].(map[string]any)["access_method_id"])
		}},
		{name: "method upper-case id", target: "/v1/access_methods/" + upper, status: 200, contains: id.method},
		{name: "method as_of", target: "/v1/access_methods/" + id.method + "?as_of=" + url.QueryEscape(id.firstOccurred), status: 200,
			check: func(t *testing.T, b map[string]any) {
				assert.Equal(t, 1.0, b["access_method"].(map[string]any)["version"], "one event had occurred")
			}},
		{name: "method as_of before any event", target: "/v1/access_methods/" + id.method + "?as_of=2000-01-01T00:00:00Z", status: 404, errType: "not_found"},
		{name: "method bad as_of", target: "/v1/access_methods/" + id.method + "?as_of=yesterday", status: 400, errType: "invalid_input", contains: "as_of"},
		{name: "method as_of with an offset", target: "/v1/access_methods/" + id.method + "?as_of=2030-01-05T08:00:00%2B01:00", status: 200},
		{name: "method as_of with an unencoded +", target: "/v1/access_methods/" + id.method + "?as_of=2030-01-05T08:00:00+01:00", status: 400,
			errType: "invalid_input", contains: "%2B"},
		{name: "method as_of without zone", target: "/v1/access_methods/" + id.method + "?as_of=2026-01-05T08:00:00", status: 400, errType: "invalid_input", contains: "as_of"},
		{name: "method malformed id", target: "/v1/access_methods/abc", status: 400, errType: "invalid_input",
			contains: `access_method_id must be an id (hex 8-4-4-4-12), got \"abc\"`},
		{name: "method unknown", target: "/v1/access_methods/" + unknown, status: 404, errType: "not_found", contains: unknown},

		// GET /v1/access_methods
		{name: "methods", target: "/v1/access_methods", status: 200, check: func(t *testing.T, b map[string]any) {
			assert.NotEmpty(t, b["access_methods"])
			assert.Equal(t, false, b["pagination"].(map[string]any)["has_next_page"])
			assert.Nil(t, b["pagination"].(map[string]any)["next_page_cursor"])
		}},
		{name: "methods limit", target: "/v1/access_methods?limit=2", status: 200, check: func(t *testing.T, b map[string]any) {
			assert.Len(t, b["access_methods"], 2)
			assert.Equal(t, true, b["pagination"].(map[string]any)["has_next_page"])
			assert.NotEmpty(t, b["pagination"].(map[string]any)["next_page_cursor"])
		}},
		{name: "methods no match", target: "/v1/access_methods?access_grant_id=" + unknown, status: 200, check: func(t *testing.T, b map[string]any) {
			assert.Equal(t, []any{}, b["access_methods"])
		}},
		{name: "methods all filters", target: "/v1/access_methods?status=issued&mode=code&is_issued=true&limit=1000", status: 200},
		{name: "methods unknown parameter ignored", target: "/v1/access_methods?limt=2&_=1", status: 200},
		{name: "methods empty value is absent", target: "/v1/access_methods?status=&limit=", status: 200},
		{name: "methods bad status", target: "/v1/access_methods?status=lost", status: 400, errType: "invalid_input", contains: "status must be one of"},
		{name: "methods bad mode", target: "/v1/access_methods?mode=mobile_key", status: 400, errType: "invalid_input", contains: "mode"},
		{name: "methods bad is_issued", target: "/v1/access_methods?is_issued=yes", status: 400, errType: "invalid_input", contains: "is_issued"},
		{name: "methods bad grant id", target: "/v1/access_methods?access_grant_id=x", status: 400, errType: "invalid_input", contains: "access_grant_id"},
		{name: "methods bad workspace id", target: "/v1/access_methods?workspace_id=x", status: 400, errType: "invalid_input", contains: "workspace_id"},
		{name: "methods limit 0", target: "/v1/access_methods?limit=0", status: 400, errType: "invalid_input", contains: "limit must be an integer from 1 to 1000"},
		{name: "methods limit 1001", target: "/v1/access_methods?limit=1001", status: 400, errType: "invalid_input", contains: "limit"},
		{name: "methods limit not a number", target: "/v1/access_methods?limit=ten", status: 400, errType: "invalid_input", contains: "limit"},
		{name: "methods limit twice", target: "/v1/access_methods?limit=1&limit=2", status: 400, errType: "invalid_input", contains: "limit must be given at most once"},
		{name: "methods bad cursor", target: "/v1/access_methods?page_cursor=%21%21", status: 400, errType: "invalid_input", contains: "page_cursor"},
		{name: "methods cursor of another list", target: "/v1/access_methods?page_cursor=" + seqCursor, status: 400, errType: "invalid_input", contains: "page_cursor"},

		// GET /v1/access_methods/{access_method_id}/events
		{name: "method events", target: "/v1/access_methods/" + id.method + "/events", status: 200, check: func(t *testing.T, b map[string]any) {
			assert.Len(t, b["events"], id.methodEvents)
		}},
		{name: "method events by type", target: "/v1/access_methods/" + id.method + "/events?event_type=access_method.created", status: 200},
		{name: "method events since", target: "/v1/access_methods/" + id.method + "/events?since=" + url.QueryEscape(id.firstOccurred), status: 200},
		{name: "method events until", target: "/v1/access_methods/" + id.method + "/events?until=" + url.QueryEscape(id.firstOccurred), status: 200,
			check: func(t *testing.T, b map[string]any) { assert.Equal(t, []any{}, b["events"], "until is exclusive") }},
		{name: "method events bad since", target: "/v1/access_methods/" + id.method + "/events?since=1", status: 400, errType: "invalid_input", contains: "since"},
		{name: "method events bad until", target: "/v1/access_methods/" + id.method + "/events?until=x", status: 400, errType: "invalid_input", contains: "until"},
		{name: "method events bad limit", target: "/v1/access_methods/" + id.method + "/events?limit=-1", status: 400, errType: "invalid_input", contains: "limit"},
		{name: "method events cursor of another list", target: "/v1/access_methods/" + id.method + "/events?page_cursor=" + seqCursor, status: 400, errType: "invalid_input", contains: "page_cursor"},
		{name: "method events malformed id", target: "/v1/access_methods/1234/events", status: 400, errType: "invalid_input", contains: "access_method_id"},
		{name: "method events unknown", target: "/v1/access_methods/" + unknown + "/events", status: 404, errType: "not_found"},

		// GET /v1/access_grants/{access_grant_id}
		{name: "grant", target: "/v1/access_grants/" + id.grant, status: 200, check: func(t *testing.T, b map[string]any) {
			assert.Equal(t, float64(id.grantEvents), b["access_grant"].(map[string]any)["event_count"])
		}},
		{name: "grant malformed id", target: "/v1/access_grants/" + id.grant + "0", status: 400, errType: "invalid_input", contains: "access_grant_id"},
		{name: "grant unknown", target: "/v1/access_grants/" + unknown, status: 404, errType: "not_found"},

		// GET /v1/access_grants/{access_grant_id}/events
		{name: "grant events", target: "/v1/access_grants/" + id.grant + "/events", status: 200, check: func(t *testing.T, b map[string]any) {
			assert.Len(t, b["events"], id.grantEvents)
		}},
		{name: "grant events by type", target: "/v1/access_grants/" + id.grant + "/events?event_type=access_grant.created", status: 200,
			check: func(t *testing.T, b map[string]any) { assert.Len(t, b["events"], 1) }},
		{name: "grant events window", target: "/v1/access_grants/" + id.grant + "/events?since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:01Z", status: 200,
			check: func(t *testing.T, b map[string]any) { assert.Equal(t, []any{}, b["events"]) }},
		{name: "grant events bad since", target: "/v1/access_grants/" + id.grant + "/events?since=2026-13-01T00:00:00Z", status: 400, errType: "invalid_input", contains: "since"},
		{name: "grant events limit too big", target: "/v1/access_grants/" + id.grant + "/events?limit=100000", status: 400, errType: "invalid_input", contains: "limit"},
		{name: "grant events malformed id", target: "/v1/access_grants/zz/events", status: 400, errType: "invalid_input", contains: "access_grant_id"},
		{name: "grant events unknown", target: "/v1/access_grants/" + unknown + "/events", status: 404, errType: "not_found"},

		// GET /v1/events
		{name: "events", target: "/v1/events", status: 200, check: func(t *testing.T, b map[string]any) {
			assert.Len(t, b["events"], 100)
			assert.Equal(t, true, b["pagination"].(map[string]any)["has_next_page"])
		}},
		{name: "events after_seq", target: fmt.Sprintf("/v1/events?after_seq=%d", len(events)-2), status: 200, check: func(t *testing.T, b map[string]any) {
			assert.Len(t, b["events"], 2)
			assert.Equal(t, false, b["pagination"].(map[string]any)["has_next_page"])
		}},
		{name: "events cursor", target: "/v1/events?limit=1&page_cursor=" + seqCursor, status: 200, check: func(t *testing.T, b map[string]any) {
			assert.Equal(t, 6.0, b["events"].([]any)[0].(map[string]any)["seq"])
		}},
		{name: "events by type", target: "/v1/events?event_type=access_grant.created&limit=1000", status: 200},
		{name: "events bad after_seq", target: "/v1/events?after_seq=-1", status: 400, errType: "invalid_input", contains: "after_seq"},
		{name: "events after_seq not a number", target: "/v1/events?after_seq=x", status: 400, errType: "invalid_input", contains: "after_seq"},
		{name: "events after_seq and cursor", target: "/v1/events?limit=1&after_seq=1&page_cursor=" + seqCursor, status: 200, check: func(t *testing.T, b map[string]any) {
			assert.Equal(t, 6.0, b["events"].([]any)[0].(map[string]any)["seq"], "the cursor wins")
		}},
		{name: "events bad limit", target: "/v1/events?limit=1.5", status: 400, errType: "invalid_input", contains: "limit"},

		// GET /v1/events/{event_id}
		{name: "event", target: "/v1/events/" + id.event, status: 200, check: func(t *testing.T, b map[string]any) {
			assert.Equal(t, 1.0, b["seq"])
			assert.Equal(t, id.event, b["event"].(map[string]any)["event_id"])
		}},
		{name: "event malformed id", target: "/v1/events/not-an-id", status: 400, errType: "invalid_input", contains: "event_id"},
		{name: "event unknown", target: "/v1/events/" + unknown, status: 404, errType: "not_found"},

		// Methods other than GET, unknown routes.
		{name: "POST on a v1 route", method: "POST", target: "/v1/access_methods", status: 405, errType: "method_not_allowed"},
		{name: "DELETE on a v1 route", method: "DELETE", target: "/v1/events/" + id.event, status: 405, errType: "method_not_allowed"},
		{name: "PUT on an unknown v1 path", method: "PUT", target: "/v1/nothing", status: 405, errType: "method_not_allowed"},
		{name: "HEAD", method: "HEAD", target: "/v1/access_methods/" + id.method, status: 200},
		{name: "unknown v1 path", target: "/v1/access_method", status: 404, errType: "not_found", contains: "/v1/access_method"},
		{name: "v1 itself", target: "/v1", status: 404, errType: "not_found"},
		{name: "trailing slash", target: "/v1/access_methods/", status: 404, errType: "not_found"},
		{name: "unknown path", target: "/v2/access_methods", status: 404, errType: "not_found"},
		{name: "root", target: "/", status: 404, errType: "not_found"},
		{name: "webhook not yet served", method: "POST", target: "/webhooks/seam", status: 404, errType: "not_found"},
		{name: "POST healthz", method: "POST", target: "/healthz", status: 405, errType: "method_not_allowed"},
		{name: "body over 1 MiB", target: "/v1/events", header: http.Header{"Content-Length": {"2000000"}}, status: 413, errType: "payload_too_large"},

		// Operating.
		{name: "healthz", target: "/healthz", status: 200, contains: `"ok"`},
		{name: "readyz", target: "/readyz", status: 200, check: func(t *testing.T, b map[string]any) {
			assert.Equal(t, "ready", b["status"])
			assert.Equal(t, float64(len(events)), b["log_seq"])
			assert.Equal(t, float64(len(events)), b["projection_seq"])
		}},
		{name: "metrics", target: "/metrics", status: 200, contains: "amtrack_log_head_seq"},
		{name: "openapi", target: "/openapi.json", status: 200, contains: `"openapi": "3.0.3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c.on(t)
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req := tt.header
			if req != nil && req.Get("Content-Length") != "" {
				res := c.doWithLength(method, tt.target, 2_000_000)
				require.Equal(t, tt.status, res.status, "body: %s", res.body)
				typ, _ := res.errorType(t)
				assert.Equal(t, tt.errType, typ)
				return
			}
			res := c.do(method, tt.target, req)
			require.Equal(t, tt.status, res.status, "body: %s", res.body)
			if tt.target != "/metrics" {
				assert.Equal(t, "application/json", res.header.Get("Content-Type"))
			}
			if tt.errType != "" {
				typ, msg := res.errorType(t)
				assert.Equal(t, tt.errType, typ)
				assert.NotEmpty(t, msg)
			}
			if tt.status == http.StatusMethodNotAllowed {
				assert.Equal(t, "GET, HEAD", res.header.Get("Allow"))
			}
			if tt.contains != "" {
				assert.Contains(t, string(res.body), tt.contains)
			}
			if tt.check != nil {
				tt.check(t, res.json(t))
			}
		})
	}
}

// TestInternalErrors checks that internal errors and panics are a 500
// "internal error" whose details are logged, never sent.
func TestInternalErrors(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	var logs strings.Builder
	model := &fakeModel{ReadModel: p, err: errors.New("disk on fire: /secret/path"), panics: true}
	c := newClient(t, api.NewServer(model, api.Options{Logger: newLogger(&logs)}).Handler())

	for _, target := range []string{"/v1/access_methods/" + id.method, "/v1/access_grants/" + id.grant} {
		res := c.get(target)
		require.Equal(t, http.StatusInternalServerError, res.status, "body: %s", res.body)
		typ, msg := res.errorType(t)
		assert.Equal(t, "internal", typ)
		assert.Equal(t, "internal error", msg)
		assert.NotContains(t, string(res.body), "secret")
	}
	assert.Contains(t, logs.String(), "disk on fire", "the detail is logged")
	assert.Contains(t, logs.String(), "boom: secret detail", "the panic is logged")

	// Readiness: the database does not answer.
	res := c.get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, res.status)
	assert.Equal(t, "not_ready", res.json(t)["status"])
	assert.NotContains(t, string(res.body), "secret")
}

// TestReadyzBehind checks that a read model behind the log is not ready.
func TestReadyzBehind(t *testing.T) {
	p, _ := seeded(t)
	model := &fakeModel{ReadModel: p, lag: &projection.Lag{LogSeq: 10, ProjectionSeq: 7}}
	c := newClient(t, api.NewServer(model, api.Options{}).Handler())
	res := c.get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, res.status)
	b := res.json(t)
	assert.Equal(t, "not_ready", b["status"])
	assert.Equal(t, 10.0, b["log_seq"])
	assert.Equal(t, 7.0, b["projection_seq"])
	assert.Contains(t, b["reason"], "behind")
}

// TestCaseInsensitiveIDs checks that every id parameter accepts any case
// and answers lowercase ids.
func TestCaseInsensitiveIDs(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	c := newClient(t, api.NewServer(p, api.Options{}).Handler())
	for _, target := range []string{
		"/v1/access_grants/" + strings.ToUpper(id.grant),
		"/v1/access_methods?access_grant_id=" + strings.ToUpper(id.grant),
		"/v1/events/" + strings.ToUpper(id.event),
	} {
		res := c.get(target)
		require.Equal(t, http.StatusOK, res.status, "%s: %s", target, res.body)
		assert.NotContains(t, string(res.body), strings.ToUpper(id.grant))
	}
	// A filter id in either case finds the same methods.
	lower := c.get("/v1/access_methods?access_grant_id=" + id.grant)
	upper := c.get("/v1/access_methods?access_grant_id=" + strings.ToUpper(id.grant))
	assert.NotEqual(t, `[]`, string(lower.json(t)["access_methods"].([]any)[0].(map[string]any)["access_method_id"].(string)))
	assert.Equal(t, string(lower.body), string(upper.body))
}
