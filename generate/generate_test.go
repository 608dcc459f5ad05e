package generate_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/generate"
)

// collect runs Stream and returns every emitted event.
func collect(t testing.TB, opts generate.Options) [][]byte {
	t.Helper()
	var out [][]byte
	require.NoError(t, generate.Stream(opts, func(b []byte) error {
		out = append(out, b)
		return nil
	}))
	return out
}

// digest hashes a stream, one event per line.
func digest(events [][]byte) [32]byte {
	h := sha256.New()
	for _, e := range events {
		h.Write(e)
		h.Write([]byte{'\n'})
	}
	return [32]byte(h.Sum(nil))
}

func TestStreamParses(t *testing.T) {
	for _, seed := range []uint64{0, 1, 2, 42, 1 << 40} {
		events := collect(t, generate.Options{Methods: 500, Seed: seed})
		require.NotEmpty(t, events)
		seen := make(map[domain.ID]bool, len(events))
		for i, raw := range events {
			require.NotContains(t, string(raw), "\n", "seed %d event %d", seed, i)
			require.Equal(t, byte('{'), raw[0])
			require.Equal(t, byte('}'), raw[len(raw)-1])
			e, err := domain.ParseEvent(raw)
			require.NoError(t, err, "seed %d event %d: %s", seed, i, raw)
			require.False(t, seen[e.ID], "duplicate event_id %s", e.ID)
			seen[e.ID] = true
			require.GreaterOrEqual(t, e.CreatedAt, e.OccurredAt, "created_at before occurred_at: %s", raw)
			require.LessOrEqual(t, e.CreatedAt-e.OccurredAt, int64(3*time.Second), "%s", raw)
			if e.Code != nil {
				require.Regexp(t, `^[0-9]{4,6}$`, *e.Code)
			}
		}
	}
}

func TestStreamDeterministic(t *testing.T) {
	opts := generate.Options{Methods: 400, Seed: 7}
	a, b := collect(t, opts), collect(t, opts)
	require.Equal(t, len(a), len(b))
	for i := range a {
		require.Equal(t, string(a[i]), string(b[i]), "event %d", i)
	}

	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := collect(t, generate.Options{Methods: 400, Seed: 7, Start: start})
	require.Equal(t, digest(collect(t, generate.Options{Methods: 400, Seed: 7, Start: start})), digest(c))
	require.NotEqual(t, digest(a), digest(c), "Start must shift the stream")
	first, err := domain.ParseEvent(c[0])
	require.NoError(t, err)
	require.GreaterOrEqual(t, first.OccurredAt, start.UnixNano())
	require.Less(t, first.OccurredAt, start.Add(time.Minute).UnixNano())
}

func TestStreamSeedsDiffer(t *testing.T) {
	digests := map[[32]byte]uint64{}
	for _, seed := range []uint64{1, 2, 3, 4} {
		d := digest(collect(t, generate.Options{Methods: 50, Seed: seed}))
		prev, dup := digests[d]
		require.False(t, dup, "seeds %d and %d gave the same stream", prev, seed)
		digests[d] = seed
	}
	a := collect(t, generate.Options{Methods: 50, Seed: 1})
	b := collect(t, generate.Options{Methods: 50, Seed: 2})
	require.NotEqual(t, string(a[0]), string(b[0]))
}

func TestStreamDefaults(t *testing.T) {
	events := collect(t, generate.Options{})
	methods := map[domain.ID]bool{}
	var first *domain.Event
	for _, raw := range events {
		e, err := domain.ParseEvent(raw)
		require.NoError(t, err)
		if first == nil || e.OccurredAt < first.OccurredAt {
			first = e
		}
		if e.IsMethodEvent() {
			methods[e.AccessMethodID] = true
		}
	}
	require.Len(t, methods, 100)
	require.Equal(t, "2026-01-05T08:00:00Z", domain.FormatNanos(first.OccurredAt))
	require.Equal(t, digest(events), digest(collect(t, generate.Options{Methods: -3})))
}

