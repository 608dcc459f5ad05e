package domain_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
)

// Short names of the access_grant.* types in scenarios.
const (
	foldGCreated = "access_grant.created"
	foldGDeleted = "access_grant.deleted"
	foldGTimes   = "access_grant.access_times_changed"
)

// foldGrantApply applies events, in the order given, to a new summary of foldGrantA.
func foldGrantApply(tb testing.TB, events []*domain.Event) *domain.AccessGrant {
	tb.Helper()
	g := domain.NewAccessGrant(domain.MustParseID(foldGrantA))
	for _, e := range events {
		g.Apply(e)
	}
	return g
}

// foldGrantView is an AccessGrant written compactly: a null is "", a time on
// foldDay is its clock. access_grant_id and access_methods are checked apart.
type foldGrantView struct {
	Keys         []string
	StartsAt     string
	EndsAt       string
	IsDeleted    bool
	DeletedAt    string
	FirstEventAt string
	LastEventAt  string
	EventCount   int
}

func foldGrantViewOf(g *domain.AccessGrant) foldGrantView {
	v := foldGrantView{
		StartsAt:     foldStr(g.StartsAt),
		EndsAt:       foldStr(g.EndsAt),
		IsDeleted:    g.IsDeleted,
		DeletedAt:    foldClockPtr(g.DeletedAt),
		FirstEventAt: foldClock(g.FirstEventAt),
		LastEventAt:  foldClock(g.LastEventAt),
		EventCount:   g.EventCount,
	}
	v.Keys = append(v.Keys, g.AccessGrantKeys...)
	return v
}

// Grant times carried by access_times_changed events.
const (
	foldS0 = "2026-02-01T00:00:00Z"
	foldS1 = "2026-02-01T10:00:00Z"
	foldS2 = "2026-02-02T10:00:00Z"
	foldE0 = "2026-02-10T00:00:00Z"
	foldE1 = "2026-02-10T10:00:00Z"
	foldE3 = "2026-02-12T10:00:00Z"
)

