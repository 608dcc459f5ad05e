package api_test

import (
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
)

// walk follows a list from target to its last page, calling between after
// each page but the last, and returns the items' keys (key reads one item)
// in the order received.
func walk(t *testing.T, c *client, target, list string, key func(map[string]any) string, between func()) []string {
	t.Helper()
	var keys []string
	next := target
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10000, "the walk does not end")
		res := c.get(next)
		require.Equal(t, 200, res.status, "%s: %s", next, res.body)
		body := res.json(t)
		for _, it := range body[list].([]any) {
			keys = append(keys, key(it.(map[string]any)))
		}
		p := body["pagination"].(map[string]any)
		if p["has_next_page"] != true {
			assert.Nil(t, p["next_page_cursor"], "the last page has no cursor")
			return keys
		}
		cursor, ok := p["next_page_cursor"].(string)
		require.True(t, ok && cursor != "", "a page with a next page has a cursor")
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		next = target + sep + "page_cursor=" + url.QueryEscape(cursor)
		if between != nil {
			between()
		}
	}
}

func methodKey(m map[string]any) string { return m["access_method_id"].(string) }

func eventKey(it map[string]any) string { return it["event"].(map[string]any)["event_id"].(string) }

// foldOrder returns the ids of events (selected by keep) in fold order.
func foldOrder(events []*domain.Event, keep func(*domain.Event) bool) []string {
	var sel []*domain.Event
	for _, e := range events {
		if keep(e) {
			sel = append(sel, e)
		}
	}
	sort.Slice(sel, func(i, j int) bool { return sel[i].Key().Compare(sel[j].Key()) < 0 })
	out := make([]string, len(sel))
	for i, e := range sel {
		out[i] = e.ID.String()
	}
	return out
}

