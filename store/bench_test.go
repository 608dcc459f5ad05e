package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// benchBatch is the number of events per transaction in the benchmarks.
const benchBatch = 10000

// BenchmarkAppendBatch appends b.N parsed events into a fresh database file
// in transactions of benchBatch events (parsing is not timed). Run it with
// -benchtime=1000000x for the README's 1M figure.
func BenchmarkAppendBatch(b *testing.B) {
	raws := testutil.First(b, b.N, 42)
	db := MustOpen(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for start := 0; start < len(raws); start += benchBatch {
		end := min(start+benchBatch, len(raws))
		b.StopTimer()
		batch := make([]store.Pending, 0, end-start)
		for _, raw := range raws[start:end] {
			e, err := domain.ParseEvent(raw)
			require.NoError(b, err)
			batch = append(batch, store.Pending{Event: e, Source: store.SourceFile})
		}
		b.StartTimer()
		if _, err := db.Append(ctx, batch, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(raws))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRawInsert is the physical baseline for BenchmarkAppendBatch: the
// same rows (text event_id with a UNIQUE index, raw payload) inserted with
// plain SQL and no logic, in the same transaction size, WAL and
// synchronous=FULL, default page cache.
func BenchmarkRawInsert(b *testing.B) {
	raws := testutil.First(b, b.N, 42)
	ids := make([]string, len(raws))
	for i, e := range testutil.ParseAll(b, raws) {
		ids[i] = e.ID.String()
	}
	db := openRawDB(b)
	_, err := db.Exec(`CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, payload BLOB NOT NULL)`)
	require.NoError(b, err)
	b.ResetTimer()
	for start := 0; start < len(raws); start += benchBatch {
		end := min(start+benchBatch, len(raws))
		tx, err := db.Begin()
		require.NoError(b, err)
		stmt, err := tx.Prepare(`INSERT INTO events (event_id, payload) VALUES (?, ?)`)
		require.NoError(b, err)
		for i := start; i < end; i++ {
			if _, err := stmt.Exec(ids[i], raws[i]); err != nil {
				b.Fatal(err)
			}
		}
		stmt.Close()
		require.NoError(b, tx.Commit())
	}
	b.StopTimer()
	b.ReportMetric(float64(len(raws))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRawInsertIndexed is BenchmarkRawInsert plus the two lookups the
// issue requires of the log besides the event id: an index by access method
// and a table linking events to grants, both keyed by integer stream numbers
// assigned in memory (cheaper than anything a real log can do) and a 16-byte
// event id. No parse, no fold, no extracted columns: the floor under any log
// that answers by event, method and grant.
func BenchmarkRawInsertIndexed(b *testing.B) {
	raws := testutil.First(b, b.N, 42)
	events := testutil.ParseAll(b, raws)
	db := openRawDB(b)
	for _, q := range []string{
		`CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id BLOB NOT NULL UNIQUE, method_stream INTEGER, payload BLOB NOT NULL)`,
		`CREATE INDEX events_method ON events (method_stream, seq) WHERE method_stream IS NOT NULL`,
		`CREATE TABLE event_grants (grant_stream INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (grant_stream, seq)) WITHOUT ROWID`,
	} {
		_, err := db.Exec(q)
		require.NoError(b, err)
	}
	streams := map[domain.ID]int64{}
	stream := func(id domain.ID) int64 {
		n, ok := streams[id]
		if !ok {
			n = int64(len(streams) + 1)
			streams[id] = n
		}
		return n
	}
	b.ResetTimer()
	for start := 0; start < len(raws); start += benchBatch {
		end := min(start+benchBatch, len(raws))
		tx, err := db.Begin()
		require.NoError(b, err)
		ins, err := tx.Prepare(`INSERT INTO events (seq, event_id, method_stream, payload) VALUES (?, ?, ?, ?)`)
		require.NoError(b, err)
		link, err := tx.Prepare(`INSERT INTO event_grants (grant_stream, seq) VALUES (?, ?)`)
		require.NoError(b, err)
		for i := start; i < end; i++ {
			e := events[i]
			var method any
			if e.IsMethodEvent() {
				method = stream(e.AccessMethodID)
			}
			if _, err := ins.Exec(i+1, e.ID[:], method, raws[i]); err != nil {
				b.Fatal(err)
			}
			for _, g := range e.GrantIDs() {
				if _, err := link.Exec(stream(g), i+1); err != nil {
					b.Fatal(err)
				}
			}
		}
		ins.Close()
		link.Close()
		require.NoError(b, tx.Commit())
	}
	b.StopTimer()
	b.ReportMetric(float64(len(raws))/b.Elapsed().Seconds(), "events/s")
}

// openRawDB opens a fresh file with plain go-sqlite3, none of amtrack's
// settings: WAL, synchronous=FULL, the default page cache, one connection.
func openRawDB(b *testing.B) *sql.DB {
	b.Helper()
	path := filepath.Join(b.TempDir(), "raw.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
	require.NoError(b, err)
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	return db
}