// TestAccessGrantApply checks the grant summary (docs/fold.md). Events are
// applied in the order given, which is not fold order.
func TestAccessGrantApply(t *testing.T) {
	tests := []struct {
		name   string
		events []foldE
		want   foldGrantView
	}{
		{
			name: "keys from method events and access_grant_key",
			events: []foldE{
				{1, "created", "08:00", `{"access_grant_ids":["a0000000-0000-4000-8000-00000000000a"],"access_grant_keys":["k-b","k-a"]}`},
				{2, "issued", "08:01", `{"access_grant_ids":["a0000000-0000-4000-8000-00000000000a"],"access_grant_keys":["k-a","K-z"]}`},
				{3, foldGTimes, "08:02", `{"access_grant_key":"k-c"}`},
				{4, foldGTimes, "08:03", `{"access_grant_key":"k-a"}`},
				{5, foldGCreated, "07:59", ""},
				{6, foldGTimes, "07:58", `{"access_grant_key":null}`},
			},
			want: foldGrantView{
				Keys:         []string{"K-z", "k-a", "k-b", "k-c"},
				FirstEventAt: "07:58", LastEventAt: "08:03", EventCount: 6,
			},
		},
		{
			name: "starts_at and ends_at from the latest access_times_changed carrying each",
			events: []foldE{
				{1, foldGTimes, "08:00", `{"starts_at":"` + foldS1 + `","ends_at":"` + foldE1 + `"}`},
				{2, foldGTimes, "08:05", `{"starts_at":"` + foldS2 + `"}`},
				{3, foldGTimes, "08:03", `{"ends_at":"` + foldE3 + `","starts_at":null}`},
				// Older than all, applied last: overrides nothing.
				{4, foldGTimes, "07:00", `{"starts_at":"` + foldS0 + `","ends_at":"` + foldE0 + `"}`},
			},
			want: foldGrantView{
				StartsAt: foldS2, EndsAt: foldE3,
				FirstEventAt: "07:00", LastEventAt: "08:05", EventCount: 4,
			},
		},
		{
			name: "a single access_times_changed",
			events: []foldE{
				{1, foldGCreated, "08:00", ""},
				{2, foldGTimes, "08:01", `{"ends_at":"` + foldE1 + `"}`},
			},
			want: foldGrantView{
				EndsAt:       foldE1,
				FirstEventAt: "08:00", LastEventAt: "08:01", EventCount: 2,
			},
		},
		{
			name: "ties on occurred_at: created_at, then the lowercase event id",
			events: []foldE{
				{1, foldGTimes, "08:00", `{"created_at":"2026-01-05T08:00:02Z","starts_at":"` + foldS2 + `"}`},
				{2, foldGTimes, "08:00", `{"created_at":"2026-01-05T08:00:01Z","starts_at":"` + foldS1 + `","ends_at":"` + foldE1 + `"}`},
				{3, foldGTimes, "08:01", `{"event_id":"B0000000-0000-4000-8000-000000000003","ends_at":"` + foldE3 + `"}`},
				{4, foldGTimes, "08:01", `{"event_id":"a0000000-0000-4000-8000-000000000004","ends_at":"` + foldE0 + `"}`},
			},
			want: foldGrantView{
				StartsAt: foldS2, EndsAt: foldE3,
				FirstEventAt: "08:00", LastEventAt: "08:01", EventCount: 4,
			},
		},
		{
			name: "deleted_at is the first deletion in fold order",
			events: []foldE{
				{1, foldGDeleted, "09:00", ""},
				{2, foldGDeleted, "08:30", ""},
				{3, foldGCreated, "08:00", ""},
				{4, foldGDeleted, "10:00", ""},
			},
			want: foldGrantView{
				IsDeleted: true, DeletedAt: "08:30",
				FirstEventAt: "08:00", LastEventAt: "10:00", EventCount: 4,
			},
		},
		{
			name: "access_method.deleted does not delete the grant",
			events: []foldE{
				{1, "created", "08:00", `{"access_grant_ids":["a0000000-0000-4000-8000-00000000000a"]}`},
				{2, "deleted", "08:01", `{"access_grant_ids":["a0000000-0000-4000-8000-00000000000a"]}`},
			},
			want: foldGrantView{FirstEventAt: "08:00", LastEventAt: "08:01", EventCount: 2},
		},
		{
			name: "other grant events count and set nothing",
			events: []foldE{
				{1, "access_grant.access_granted_to_door", "08:03", `{"acs_entrance_id":"c0ffee00-1234-4567-89ab-cdef01234567"}`},
				{2, "access_grant.access_to_door_lost", "08:01", `{"acs_entrance_id":"c0ffee00-1234-4567-89ab-cdef01234567"}`},
				{3, "access_grant.access_granted_to_all_doors", "08:02", ""},
				{4, "access_grant.could_not_create_requested_access_methods", "08:00", `{"error_message":"offline"}`},
				{5, foldGCreated, "08:04", ""},
			},
			want: foldGrantView{FirstEventAt: "08:00", LastEventAt: "08:04", EventCount: 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := foldGrantApply(t, foldEvents(t, tt.events...))
			assert.Equal(t, tt.want, foldGrantViewOf(g))
			assert.Equal(t, foldGrantA, g.AccessGrantID.String(), "access_grant_id")
			assert.NotNil(t, g.AccessGrantKeys, "access_grant_keys")
			assert.Equal(t, []domain.GrantMethod{}, g.AccessMethods, "access_methods are not derived from events")
			assert.Equal(t, g.IsDeleted, g.DeletedAt != nil, "is_deleted against deleted_at")
		})
	}
}