func TestStreamLifecycleMix(t *testing.T) {
	events := collect(t, generate.Options{Methods: 300, Seed: 3})
	types := map[string]int{}
	methods := map[domain.ID][]*domain.Event{}
	nonAccess, size := 0, 0
	for _, raw := range events {
		e, err := domain.ParseEvent(raw)
		require.NoError(t, err)
		types[e.Type]++
		size += len(raw)
		switch {
		case e.IsMethodEvent():
			methods[e.AccessMethodID] = append(methods[e.AccessMethodID], e)
		case !e.IsGrantEvent():
			nonAccess++
		}
	}
	for _, typ := range domain.MethodEventTypes {
		require.Positive(t, types[typ], "no %s", typ)
	}
	for _, typ := range []string{
		domain.TypeGrantCreated, domain.TypeGrantDeleted, domain.TypeGrantAccessTimesChanged,
		domain.TypeGrantAccessGrantedToDoor, domain.TypeGrantAccessGrantedToAll,
	} {
		require.Positive(t, types[typ], "no %s", typ)
	}
	require.Positive(t, nonAccess)
	require.Less(t, nonAccess, len(events)/10)
	require.Len(t, methods, 300)
	perMethod := float64(len(events)) / 300
	require.InDelta(t, 8, perMethod, 2, "events per method")
	require.InDelta(t, 450, float64(size)/float64(len(events)), 100, "average payload size")
	require.Less(t, types[domain.TypeCreated], 300, "some methods have no created event")

	// Per method, in fold order: an issue comes before any revoke or reissue,
	// and only the rare anomaly follows deleted.
	afterDeleted := 0
	for id, evs := range methods {
		slices.SortFunc(evs, func(a, b *domain.Event) int { return a.Key().Compare(b.Key()) })
		issued, deleted := false, false
		for _, e := range evs {
			switch {
			case deleted:
				afterDeleted++
			case e.Type == domain.TypeIssued:
				issued = true
			case e.Type == domain.TypeRevoked || e.Type == domain.TypeReissued:
				require.True(t, issued, "method %s: %s before issued", id, e.Type)
			case e.Type == domain.TypeDeleted:
				deleted = true
			}
		}
		require.True(t, issued, "method %s never issued", id)
	}
	require.Less(t, afterDeleted, 300/10)
}

func TestStreamArrivalOrder(t *testing.T) {
	events := collect(t, generate.Options{Methods: 2000, Seed: 11})
	maxActive, outOfOrder := 0, 0
	var last int64
	active := map[domain.ID]int64{} // grant -> last event
	for i, raw := range events {
		e, err := domain.ParseEvent(raw)
		require.NoError(t, err)
		if e.CreatedAt < last {
			outOfOrder++
		}
		last = max(last, e.CreatedAt)
		if e.IsGrantEvent() {
			active[e.AccessGrantID] = e.CreatedAt
		}
		if i%500 == 0 {
			n := 0
			for _, at := range active {
				if at > e.CreatedAt-int64(30*time.Minute) {
					n++
				}
			}
			maxActive = max(maxActive, n)
		}
	}
	require.Greater(t, maxActive, 10, "grants should overlap in time")
	share := float64(outOfOrder) / float64(len(events))
	require.Greater(t, share, 0.02, "some events arrive late")
	require.Less(t, share, 0.2, "arrival is roughly by created_at")
}

func TestStreamEmitError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := generate.Stream(generate.Options{Methods: 100}, func([]byte) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 10, n)
}

func TestStreamKeepsSlices(t *testing.T) {
	var kept [][]byte
	var copies [][]byte
	require.NoError(t, generate.Stream(generate.Options{Methods: 50, Seed: 5}, func(b []byte) error {
		kept = append(kept, b)
		copies = append(copies, bytes.Clone(b))
		return nil
	}))
	for i := range kept {
		require.Equal(t, copies[i], kept[i])
	}
	require.True(t, strings.HasPrefix(string(kept[0]), `{"event_id":"`))
}

func BenchmarkStream(b *testing.B) {
	events, size := 0, 0
	for b.Loop() {
		err := generate.Stream(generate.Options{Methods: 10000, Seed: 1}, func(raw []byte) error {
			events++
			size += len(raw)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(size)/float64(events), "bytes/event")
}
