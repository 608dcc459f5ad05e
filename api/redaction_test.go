package api_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/domain"
)

// crawl GETs every route for every access method, grant and event of
// events and returns the bodies.
func crawl(t *testing.T, c *client, events []*domain.Event) []response {
	t.Helper()
	methods, grants := map[domain.ID]int64{}, map[domain.ID]bool{}
	for _, e := range events {
		if e.IsMethodEvent() {
			methods[e.AccessMethodID] = e.OccurredAt
		}
		for _, g := range e.GrantIDs() {
			grants[g] = true
		}
	}
	var out []response
	get := func(target string) {
		res := c.get(target)
		require.Equal(t, 200, res.status, "%s: %s", target, res.body)
		out = append(out, res)
	}
	get("/v1/access_methods?limit=1000")
	get("/v1/events?limit=1000")
	for id, last := range methods {
		get("/v1/access_methods/" + id.String())
		get("/v1/access_methods/" + id.String() + "?as_of=" + url.QueryEscape(domain.FormatNanos(last)))
		get("/v1/access_methods/" + id.String() + "/events?limit=1000")
	}
	for id := range grants {
		get("/v1/access_grants/" + id.String())
		get("/v1/access_grants/" + id.String() + "/events?limit=1000")
	}
	for _, e := range events {
		get("/v1/events/" + e.ID.String())
	}
	return out
}

// codesIn returns every value of a "code" field and every string value of
// body, and whether some object has code_redacted true.
func codesIn(t *testing.T, body []byte) (codes, strs []string, redacted bool) {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	var visit func(any)
	visit = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if c, ok := x.(string); ok && k == "code" {
					codes = append(codes, c)
				}
				if k == "code_redacted" && x == true {
					redacted = true
				}
				visit(x)
			}
		case []any:
			for _, x := range v {
				visit(x)
			}
		case string:
			strs = append(strs, v)
		}
	}
	visit(v)
	return codes, strs, redacted
}

// TestNoCodeWithoutReveal crawls the whole API: without reveal no PIN code
// appears anywhere (no code field has a value, no string equals a code);
// with reveal the codes are there.
func TestNoCodeWithoutReveal(t *testing.T) {
	p, events := seeded(t)
	secrets := map[string]bool{}
	for _, e := range events {
		if e.Code != nil {
			secrets[*e.Code] = true
		}
	}
	require.NotEmpty(t, secrets)

	t.Run("redacted", func(t *testing.T) {
		c := newClient(t, api.NewServer(p, api.Options{}).Handler())
		var redacted int
		for _, res := range crawl(t, c, events) {
			codes, strs, r := codesIn(t, res.body)
			assert.Empty(t, codes, "a code field with a value: %s", res.body)
			for _, s := range strs {
				assert.False(t, secrets[s], "code %q in %s", s, res.body)
			}
			if r {
				redacted++
			}
		}
		assert.Positive(t, redacted, "redacted codes are marked code_redacted")
	})
	t.Run("revealed", func(t *testing.T) {
		c := newClient(t, api.NewServer(p, api.Options{RevealCodes: true}).Handler())
		found := map[string]bool{}
		for _, res := range crawl(t, c, events) {
			codes, _, r := codesIn(t, res.body)
			assert.False(t, r, "nothing is redacted: %s", res.body)
			for _, code := range codes {
				found[code] = true
			}
		}
		assert.Equal(t, secrets, found, "every code is revealed")
	})
}