func TestNewAccessGrant(t *testing.T) {
	g := domain.NewAccessGrant(domain.MustParseID("A0000000-0000-4000-8000-00000000000A"))
	assert.Equal(t, foldGrantA, g.AccessGrantID.String())
	assert.Equal(t, []string{}, g.AccessGrantKeys)
	assert.Equal(t, []domain.GrantMethod{}, g.AccessMethods)
	assert.Nil(t, g.StartsAt)
	assert.Nil(t, g.EndsAt)
	assert.False(t, g.IsDeleted)
	assert.Nil(t, g.DeletedAt)
	assert.Equal(t, 0, g.EventCount)
}

// foldGrantEvents is a grant history given in an arrival order that is not
// its fold order; every aggregate of the summary depends on the order rule.
var foldGrantEvents = []foldE{
	{7, foldGDeleted, "2026-01-05T10:00:00.250+01:00", ""}, // 09:00:00.25Z
	{3, foldGTimes, "08:02", `{"access_grant_key":"Stay-1","starts_at":"` + foldS0 + `","ends_at":"` + foldE0 + `"}`},
	{6, foldGDeleted, "08:30:00.5", ""},
	{1, "created", "08:00", `{"access_grant_ids":["A0000000-0000-4000-8000-00000000000A"],"access_grant_keys":["stay-2","Stay-1"]}`},
	{5, foldGTimes, "08:04", `{"starts_at":"` + foldS2 + `"}`},
	{4, foldGTimes, "08:03", `{"ends_at":"` + foldE3 + `"}`},
	{2, foldGCreated, "07:59:59.999999999", ""},
}

const foldGrantGoldenJSON = `{
  "access_grant_id": "a0000000-0000-4000-8000-00000000000a",
  "access_grant_keys": ["Stay-1", "stay-2"],
  "access_methods": [],
  "starts_at": "2026-02-02T10:00:00Z",
  "ends_at": "2026-02-12T10:00:00Z",
  "is_deleted": true,
  "deleted_at": "2026-01-05T08:30:00.5Z",
  "first_event_at": "2026-01-05T07:59:59.999999999Z",
  "last_event_at": "2026-01-05T09:00:00.25Z",
  "event_count": 7
}`

const foldGrantEmptyJSON = `{
  "access_grant_id": "a0000000-0000-4000-8000-00000000000a",
  "access_grant_keys": [],
  "access_methods": [],
  "starts_at": null,
  "ends_at": null,
  "is_deleted": false,
  "deleted_at": null,
  "first_event_at": "2026-01-05T08:00:00Z",
  "last_event_at": "2026-01-05T08:00:00Z",
  "event_count": 1
}`

// TestAccessGrantJSON checks the summary's output form (docs/fold.md).
func TestAccessGrantJSON(t *testing.T) {
	t.Run("full", func(t *testing.T) {
		g := foldGrantApply(t, foldEvents(t, foldGrantEvents...))
		assert.Equal(t, foldCompact(t, foldGrantGoldenJSON), foldJSON(t, g))
	})
	t.Run("nulls and empty lists", func(t *testing.T) {
		g := foldGrantApply(t, foldEvents(t, foldE{1, foldGCreated, "08:00", ""}))
		assert.Equal(t, foldCompact(t, foldGrantEmptyJSON), foldJSON(t, g))
	})
}

// foldPermutations calls visit with every permutation of 0..n-1 (Heap's
// algorithm) until visit returns false.
func foldPermutations(n int, visit func(perm []int) bool) {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	c := make([]int, n)
	if !visit(perm) {
		return
	}
	for i := 0; i < n; {
		if c[i] < i {
			if i%2 == 0 {
				perm[0], perm[i] = perm[i], perm[0]
			} else {
				perm[c[i]], perm[i] = perm[i], perm[c[i]]
			}
			if !visit(perm) {
				return
			}
			c[i]++
			i = 0
		} else {
			c[i] = 0
			i++
		}
	}
}

func TestFoldPermutations(t *testing.T) {
	seen := map[[4]int]bool{}
	foldPermutations(4, func(p []int) bool {
		seen[[4]int(p)] = true
		return true
	})
	assert.Len(t, seen, 24)
}

