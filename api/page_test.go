package api_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection"
)

// pageOf is one page of a list as received.
type pageOf struct {
	items   []json.RawMessage // as indented in the body
	size    int               // of the body
	hasNext bool
	cursor  string
}

// getPage gets target and splits the page of list.
func getPage(t *testing.T, c *client, target, list string) pageOf {
	t.Helper()
	res := c.get(target)
	require.Equal(t, http.StatusOK, res.status, "%s: %s", target, res.body)
	var body map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(res.body, &body))
	var pg pageOf
	require.NoError(t, json.Unmarshal(body[list], &pg.items))
	var p struct {
		HasNext bool    `json:"has_next_page"`
		Cursor  *string `json:"next_page_cursor"`
	}
	require.NoError(t, json.Unmarshal(body["pagination"], &p))
	pg.size, pg.hasNext = len(res.body), p.HasNext
	if p.Cursor != nil {
		pg.cursor = *p.Cursor
	}
	require.Equal(t, pg.hasNext, pg.cursor != "", "a cursor exactly when there is a next page")
	return pg
}

// follow returns target continued after cursor.
func follow(target, cursor string) string {
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	return target + sep + "page_cursor=" + url.QueryEscape(cursor)
}

// walkPages follows target to its last page.
func walkPages(t *testing.T, c *client, target, list string) []pageOf {
	t.Helper()
	var pages []pageOf
	next := target
	for {
		require.Less(t, len(pages), 10000, "the walk does not end")
		pg := getPage(t, c, next, list)
		pages = append(pages, pg)
		if !pg.hasNext {
			return pages
		}
		next = follow(target, pg.cursor)
	}
}

// keysOf reads the key of every item of pages, in order.
func keysOf(t *testing.T, pages []pageOf, key func(map[string]any) string) []string {
	t.Helper()
	var keys []string
	for _, pg := range pages {
		for _, it := range pg.items {
			var v map[string]any
			require.NoError(t, json.Unmarshal(it, &v))
			keys = append(keys, key(v))
		}
	}
	return keys
}

// envelope bounds the bytes of a page body around its items.
const envelope = 256

// TestPageBudget walks every list with limit 1000 under a small page
// budget: pages stop at the budget (plus at most one item), and the walk
// returns the whole list, in order, without loss or repeat.
func TestPageBudget(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	const budget = 4 << 10
	small := api.NewServer(p, api.Options{})
	api.SetPageBytes(small, budget)
	c := newClient(t, small.Handler())
	whole := newClient(t, api.NewServer(p, api.Options{}).Handler())

	tests := []struct {
		name, target, list string
		key                func(map[string]any) string
	}{
		{"methods", "/v1/access_methods?limit=1000", "access_methods", methodKey},
		{"method events", "/v1/access_methods/" + id.method + "/events?limit=1000", "events", eventKey},
		{"grant events", "/v1/access_grants/" + id.grant + "/events?limit=1000", "events", eventKey},
		{"log", "/v1/events?limit=1000", "events", eventKey},
		{"log of a type", "/v1/events?event_type=access_grant.created&limit=1000", "events", eventKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := getPage(t, whole.on(t), tt.target, tt.list)
			require.False(t, all.hasNext, "the whole list fits one page of the default budget")
			maxItem := 0
			for _, it := range all.items {
				maxItem = max(maxItem, len(it))
			}
			require.Greater(t, all.size, 2*budget, "the list must be longer than the budget")

			pages := walkPages(t, c.on(t), tt.target, tt.list)
			require.Greater(t, len(pages), 1)
			for i, pg := range pages {
				require.NotEmpty(t, pg.items, "page %d: one item always fits", i)
				assert.LessOrEqual(t, pg.size, budget+maxItem+envelope, "page %d", i)
			}
			assert.Equal(t, keysOf(t, []pageOf{all}, tt.key), keysOf(t, pages, tt.key))
		})
	}
}

