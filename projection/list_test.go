package projection_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

func methodIDList(ms []*domain.AccessMethod) []domain.ID {
	out := make([]domain.ID, len(ms))
	for i, m := range ms {
		out[i] = m.AccessMethodID
	}
	return out
}

// TestListAccessMethods checks every filter against the states filtered
// in Go, and paging with After and Limit.
func TestListAccessMethods(t *testing.T) {
	ctx := context.Background()
	p := MustOpen(t)
	events := testutil.Events(t, 150, 3)
	ingest(t, p, events, rand.New(rand.NewPCG(1, 2)), 300)

	all, err := p.ListAccessMethods(ctx, projection.MethodFilter{})
	require.NoError(t, err)
	require.NotEmpty(t, all)
	ids := methodIDList(all)
	require.True(t, slices.IsSortedFunc(ids, func(a, b domain.ID) int { return slices.Compare(a[:], b[:]) }), "ordered by id")
	for _, m := range all {
		want, err := p.AccessMethod(ctx, m.AccessMethodID)
		require.NoError(t, err)
		assert.Equal(t, want, m)
	}

	// Filter values taken from the data.
	grant := all[0].AccessGrantIDs[0]
	var key string
	for _, m := range all {
		if len(m.AccessGrantKeys) > 0 {
			key = m.AccessGrantKeys[0]
			break
		}
	}
	require.NotEmpty(t, key, "some method has a grant key")
	yes, no := true, false
	workspace := all[len(all)-1].WorkspaceID
	tests := []struct {
		name string
		f    projection.MethodFilter
		keep func(*domain.AccessMethod) bool
	}{
		{"grant", projection.MethodFilter{AccessGrantID: &grant}, func(m *domain.AccessMethod) bool { return slices.Contains(m.AccessGrantIDs, grant) }},
		{"key", projection.MethodFilter{AccessGrantKey: key}, func(m *domain.AccessMethod) bool { return slices.Contains(m.AccessGrantKeys, key) }},
		{"grant and key", projection.MethodFilter{AccessGrantID: &grant, AccessGrantKey: key}, func(m *domain.AccessMethod) bool {
			return slices.Contains(m.AccessGrantIDs, grant) && slices.Contains(m.AccessGrantKeys, key)
		}},
		{"workspace", projection.MethodFilter{WorkspaceID: &workspace}, func(m *domain.AccessMethod) bool { return m.WorkspaceID == workspace }},
		{"status", projection.MethodFilter{Status: domain.StatusDeleted}, func(m *domain.AccessMethod) bool { return m.Status == domain.StatusDeleted }},
		{"mode", projection.MethodFilter{Mode: domain.ModeCode}, func(m *domain.AccessMethod) bool { return m.Mode != nil && *m.Mode == domain.ModeCode }},
		{"issued", projection.MethodFilter{IsIssued: &yes}, func(m *domain.AccessMethod) bool { return m.IsIssued }},
		{"not issued", projection.MethodFilter{IsIssued: &no}, func(m *domain.AccessMethod) bool { return !m.IsIssued }},
		{"mode and status", projection.MethodFilter{Mode: domain.ModeCard, Status: domain.StatusIssued}, func(m *domain.AccessMethod) bool {
			return m.Mode != nil && *m.Mode == domain.ModeCard && m.Status == domain.StatusIssued
		}},
		{"after", projection.MethodFilter{After: &ids[len(ids)/2]}, func(m *domain.AccessMethod) bool {
			return slices.Compare(m.AccessMethodID[:], ids[len(ids)/2][:]) > 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []domain.ID
			for _, m := range all {
				if tt.keep(m) {
					want = append(want, m.AccessMethodID)
				}
			}
			require.NotEmpty(t, want, "the filter must select something")
			got, err := p.ListAccessMethods(ctx, tt.f)
			require.NoError(t, err)
			assert.Equal(t, want, methodIDList(got))

			// Pages of 2 give the same list.
			var paged []domain.ID
			f := tt.f
			f.Limit = 2
			for {
				page, err := p.ListAccessMethods(ctx, f)
				require.NoError(t, err)
				paged = append(paged, methodIDList(page)...)
				if len(page) < 2 {
					break
				}
				last := page[len(page)-1].AccessMethodID
				f.After = &last
			}
			assert.Equal(t, want, paged)
		})
	}

	unknown := domain.MustParseID("00000000-0000-4000-8000-000000000000")
	none, err := p.ListAccessMethods(ctx, projection.MethodFilter{AccessGrantID: &unknown})
	require.NoError(t, err)
	assert.NotNil(t, none)
	assert.Empty(t, none)
}

