package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
)

// TestAuth checks the bearer token on /v1 with a token set, the open
// routes, and that without a token /v1 is open.
func TestAuth(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	const token = "s3cret-token"
	withToken := newClient(t, api.NewServer(p, api.Options{Token: token}).Handler())
	without := newClient(t, api.NewServer(p, api.Options{}).Handler())
	bearer := func(v string) http.Header { return http.Header{"Authorization": {v}} }
	v1 := []string{
		"/v1/access_methods",
		"/v1/access_methods/" + id.method,
		"/v1/access_methods/" + id.method + "/events",
		"/v1/access_grants/" + id.grant,
		"/v1/access_grants/" + id.grant + "/events",
		"/v1/events",
		"/v1/events/" + id.event,
		"/v1/log/head",
		"/v1/nothing", // auth comes before the 404
		"/v1/access_methods/abc",
	}
	open := []string{"/healthz", "/readyz", "/metrics", "/openapi.json"}

	tests := []struct {
		name   string
		c      *client
		method string
		header http.Header
		status int // for /v1 routes that exist; 0: not 401
	}{
		{"token: no header", withToken, "GET", nil, 401},
		{"token: wrong token", withToken, "GET", bearer("Bearer nope"), 401},
		{"token: token with a suffix", withToken, "GET", bearer("Bearer " + token + "x"), 401},
		{"token: a prefix of the token", withToken, "GET", bearer("Bearer " + token[:4]), 401},
		{"token: basic auth", withToken, "GET", bearer("Basic " + token), 401},
		{"token: no scheme", withToken, "GET", bearer(token), 401},
		{"token: empty bearer", withToken, "GET", bearer("Bearer "), 401},
		{"token: POST without a token", withToken, "POST", nil, 401},
		{"token: right token", withToken, "GET", bearer("Bearer " + token), 0},
		{"token: scheme in any case", withToken, "GET", bearer("bearer " + token), 0},
		{"no token: no header", without, "GET", nil, 0},
		{"no token: any header", without, "GET", bearer("Bearer whatever"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c.on(t)
			for _, target := range v1 {
				res := c.do(tt.method, target, tt.header)
				if tt.status == http.StatusUnauthorized {
					require.Equal(t, 401, res.status, "%s: %s", target, res.body)
					typ, msg := res.errorType(t)
					assert.Equal(t, "unauthorized", typ)
					assert.Contains(t, msg, "AMTRACK_API_TOKEN")
					assert.Equal(t, `Bearer realm="amtrack"`, res.header.Get("WWW-Authenticate"))
					assert.NotContains(t, string(res.body), token)
					continue
				}
				assert.NotEqual(t, 401, res.status, "%s: %s", target, res.body)
			}
			// Probes, scrapers and the document are always open.
			for _, target := range open {
				res := c.do("GET", target, tt.header)
				assert.Equal(t, 200, res.status, "%s: %s", target, res.body)
			}
		})
	}
}
