package api_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
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

// TestRedactEscapedCode: a code under a name spelled with escapes, in
// another letter case, nested and repeated is redacted on every route that
// prints an event (the log, one event, both histories).
func TestRedactEscapedCode(t *testing.T) {
	events := testutil.Events(t, 3, 2)
	var code string
	var target *domain.Event
	for i, e := range events {
		if e.Code == nil {
			continue
		}
		code = *e.Code
		raw := bytes.Replace(e.Raw, []byte(`"code":`), []byte(`"c\u006fde":`), 1)
		raw = append(raw[:len(raw)-1], `,"metadata":{"items":[{"CODE":"`+code+`"}]},"cod\u0065":"`+code+`"}`...)
		var err error
		target, err = domain.ParseEvent(raw)
		require.NoError(t, err)
		require.Equal(t, code, *target.Code, "the parser reads the escaped name")
		events[i] = target
		break
	}
	require.NotNil(t, target)
	p := MustOpen(t)
	appendEvents(t, p, events)
	c := newClient(t, api.NewServer(p, api.Options{}).Handler())

	var saw int
	for _, res := range crawl(t, c, events) {
		if bytes.Contains(res.body, []byte(target.ID.String())) {
			saw++
		}
		codes, strs, _ := codesIn(t, res.body)
		assert.Empty(t, codes, "a code field with a value: %s", res.body)
		assert.NotContains(t, strs, code, "the code in %s", res.body)
		assert.Empty(t, codeMembers(t, res.body), "a member named code with a value in %s", res.body)
	}
	assert.GreaterOrEqual(t, saw, 4, "the event is printed by /v1/events, /v1/events/{id} and both histories")
	res := c.get("/v1/events/" + target.ID.String())
	var item struct {
		Event map[string]any `json:"event"`
	}
	require.NoError(t, json.Unmarshal(res.body, &item))
	assert.Equal(t, true, item.Event["code_redacted"])
	assert.Equal(t, map[string]any{"items": []any{map[string]any{"code_redacted": true}}}, item.Event["metadata"])
}

// codeMembers returns the names of the members of body named code in any
// letter case whose value is not null.
func codeMembers(t *testing.T, body []byte) []string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	var names []string
	var visit func(any)
	visit = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if strings.EqualFold(k, "code") && x != nil {
					names = append(names, k)
				}
				visit(x)
			}
		case []any:
			for _, x := range v {
				visit(x)
			}
		}
	}
	visit(v)
	return names
}