// TestMethodEvents checks a method's events in fold order with every
// filter, against the events sorted in Go.
func TestMethodEvents(t *testing.T) {
	ctx := context.Background()
	p := MustOpen(t)
	events := testutil.Events(t, 40, 9)
	ingest(t, p, events, rand.New(rand.NewPCG(3, 4)), 50)

	// The method with the most events.
	per := map[domain.ID][]*domain.Event{}
	var id domain.ID
	for _, e := range events {
		if e.IsMethodEvent() {
			per[e.AccessMethodID] = append(per[e.AccessMethodID], e)
			if len(per[e.AccessMethodID]) > len(per[id]) {
				id = e.AccessMethodID
			}
		}
	}
	mine := per[id]
	sort.Slice(mine, func(i, j int) bool { return mine[i].Key().Compare(mine[j].Key()) < 0 })
	require.Greater(t, len(mine), 4)
	mid := mine[len(mine)/2]
	since, until, after := mine[1].OccurredAt, mid.OccurredAt, mine[2].Key()

	tests := []struct {
		name string
		f    projection.HistoryFilter
		keep func(*domain.Event) bool
	}{
		{"all", projection.HistoryFilter{}, func(*domain.Event) bool { return true }},
		{"since", projection.HistoryFilter{Since: &since}, func(e *domain.Event) bool { return e.OccurredAt >= since }},
		{"until", projection.HistoryFilter{Until: &until}, func(e *domain.Event) bool { return e.OccurredAt < until }},
		{"type", projection.HistoryFilter{EventType: mid.Type}, func(e *domain.Event) bool { return e.Type == mid.Type }},
		{"after", projection.HistoryFilter{After: &after}, func(e *domain.Event) bool { return e.Key().Compare(after) > 0 }},
		{"limit", projection.HistoryFilter{Limit: 3}, func(e *domain.Event) bool { return e.Key().Compare(mine[2].Key()) <= 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for _, e := range mine {
				if tt.keep(e) {
					want = append(want, e.ID.String())
				}
			}
			recs, err := p.MethodEvents(ctx, id, tt.f)
			require.NoError(t, err)
			got := make([]string, len(recs))
			for i, r := range recs {
				got[i] = r.Event.ID.String()
				assert.Equal(t, id, r.Event.AccessMethodID)
				assert.NotEmpty(t, r.Event.Raw, "records carry the payload")
			}
			assert.Equal(t, want, got)
		})
	}

	_, err := p.MethodEvents(ctx, domain.MustParseID("00000000-0000-4000-8000-000000000000"), projection.HistoryFilter{})
	assert.Equal(t, domain.ENotFound, domain.ErrorCode(err))
}