// padded returns events with a padding field of n bytes each (unknown
// fields are kept), as large events.
func padded(t *testing.T, events []*domain.Event, n int) []*domain.Event {
	t.Helper()
	out := make([]*domain.Event, len(events))
	for i, e := range events {
		raw := append([]byte(`{"padding":"`+strings.Repeat("x", n)+`",`), e.Raw[1:]...)
		pe, err := domain.ParseEvent(raw)
		require.NoError(t, err)
		out[i] = pe
	}
	return out
}

// TestPageBudgetLargeEvents pages a log of large events with limit 1000:
// a page holds about MaxPageBytes (plus at most one event), not the whole
// log, and following the cursor returns every event once, in order.
func TestPageBudgetLargeEvents(t *testing.T) {
	const eventBytes = 300 << 10
	events := padded(t, testutil.Events(t, 2, 1)[:12], eventBytes)
	p := MustOpen(t)
	appendEvents(t, p, events)
	c := newClient(t, api.NewServer(p, api.Options{}).Handler())

	pages := walkPages(t, c, "/v1/events?limit=1000", "events")
	require.Greater(t, len(pages), 1, "%d events of %d KiB do not fit one page", len(events), eventBytes>>10)
	for i, pg := range pages {
		assert.LessOrEqual(t, pg.size, api.MaxPageBytes+eventBytes+4<<10+envelope, "page %d", i)
		assert.NotEmpty(t, pg.items)
	}
	assert.Equal(t, idsOf(events), keysOf(t, pages, eventKey))
}

// TestOrdinaryPageBytes checks that a page within the budget is byte for
// byte what encoding/json indents (as the CLI prints it).
func TestOrdinaryPageBytes(t *testing.T) {
	p, _ := seeded(t)
	c := newClient(t, api.NewServer(p, api.Options{}).Handler())
	ctx := t.Context()
	indent := func(v any) string {
		b, err := json.MarshalIndent(v, "", "  ")
		require.NoError(t, err)
		return string(b) + "\n"
	}

	page, err := p.Events(ctx, projection.EventFilter{Limit: 1000})
	require.NoError(t, err)
	res := c.get("/v1/events?limit=1000")
	assert.Equal(t, indent(map[string]any{"events": projection.Items(page.Records, false),
		"pagination": map[string]any{"has_next_page": false, "next_page_cursor": nil}}), string(res.body))

	res = c.get("/v1/events?limit=3&after_seq=10")
	cursor := res.json(t)["pagination"].(map[string]any)["next_page_cursor"]
	require.NotNil(t, cursor)
	page, err = p.Events(ctx, projection.EventFilter{After: 10, Limit: 3})
	require.NoError(t, err)
	assert.Equal(t, indent(map[string]any{"events": projection.Items(page.Records, false),
		"pagination": map[string]any{"has_next_page": true, "next_page_cursor": cursor}}), string(res.body))

	res = c.get("/v1/events?after_seq=100000")
	assert.Equal(t, indent(map[string]any{"events": []any{},
		"pagination": map[string]any{"has_next_page": false, "next_page_cursor": nil}}), string(res.body))

	methods, err := p.ListAccessMethods(ctx, projection.MethodFilter{Limit: 5})
	require.NoError(t, err)
	for i, m := range methods {
		methods[i] = m.Redacted()
	}
	res = c.get("/v1/access_methods?limit=5")
	cursor = res.json(t)["pagination"].(map[string]any)["next_page_cursor"]
	assert.Equal(t, indent(map[string]any{"access_methods": methods,
		"pagination": map[string]any{"has_next_page": true, "next_page_cursor": cursor}}), string(res.body))
}

// seqOfCursor decodes a log cursor's seq (the format of api/params.go).
func seqOfCursor(t *testing.T, cursor string) int64 {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	require.NoError(t, err)
	require.Len(t, b, 10)
	return int64(binary.BigEndian.Uint64(b[2:]))
}