// foldGrantState is what must not depend on the order events are applied in.
type foldGrantState struct {
	JSON                           string
	StartsKey, EndsKey, DeletedKey *domain.Key
}

func foldGrantStateOf(tb testing.TB, g *domain.AccessGrant) foldGrantState {
	tb.Helper()
	return foldGrantState{foldJSON(tb, g), g.StartsKey, g.EndsKey, g.DeletedKey}
}

// TestAccessGrantApplyOrderIndependence applies the same events in every
// permutation and checks the summary never changes (docs/fold.md).
func TestAccessGrantApplyOrderIndependence(t *testing.T) {
	events := foldEvents(t, foldGrantEvents...)
	want := foldGrantStateOf(t, foldGrantApply(t, foldSorted(events)))
	assert.Equal(t, foldCompact(t, foldGrantGoldenJSON), want.JSON, "summary in fold order")

	n := 0
	foldPermutations(len(events), func(p []int) bool {
		n++
		applied := make([]*domain.Event, len(p))
		for i, j := range p {
			applied[i] = events[j]
		}
		got := foldGrantStateOf(t, foldGrantApply(t, applied))
		return assert.Equal(t, want, got, "permutation %v", p)
	})
	assert.Equal(t, 5040, n, "permutations tried")
}

// TestAccessGrantApplyShuffles applies a longer history, with ties and
// repeated kinds of events, in many random orders.
func TestAccessGrantApplyShuffles(t *testing.T) {
	ds := slices.Clone(foldGrantEvents)
	ds = append(ds,
		foldE{10, foldGTimes, "08:04", `{"created_at":"2026-01-05T08:04:01Z","ends_at":"2026-03-01T00:00:00Z","access_grant_key":"stay-3"}`},
		foldE{11, foldGTimes, "08:04", `{"event_id":"B0000000-0000-4000-8000-000000000011","created_at":"2026-01-05T08:04:00.5Z","starts_at":"2026-03-02T00:00:00Z"}`},
		foldE{12, foldGTimes, "08:04", `{"event_id":"a0000000-0000-4000-8000-000000000012","created_at":"2026-01-05T08:04:00.5Z","starts_at":"2026-03-03T00:00:00Z"}`},
		foldE{13, foldGDeleted, "08:30:00.5", `{"created_at":"2026-01-05T08:30:00Z"}`},
		foldE{14, "issued", "08:10", `{"access_grant_ids":["a0000000-0000-4000-8000-00000000000a"],"access_grant_keys":["stay-0"]}`},
		foldE{15, "access_grant.access_granted_to_door", "06:00", `{"acs_entrance_id":"c0ffee00-1234-4567-89ab-cdef01234567"}`},
	)
	events := foldEvents(t, ds...)
	g := foldGrantApply(t, foldSorted(events))
	want := foldGrantStateOf(t, g)

	// Ties: #5, #10, #11 and #12 share occurred_at; #11 and #12 come after
	// #5 by created_at and share it, and b sorts after a; #10 comes last.
	assert.Equal(t, foldGrantView{
		Keys:      []string{"Stay-1", "stay-0", "stay-2", "stay-3"},
		StartsAt:  "2026-03-02T00:00:00Z",
		EndsAt:    "2026-03-01T00:00:00Z",
		IsDeleted: true, DeletedAt: "08:30:00.5",
		FirstEventAt: "06:00", LastEventAt: "09:00:00.25", EventCount: 13,
	}, foldGrantViewOf(g))
	require.NotNil(t, g.DeletedKey)
	assert.Equal(t, foldEvent(t, ds[len(ds)-3]).Key(), *g.DeletedKey, "the first deletion is #13 (earlier created_at)")

	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		shuffled := slices.Clone(events)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if !assert.Equal(t, want, foldGrantStateOf(t, foldGrantApply(t, shuffled)), "shuffle %d", i) {
			return
		}
	}
}