// methodIDs returns the sorted ids of the methods that events fold into.
func methodIDs(events []*domain.Event) []string {
	set := map[string]bool{}
	for _, e := range events {
		if e.IsMethodEvent() && domain.Folds(e.Type) {
			set[e.AccessMethodID.String()] = true
		}
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func hasGrant(g domain.ID) func(*domain.Event) bool {
	return func(e *domain.Event) bool { return slices.Contains(e.GrantIDs(), g) }
}

// TestPaginationWalk walks every list with limit 3 and compares with the
// full set computed from the events.
func TestPaginationWalk(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	c := newClient(t, api.NewServer(p, api.Options{}).Handler())
	method, grant := domain.MustParseID(id.method), domain.MustParseID(id.grant)

	seqs := make([]string, len(events))
	for i := range events {
		seqs[i] = events[i].ID.String() // seq i+1 is the i-th event appended
	}
	var created []string // in seq order
	for _, e := range events {
		if e.Type == domain.TypeGrantCreated {
			created = append(created, e.ID.String())
		}
	}
	full := func(target string) []string { // one page of up to 1000
		return walk(t, c, target+"limit=1000", "access_methods", methodKey, nil)
	}

	tests := []struct {
		name, target, list string
		key                func(map[string]any) string
		want               []string
	}{
		{"methods", "/v1/access_methods?limit=3", "access_methods", methodKey, methodIDs(events)},
		{"methods of a status", "/v1/access_methods?status=issued&limit=3", "access_methods", methodKey, full("/v1/access_methods?status=issued&")},
		{"methods of a grant", "/v1/access_methods?access_grant_id=" + id.grant + "&limit=1", "access_methods", methodKey, full("/v1/access_methods?access_grant_id=" + id.grant + "&")},
		{"method events", "/v1/access_methods/" + id.method + "/events?limit=3", "events", eventKey,
			foldOrder(events, func(e *domain.Event) bool { return e.IsMethodEvent() && e.AccessMethodID == method })},
		{"grant events", "/v1/access_grants/" + id.grant + "/events?limit=3", "events", eventKey, foldOrder(events, hasGrant(grant))},
		{"grant events of a type", "/v1/access_grants/" + id.grant + "/events?event_type=access_method.revoked&limit=2", "events", eventKey,
			foldOrder(events, func(e *domain.Event) bool { return hasGrant(grant)(e) && e.Type == domain.TypeRevoked })},
		{"log", "/v1/events?limit=3", "events", eventKey, seqs},
		{"log of a type", "/v1/events?event_type=access_grant.created&limit=3", "events", eventKey, created},
		{"log after a seq", "/v1/events?after_seq=400&limit=7", "events", eventKey, seqs[400:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NotEmpty(t, tt.want)
			got := walk(t, c.on(t), tt.target, tt.list, tt.key, nil)
			assert.Equal(t, tt.want, got)
		})
	}
	// The sample lists are long enough to need several pages.
	assert.Greater(t, id.grantEvents, 3)
	assert.Greater(t, id.methodEvents, 3)
}

// TestPaginationWhileAppending walks every list while events are appended
// between pages: a cursor is a position, so no item of the list as it was
// when the walk began is skipped or repeated, the order holds, and items
// appended after the position are picked up.
func TestPaginationWhileAppending(t *testing.T) {
	all := testutil.Events(t, 60, 7)
	id := pickIDs(t, all)
	grant, method := domain.MustParseID(id.grant), domain.MustParseID(id.method)
	cut := len(all) * 6 / 10
	pos := map[string]domain.Key{}
	for _, e := range all {
		pos[e.ID.String()] = e.Key()
	}

	tests := []struct {
		name, target, list string
		key                func(map[string]any) string
		before, after      func(events []*domain.Event) []string // the full list then and at the end
		less               func(a, b string) bool
	}{
		{"methods", "/v1/access_methods?limit=3", "access_methods", methodKey, methodIDs, methodIDs,
			func(a, b string) bool { return a < b }},
		{"grant events", "/v1/access_grants/" + id.grant + "/events?limit=2", "events", eventKey,
			func(ev []*domain.Event) []string { return foldOrder(ev, hasGrant(grant)) },
			func(ev []*domain.Event) []string { return foldOrder(ev, hasGrant(grant)) },
			func(a, b string) bool { return pos[a].Compare(pos[b]) < 0 }},
		{"method events", "/v1/access_methods/" + id.method + "/events?limit=2", "events", eventKey,
			func(ev []*domain.Event) []string {
				return foldOrder(ev, func(e *domain.Event) bool { return e.IsMethodEvent() && e.AccessMethodID == method })
			},
			func(ev []*domain.Event) []string {
				return foldOrder(ev, func(e *domain.Event) bool { return e.IsMethodEvent() && e.AccessMethodID == method })
			},
			func(a, b string) bool { return pos[a].Compare(pos[b]) < 0 }},
		{"log", "/v1/events?limit=5", "events", eventKey,
			func(ev []*domain.Event) []string { return idsOf(ev) }, func(ev []*domain.Event) []string { return idsOf(ev) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustOpen(t)
			appendEvents(t, p, all[:cut])
			c := newClient(t, api.NewServer(p, api.Options{}).Handler())
			before := tt.before(all[:cut])
			require.NotEmpty(t, before)
			if tt.name != "log" && tt.name != "methods" {
				// The sample must really be split: some of its events come later.
				require.Less(t, len(before), len(tt.after(all)), "events of the sample must be appended during the walk")
			}
			rest := all[cut:]
			got := walk(t, c, tt.target, tt.list, tt.key, func() {
				n := min(len(rest), 15)
				appendEvents(t, p, rest[:n])
				rest = rest[n:]
			})
			appendEvents(t, p, rest)
			final := tt.after(all)

			// No repeats, order kept, nothing invented.
			seen := map[string]bool{}
			for i, k := range got {
				require.False(t, seen[k], "%s repeated", k)
				seen[k] = true
				if i > 0 && tt.less != nil {
					require.True(t, tt.less(got[i-1], k), "out of order at %d", i)
				}
			}
			assert.Subset(t, final, got)
			// Nothing that was there when the walk began is skipped.
			assert.Subset(t, got, before)
			if tt.less == nil { // the log: appends come after every position
				assert.Equal(t, final[:len(got)], got)
				assert.Greater(t, len(got), len(before), "appended events are picked up")
			}
		})
	}
}

func idsOf(events []*domain.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID.String()
	}
	return out
}
