package projection_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/generate"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// benchMethods gives about 1M generated events (8 per method).
const benchMethods = 125000

var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
)

// benchDB returns a projection over a database holding about 1M generated
// events, built once per test binary run (it takes a while).
func benchDB(b *testing.B) *projection.Projection {
	b.Helper()
	ctx := context.Background()
	benchOnce.Do(func() {
		benchDir, benchErr = makeTempDir()
		if benchErr != nil {
			return
		}
		db, err := store.Open(ctx, filepath.Join(benchDir, "bench.db"), store.Options{})
		if err != nil {
			benchErr = err
			return
		}
		defer db.Close()
		p, err := projection.Open(ctx, db)
		if err != nil {
			benchErr = err
			return
		}
		batch := make([]store.Pending, 0, 20000)
		flush := func() error {
			_, err := p.Append(ctx, batch)
			batch = batch[:0]
			return err
		}
		benchErr = generate.Stream(generate.Options{Methods: benchMethods, Seed: 1}, func(raw []byte) error {
			e, err := domain.ParseEvent(raw)
			if err != nil {
				return err
			}
			batch = append(batch, store.Pending{Event: e, Source: store.SourceFile})
			if len(batch) == cap(batch) {
				return flush()
			}
			return nil
		})
		if benchErr == nil {
			benchErr = flush()
		}
	})
	require.NoError(b, benchErr)
	db, err := store.Open(ctx, filepath.Join(benchDir, "bench.db"), store.Options{})
	require.NoError(b, err)
	b.Cleanup(func() { db.Close() })
	p, err := projection.Open(ctx, db)
	require.NoError(b, err)
	return p
}

// BenchmarkRebuild rebuilds the read model of about 1M events per
// iteration. BenchmarkScan is its physical baseline, in the same run:
// go test ./projection -run XXX -bench 'Rebuild|Scan' -benchtime 1x
func BenchmarkRebuild(b *testing.B) {
	p := benchDB(b)
	ctx := context.Background()
	b.ResetTimer()
	var events int64
	for i := 0; i < b.N; i++ {
		stats, err := p.Rebuild(ctx, nil)
		require.NoError(b, err)
		events += stats.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkScan reads the whole log in seq order: the raw rows, and the rows
// with each payload decoded by encoding/json (what a naive rebuild costs).
func BenchmarkScan(b *testing.B) {
	p := benchDB(b)
	ctx := context.Background()
	for _, decode := range []bool{false, true} {
		name := "raw"
		if decode {
			name = "decode"
		}
		b.Run(name, func(b *testing.B) {
			var events int64
			for i := 0; i < b.N; i++ {
				rows, err := p.DB().Reader().QueryContext(ctx, `SELECT seq, event_id, payload FROM events ORDER BY seq`)
				require.NoError(b, err)
				for rows.Next() {
					var seq int64
					var id, payload []byte
					require.NoError(b, rows.Scan(&seq, &id, &payload))
					if decode {
						var v map[string]any
						require.NoError(b, json.Unmarshal(payload, &v))
					}
					events++
				}
				require.NoError(b, rows.Err())
				rows.Close()
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkFoldOrderRead reads what a rebuild reads, in the order it reads
// it, and folds nothing: every method's events in fold order, then every
// grant's. Beside BenchmarkScan/decode (in the same run) it is the floor of
// a rebuild on this schema: a rebuild cannot beat its own reads.
//
//	go test ./projection -run XXX -bench 'Scan|FoldOrderRead|Rebuild' -benchtime 1x
func BenchmarkFoldOrderRead(b *testing.B) {
	p := benchDB(b)
	ctx := context.Background()
	log := p.DB().Log()
	seq, _, err := log.Head(ctx)
	require.NoError(b, err)
	b.ResetTimer()
	var methodRows, grantRows int64
	for i := 0; i < b.N; i++ {
		// In parallel, as a rebuild reads them.
		var wg sync.WaitGroup
		var methodsErr, grantsErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			methodsErr = log.MethodStreams(ctx, seq, func(_ int64, events []*domain.Event) error {
				methodRows += int64(len(events))
				return nil
			})
		}()
		go func() {
			defer wg.Done()
			grantsErr = log.GrantStreams(ctx, seq, func(_ int64, _ domain.ID, events []*domain.Event) error {
				grantRows += int64(len(events))
				return nil
			})
		}()
		wg.Wait()
		require.NoError(b, methodsErr)
		require.NoError(b, grantsErr)
	}
	b.ReportMetric(float64(methodRows+grantRows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(seq*int64(b.N))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkFold measures the pure fold: generated events applied in memory.
func BenchmarkFold(b *testing.B) {
	events := testutil.Events(b, 1000, 1)
	byMethod := map[domain.ID][]*domain.Event{}
	for _, e := range events {
		if e.IsMethodEvent() {
			byMethod[e.AccessMethodID] = append(byMethod[e.AccessMethodID], e)
		}
	}
	b.ResetTimer()
	folded := 0
	for i := 0; i < b.N; i++ {
		for _, evs := range byMethod {
			domain.FoldAccessMethod(evs)
			folded += len(evs)
		}
	}
	b.ReportMetric(float64(folded)/b.Elapsed().Seconds(), "events/s")
}

func makeTempDir() (string, error) { return os.MkdirTemp("", "amtrack-bench-") }

// TestMain removes the benchmark database after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// BenchmarkGroupCommit is the webhook path without HTTP: 64 goroutines each
// append one event at a time through the group-commit writer into a fresh
// database (synchronous=FULL), folding in the same transaction. It shows how
// long the one writer goroutine takes per event, the serial part of the
// webhook receiver:
//
//	go test ./projection -run XXX -bench GroupCommit -benchtime 20000x
func BenchmarkGroupCommit(b *testing.B) {
	ctx := context.Background()
	events := testutil.Events(b, b.N/4+10, 7)[:b.N] // about 8 events per method
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "a.db"), store.Options{})
	require.NoError(b, err)
	defer db.Close()
	p, err := projection.Open(ctx, db)
	require.NoError(b, err)
	w := store.NewWriter(db, p.Apply, 0)
	defer w.Close()
	const senders = 64
	b.ResetTimer()
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := s; i < len(events); i += senders {
				out, err := w.Append(ctx, []store.Pending{{Event: events[i], Source: store.SourceWebhook}})
				if err == nil {
					err = out[0].Err
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(len(events))/b.Elapsed().Seconds(), "events/s")
}