// TestLogQueries checks Events, Event and Lag.
func TestLogQueries(t *testing.T) {
	ctx := context.Background()
	p := MustOpen(t)
	lag, err := p.Lag(ctx)
	require.NoError(t, err)
	assert.Equal(t, projection.Lag{}, lag)
	assert.True(t, lag.CaughtUp())
	page, err := p.Events(ctx, projection.EventFilter{Limit: 10})
	require.NoError(t, err)
	assert.NotNil(t, page.Records, "an empty list, not nil")
	assert.Empty(t, page.Records)
	page, err = p.Events(ctx, projection.EventFilter{EventType: "access_method.issued", Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, projection.EventPage{Records: []store.Record{}}, page, "an empty log ends at once")

	events := testutil.Events(t, 10, 1)
	ingest(t, p, events, rand.New(rand.NewPCG(5, 6)), 20)
	lag, err = p.Lag(ctx)
	require.NoError(t, err)
	assert.Equal(t, projection.Lag{LogSeq: int64(len(events)), ProjectionSeq: int64(len(events))}, lag)
	assert.False(t, projection.Lag{LogSeq: 5, ProjectionSeq: 4}.CaughtUp())

	page, err = p.Events(ctx, projection.EventFilter{After: 3, Limit: 2})
	require.NoError(t, err)
	recs := page.Records
	require.Len(t, recs, 2)
	assert.Zero(t, page.ScannedTo)
	assert.Equal(t, []int64{4, 5}, []int64{recs[0].Seq, recs[1].Seq})
	assert.Equal(t, events[3].ID, recs[0].Event.ID)

	rec, err := p.Event(ctx, events[5].ID)
	require.NoError(t, err)
	assert.Equal(t, int64(6), rec.Seq)
	_, err = p.Event(ctx, domain.MustParseID("00000000-0000-4000-8000-000000000000"))
	assert.Equal(t, domain.ENotFound, domain.ErrorCode(err))
}

// rarestType returns the event type that occurs least often in events (the
// first in the log among equals) and the ids of its events in log order.
func rarestType(events []*domain.Event) (string, []domain.ID) {
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
	var ids []domain.ID
	for _, e := range events {
		if e.Type == rare {
			ids = append(ids, e.ID)
		}
	}
	return rare, ids
}

// TestEventsScanBound follows the log filtered by a rare type with a small
// MaxScan: every page holds only events of the seqs it may examine, a page
// that ends early says where it stopped, and following the pages finds
// exactly the rare events, in order.
func TestEventsScanBound(t *testing.T) {
	ctx := context.Background()
	p := MustOpen(t)
	events := testutil.Events(t, 40, 9)
	ingest(t, p, events, rand.New(rand.NewPCG(3, 4)), 100)
	rare, want := rarestType(events)
	require.Less(t, len(want), len(events)/10, "the type must be rare")

	const scan = 25
	for _, limit := range []int{1, 3, 1000} {
		var got []domain.ID
		after, pages, partial := int64(0), 0, 0
		for {
			pages++
			require.Less(t, pages, len(events), "the walk does not end")
			page, err := p.Events(ctx, projection.EventFilter{After: after, EventType: rare, Limit: limit, MaxScan: scan})
			require.NoError(t, err)
			require.LessOrEqual(t, len(page.Records), limit)
			for _, rec := range page.Records {
				require.Greater(t, rec.Seq, after)
				require.LessOrEqual(t, rec.Seq, after+scan, "limit %d: seq %d is beyond the seqs a page examines", limit, rec.Seq)
				require.Equal(t, rare, rec.Event.Type)
				got = append(got, rec.Event.ID)
			}
			switch {
			case page.ScannedTo > 0:
				require.Equal(t, after+scan, page.ScannedTo, "a partial page stops at the end of its window")
				require.Less(t, len(page.Records), limit)
				partial++
				after = page.ScannedTo
			case len(page.Records) == limit:
				after = page.Records[len(page.Records)-1].Seq
			default:
				require.Greater(t, after+scan, int64(len(events)), "only the window that reaches the head ends the walk")
				assert.Equal(t, want, got, "limit %d", limit)
				assert.NotZero(t, partial, "limit %d: some pages must end at the scan bound", limit)
				return
			}
		}
	}
}

// TestEventsMaxBytes checks that a query stops reading after the record
// that brings the payload bytes to MaxBytes, in every event list.
func TestEventsMaxBytes(t *testing.T) {
	ctx := context.Background()
	p := MustOpen(t)
	events := testutil.Events(t, 20, 2)
	ingest(t, p, events, rand.New(rand.NewPCG(7, 8)), 50)
	budget := len(events[0].Raw) + len(events[1].Raw) + 1 // within the third record

	page, err := p.Events(ctx, projection.EventFilter{Limit: 100, MaxBytes: budget})
	require.NoError(t, err)
	require.Len(t, page.Records, 3)
	assert.GreaterOrEqual(t, projection.PayloadBytes(page.Records), budget)
	assert.Less(t, projection.PayloadBytes(page.Records[:2]), budget)

	page, err = p.Events(ctx, projection.EventFilter{Limit: 100, MaxBytes: 1})
	require.NoError(t, err)
	assert.Len(t, page.Records, 1, "one record always fits")

	var m domain.ID
	for _, e := range events {
		if e.IsMethodEvent() {
			m = e.AccessMethodID
			break
		}
	}
	all, err := p.MethodEvents(ctx, m, projection.HistoryFilter{})
	require.NoError(t, err)
	require.Greater(t, len(all), 1)
	some, err := p.MethodEvents(ctx, m, projection.HistoryFilter{MaxBytes: len(all[0].Event.Raw)})
	require.NoError(t, err)
	assert.Equal(t, all[:1], some)
}
