package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// TestMethodBodyCache: a GET of an access method answered from the body
// rendered for the current version of its state is byte for byte the body
// rendered afresh (a server over a model that tells no versions), before
// and after the state changes: by an event folded after the last one, and
// by one that sorts before it (a refold, which keeps the last fold key).
func TestMethodBodyCache(t *testing.T) {
	p, events := seeded(t)
	cached := newClient(t, api.NewServer(p, api.Options{}).Handler())
	fresh := newClient(t, api.NewServer(&fakeModel{ReadModel: p}, api.Options{}).Handler())
	same := func(t *testing.T, path string) []byte {
		t.Helper()
		first, again, want := cached.on(t).get(path), cached.on(t).get(path), fresh.on(t).get(path)
		require.Equal(t, http.StatusOK, want.status, string(want.body))
		assert.Equal(t, string(want.body), string(first.body))
		assert.Equal(t, string(want.body), string(again.body), "the second answer, from the cache")
		assert.Equal(t, want.header.Get("Content-Type"), again.header.Get("Content-Type"))
		return want.body
	}
	seen := map[domain.ID]bool{}
	for _, e := range events {
		if e.IsMethodEvent() && !seen[e.AccessMethodID] {
			seen[e.AccessMethodID] = true
			same(t, "/v1/access_methods/"+e.AccessMethodID.String())
		}
	}

	const method = "d5a1c7e3-9f2b-4d6a-b8c4-0000000a11ce"
	path := "/v1/access_methods/" + method
	event := func(n int, typ, at, extra string) *domain.Event {
		return testutil.Parse(t, fmt.Sprintf(`{"event_id":"7c2e9a4f-1b3d-4e5f-8a6c-%012d","event_type":"access_method.%s",`+
			`"workspace_id":%q,"created_at":%q,"occurred_at":%q,"access_method_id":%q,"access_grant_ids":[%q]%s}`,
			n, typ, testutil.WorkspaceID, at, at, method, testutil.GrantID, extra))
	}
	appendEvents(t, p, []*domain.Event{event(900001, "created", "2026-03-02T10:00:00Z", "")})
	created := same(t, path)

	appendEvents(t, p, []*domain.Event{event(900002, "issued", "2026-03-02T11:00:00Z", `,"code":"4821"`)})
	issued := same(t, path)
	assert.NotEqual(t, string(created), string(issued), "an event folded after the last one changes the answer")
	assert.NotContains(t, string(issued), "4821", "the code is redacted")

	// A revocation that occurred before the issue: the method is refolded
	// and its last fold key stays the issue's.
	appendEvents(t, p, []*domain.Event{event(900003, "revoked", "2026-03-02T10:30:00Z", "")})
	refolded := same(t, path)
	assert.NotEqual(t, string(issued), string(refolded), "a refold changes the answer")
}

// openingModel reads every event list with its sealed bytes opened, as the
// server did before redacted answers read the stored payloads unopened.
type openingModel struct{ api.ReadModel }

func (m openingModel) MethodEvents(ctx context.Context, id domain.ID, f projection.HistoryFilter) ([]store.Record, error) {
	f.Redacted = false
	return m.ReadModel.MethodEvents(ctx, id, f)
}

func (m openingModel) GrantHistory(ctx context.Context, id domain.ID, f projection.HistoryFilter) ([]store.Record, error) {
	f.Redacted = false
	return m.ReadModel.GrantHistory(ctx, id, f)
}

func (m openingModel) Events(ctx context.Context, f projection.EventFilter) (projection.EventPage, error) {
	f.Redacted = false
	return m.ReadModel.Events(ctx, f)
}

// TestRedactedListsReadUnopened: a redacted event list (a method's or a
// grant's history, the log), read from the stored payloads without opening
// a sealed byte, is byte for byte the list read with every code opened and
// then redacted, page for page. (The reading budget counts the stored
// payloads, which for an event with a code are its compact redacted form;
// an event with a code and much insignificant whitespace could move where
// the budget ends a page, never what the pages hold in all.)
func TestRedactedListsReadUnopened(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	for _, budget := range []int{0, 600} {
		su, so := api.NewServer(p, api.Options{}), api.NewServer(openingModel{p}, api.Options{})
		if budget > 0 {
			api.SetPageBytes(su, budget)
			api.SetPageBytes(so, budget)
		}
		unopened, opened := newClient(t, su.Handler()), newClient(t, so.Handler())
		for _, path := range []string{"/v1/access_methods/" + id.codeMethod + "/events", "/v1/access_grants/" + id.grant + "/events",
			"/v1/events?limit=500", "/v1/events?event_type=access_method.issued"} {
			t.Run(fmt.Sprintf("%s budget %d", path, budget), func(t *testing.T) {
				pages := 0
				for next := path; ; pages++ {
					require.Less(t, pages, 1000, "the walk does not end")
					got, want := unopened.on(t).get(next), opened.on(t).get(next)
					require.Equal(t, http.StatusOK, want.status, string(want.body))
					require.Equal(t, string(want.body), string(got.body))
					pg := getPage(t, unopened.on(t), next, "events")
					if !pg.hasNext {
						break
					}
					next = follow(path, pg.cursor)
				}
				if budget > 0 {
					assert.Positive(t, pages, "a small budget must cut the list into pages")
				}
			})
		}
	}
}
