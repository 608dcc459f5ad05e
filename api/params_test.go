package api_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
)

// TestMalformedQuery checks that a query that is not valid URL encoding is
// a 400 naming the parameter, where it was silently dropped before.
func TestMalformedQuery(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	c := newClient(t, api.NewServer(p, api.Options{}).Handler())
	tests := []struct {
		name, target, contains string
	}{
		{"bad escape in limit", "/v1/events?limit=%zz", `limit is not valid URL encoding, got \"%zz\"`},
		{"truncated escape", "/v1/access_methods?status=issued%", `status is not valid URL encoding`},
		{"bad escape in a name", "/v1/events?li%zzmit=5", `the query parameter name \"li%zzmit\"`},
		{"bad escape in an unknown parameter", "/v1/access_methods?foo=%g1", `foo is not valid URL encoding`},
		{"semicolon separator", "/v1/events?limit=5;after_seq=2", `separated by \u0026, not ;`},
		{"history", "/v1/access_grants/" + id.grant + "/events?since=%zz", `since is not valid URL encoding`},
		{"method events", "/v1/access_methods/" + id.method + "/events?page_cursor=%", `page_cursor is not valid URL encoding`},
		{"method as_of", "/v1/access_methods/" + id.method + "?as_of=%zz", `as_of is not valid URL encoding`},
		{"after a valid parameter", "/v1/events?after_seq=1&limit=%zz", `limit is not valid URL encoding`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.on(t).get(tt.target)
			require.Equal(t, 400, res.status, "%s", res.body)
			typ, _ := res.errorType(t)
			assert.Equal(t, "invalid_input", typ)
			assert.Contains(t, string(res.body), tt.contains)
		})
	}

	// Valid escapes still read as before.
	res := c.get("/v1/events?limit=%32&event_type=access_method.issued")
	require.Equal(t, 200, res.status, "%s", res.body)
	assert.Len(t, res.json(t)["events"], 2)
}