// rareType returns the least frequent event type of events and the ids of
// its events in log order.
func rareType(events []*domain.Event) (string, []string) {
	count := map[string]int{}
	for _, e := range events {
		count[e.Type]++
	}
	rare := events[0].Type
	for _, e := range events {
		if count[e.Type] < count[rare] {
			rare = e.Type
		}
	}
	var ids []string
	for _, e := range events {
		if e.Type == rare {
			ids = append(ids, e.ID.String())
		}
	}
	return rare, ids
}

// TestTypedLogScanBound follows the log filtered by a rare type with a
// small scan bound: a page holds only events of the seqs it may examine
// (partial pages, even empty ones, have a next page at the last seq
// examined), and the client following the cursors finds exactly the rare
// events.
func TestTypedLogScanBound(t *testing.T) {
	p, events := seeded(t)
	rare, want := rareType(events)
	require.Less(t, len(want), len(events)/10, "the type must be rare")
	const scan = 40
	srv := api.NewServer(p, api.Options{})
	api.SetMaxScan(srv, scan)
	c := newClient(t, srv.Handler())

	for _, limit := range []int{1, 2, 1000} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			target := fmt.Sprintf("/v1/events?event_type=%s&limit=%d", rare, limit)
			pages := walkPages(t, c.on(t), target, "events")
			pos, empty := int64(0), 0
			for i, pg := range pages {
				for _, it := range pg.items {
					var v struct{ Seq int64 }
					require.NoError(t, json.Unmarshal(it, &v))
					require.Greater(t, v.Seq, pos, "page %d", i)
					require.LessOrEqual(t, v.Seq, pos+scan, "page %d: seq %d is beyond the seqs it may examine", i, v.Seq)
				}
				if len(pg.items) == 0 {
					empty++
				}
				if pg.hasNext {
					next := seqOfCursor(t, pg.cursor)
					require.LessOrEqual(t, next, pos+scan, "page %d", i)
					pos = next
				}
			}
			assert.Equal(t, want, keysOf(t, pages, eventKey))
			assert.Greater(t, len(pages), len(events)/scan, "every page examines at most %d seqs", scan)
			if limit == 1000 {
				assert.NotZero(t, empty, "windows without a rare event answer empty pages")
			}
		})
	}
}

// TestTypedLogScansConcurrent runs walks of a rare type on many
// connections while ordinary requests are served: every walk finds exactly
// the rare events and every ordinary request is answered.
func TestTypedLogScansConcurrent(t *testing.T) {
	p, events := seeded(t)
	id := pickIDs(t, events)
	rare, want := rareType(events)
	srv := api.NewServer(p, api.Options{})
	api.SetMaxScan(srv, 20)
	base, _ := serve(t, srv)

	get := func(target string) (map[string]any, error) {
		res, err := http.Get(base + target)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: %d %s", target, res.StatusCode, b)
		}
		var v map[string]any
		return v, json.Unmarshal(b, &v)
	}
	scanWalk := func() ([]string, error) {
		target := "/v1/events?limit=1000&event_type=" + rare
		next := target
		var got []string
		for range 10000 {
			body, err := get(next)
			if err != nil {
				return nil, err
			}
			for _, it := range body["events"].([]any) {
				got = append(got, eventKey(it.(map[string]any)))
			}
			pg := body["pagination"].(map[string]any)
			if pg["has_next_page"] != true {
				return got, nil
			}
			next = follow(target, pg["next_page_cursor"].(string))
		}
		return nil, fmt.Errorf("the walk does not end")
	}

	const walkers = 16
	results := make([][]string, walkers)
	errs := make([]error, walkers)
	var wg sync.WaitGroup
	for i := range walkers {
		wg.Go(func() { results[i], errs[i] = scanWalk() })
	}
	for range 20 {
		body, err := get("/v1/access_methods/" + id.method)
		require.NoError(t, err)
		assert.Equal(t, id.method, body["access_method"].(map[string]any)["access_method_id"])
	}
	wg.Wait()
	for i := range walkers {
		require.NoError(t, errs[i])
		assert.Equal(t, want, results[i], "walker %d", i)
	}
}
