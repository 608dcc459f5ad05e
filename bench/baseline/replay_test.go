package main

import (
	"bytes"
	"compress/flate"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sourceDDL has what amtrack's schema has: a rowid table with a unique and
// a partial index, a WITHOUT ROWID table, an ALTERed column and a trigger.
var sourceDDL = []string{
	`CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id BLOB NOT NULL, stream INTEGER, payload BLOB NOT NULL)`,
	`CREATE UNIQUE INDEX events_event_id ON events (event_id)`,
	`CREATE INDEX events_stream ON events (stream, seq) WHERE stream IS NOT NULL`,
	`CREATE TABLE links (stream INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (stream, seq)) WITHOUT ROWID`,
	`ALTER TABLE events ADD COLUMN sealed BLOB`,
	`CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'append-only'); END`,
}

// create makes the database path with the statements ddl and begins a
// transaction on it.
func create(t *testing.T, path string, ddl []string) (*sql.DB, *sql.Tx) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	require.NoError(t, err)
	for _, q := range ddl {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
	tx, err := db.Begin()
	require.NoError(t, err)
	return db, tx
}

func makeSource(t *testing.T, path string, n int) {
	t.Helper()
	db, tx := create(t, path, sourceDDL)
	defer db.Close()
	for i := 1; i <= n; i++ {
		var stream, sealed any // NULL for some rows
		if i%3 != 0 {
			stream = i % 7
		}
		if i%5 == 0 {
			sealed = []byte{0, byte(i), 0xff}
		}
		_, err := tx.Exec(`INSERT INTO events (event_id, stream, payload, sealed) VALUES (?, ?, ?, ?)`,
			[]byte(fmt.Sprintf("id-%06d", i)), stream, []byte(fmt.Sprintf(`{"n":%d}`, i)), sealed)
		require.NoError(t, err)
		_, err = tx.Exec(`INSERT INTO links VALUES (?, ?)`, i%11, i)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
}

// dump is every schema object and every row of every table of path, as
// text: two databases with the same dump hold the same things.
func dump(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var b strings.Builder
	rows, err := db.Query(`SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var kind, name, q string
		require.NoError(t, rows.Scan(&kind, &name, &q))
		fmt.Fprintf(&b, "%s %s: %s\n", kind, name, q)
		if kind == "table" {
			tables = append(tables, name)
		}
	}
	require.NoError(t, rows.Err())
	rows.Close()
	for _, name := range tables {
		rows, err := db.Query(`SELECT * FROM ` + quoteIdent(name) + ` ORDER BY 1, 2`)
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		for rows.Next() {
			fmt.Fprintf(&b, "%s %#v\n", name, scanRow(t, rows, len(cols)))
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	var check string
	require.NoError(t, db.QueryRow(`PRAGMA integrity_check`).Scan(&check))
	fmt.Fprintf(&b, "integrity %s\n", check)
	return b.String()
}

func TestReplayCopiesEveryRowAndSchemaObject(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	// More rows than a transaction and a reader's chunk, and not a
	// multiple of either or of a multi-row INSERT.
	makeSource(t, src, 2*replayChunk+37)
	want := dump(t, src)
	require.Contains(t, want, "integrity ok")
	for _, via := range []string{"driver", "raw", "sql"} {
		for _, indexes := range []string{"during", "after"} {
			t.Run(via+"/"+indexes, func(t *testing.T) {
				out := filepath.Join(dir, via+indexes+".db")
				args := []string{"-from", src, "-db", out, "-txn", "700", "-indexes", indexes, "-via", via}
				require.NoError(t, runReplay(args))
				require.Equal(t, want, dump(t, out))
				// A second replay over the first starts afresh.
				require.NoError(t, runReplay(args))
				require.Equal(t, want, dump(t, out))
			})
		}
	}
}

func TestReplayRefusesWhatItCannotDo(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	makeSource(t, src, 3)
	out := filepath.Join(dir, "out.db")
	for name, args := range map[string][]string{
		"no source":       {"-db", out},
		"no output":       {"-from", src},
		"missing source":  {"-from", filepath.Join(dir, "nope.db"), "-db", out},
		"bad indexes":     {"-from", src, "-db", out, "-indexes", "never"},
		"zero txn":        {"-from", src, "-db", out, "-txn", "0"},
		"bad via":         {"-from", src, "-db", out, "-via", "carrier pigeon"},
		"bad checkpoint":  {"-from", src, "-db", out, "-checkpoint", "-1"},
		"bad events":      {"-from", src, "-db", out, "-events", "rows"},
		"bad payload":     {"-from", src, "-db", out, "-payload", "zip"},
		"packed via sql":  {"-from", src, "-db", out, "-events", "packed", "-via", "sql"},
		"deflate via sql": {"-from", src, "-db", out, "-payload", "deflate", "-via", "sql"},
		// makeSource's events table has none of the columns a packed row keeps apart.
		"packed, not amtrack's events": {"-from", src, "-db", out, "-events", "packed"},
	} {
		t.Run(name, func(t *testing.T) {
			require.Error(t, runReplay(args))
			require.NoFileExists(t, out)
		})
	}
	require.NoError(t, runReplay([]string{"-from", src, "-db", out}), "the same source and output are good")
}

// eventsDDL is an events table with amtrack's columns that a packed row
// keeps, and some it packs.
var eventsDDL = []string{
	`CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id BLOB NOT NULL, event_type TEXT NOT NULL,
		occurred_at INTEGER NOT NULL, created_at INTEGER NOT NULL, method_stream INTEGER,
		access_grant_ids BLOB, is_backup_code INTEGER, received_at INTEGER NOT NULL, payload BLOB NOT NULL, sealed BLOB)`,
	`CREATE UNIQUE INDEX events_event_id ON events (event_id)`,
	`CREATE INDEX events_method_stream ON events (method_stream, occurred_at, created_at, event_id) WHERE method_stream IS NOT NULL`,
	`CREATE TABLE event_chain (seq INTEGER PRIMARY KEY, hash BLOB NOT NULL)`,
}

func makeEvents(t *testing.T, path string, n int) {
	t.Helper()
	db, tx := create(t, path, eventsDDL)
	defer db.Close()
	for i := 1; i <= n; i++ {
		var stream, grants, backup, sealed any // NULL for some rows
		if i%3 != 0 {
			stream, grants = i%7, bytes.Repeat([]byte{byte(i)}, 16*(i%3))
		}
		if i%4 == 0 {
			backup, sealed = int64(i%2), []byte{0, byte(i), 0xff}
		}
		payload := fmt.Sprintf(`{"event_id":"id-%06d","event_type":"access_method.issued","occurred_at":"2026-12-03T10:%02d:00Z"}`, i, i%60)
		_, err := tx.Exec(`INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			i, []byte(fmt.Sprintf("id-%06d", i)), "access_method.issued", int64(i)*1000, -int64(i), stream, grants, backup,
			int64(1)<<40+int64(i), []byte(payload), sealed)
		require.NoError(t, err)
		_, err = tx.Exec(`INSERT INTO event_chain VALUES (?, ?)`, i, bytes.Repeat([]byte{byte(i)}, 32))
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
}

// scanRow scans the row rows is on, of n columns.
func scanRow(t *testing.T, rows *sql.Rows, n int) []any {
	t.Helper()
	vals := make([]any, n)
	dest := make([]any, n)
	for i := range vals {
		dest[i] = &vals[i]
	}
	require.NoError(t, rows.Scan(dest...))
	return vals
}

// rowsOf is every row of table in path, by its first column, each as its
// columns' values by name.
func rowsOf(t *testing.T, path, table string) []map[string]any {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY 1`)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []map[string]any
	for rows.Next() {
		vals := scanRow(t, rows, len(cols))
		row := map[string]any{}
		for i, c := range cols {
			row[c] = vals[i]
		}
		out = append(out, row)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestReplayReshapesTheEventsRows(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	makeEvents(t, src, replayChunk+45)
	want := rowsOf(t, src, "events")
	packedCols := []string{"event_type", "access_grant_ids", "is_backup_code", "received_at"} // the source's order
	for _, tc := range []struct{ events, payload string }{
		{"packed", "raw"}, {"columns", "deflate"}, {"packed", "deflate"},
	} {
		t.Run(tc.events+"/"+tc.payload, func(t *testing.T) {
			out := filepath.Join(dir, tc.events+tc.payload+".db")
			require.NoError(t, runReplay([]string{"-from", src, "-db", out, "-txn", "300", "-events", tc.events, "-payload", tc.payload}))
			require.Equal(t, rowsOf(t, src, "event_chain"), rowsOf(t, out, "event_chain"), "the other tables are copied as they are")
			require.Contains(t, dump(t, out), "integrity ok")
			var dict []byte
			if tc.payload == "deflate" {
				r := &reshape{}
				s, err := openReader(src)
				require.NoError(t, err)
				require.NoError(t, r.readDict(t.Context(), s))
				require.NoError(t, s.Close())
				dict = r.dict
				require.Len(t, dict, dictBytes)
			}
			got := rowsOf(t, out, "events")
			require.Len(t, got, len(want))
			for i, row := range got {
				if tc.events == "packed" {
					require.NotContains(t, row, "event_type")
					vals, err := unpackFields(row["fields"].([]byte))
					require.NoError(t, err)
					require.Len(t, vals, len(packedCols))
					delete(row, "fields")
					for j, c := range packedCols {
						row[c] = vals[j]
					}
				}
				if dict != nil {
					stored := row["payload"].([]byte)
					raw, err := io.ReadAll(flate.NewReaderDict(bytes.NewReader(stored), dict))
					require.NoError(t, err)
					// Deflated with the dictionary: without it the bytes do not inflate to the payload.
					other, err := io.ReadAll(flate.NewReader(bytes.NewReader(stored)))
					require.False(t, err == nil && bytes.Equal(other, raw), "row %d: deflated without the dictionary", i)
					require.Less(t, len(stored), len(raw), "row %d: the payload is smaller deflated", i)
					row["payload"] = raw
				}
				require.Equal(t, want[i], row, "row %d", i)
			}
		})
	}
}

// unpackFields reads back what appendField wrote.
func unpackFields(b []byte) ([]any, error) {
	var vals []any
	for len(b) > 0 {
		tag := b[0]
		b = b[1:]
		switch tag {
		case fieldNull:
			vals = append(vals, nil)
		case fieldInt:
			v, n := binary.Varint(b)
			if n <= 0 {
				return nil, fmt.Errorf("a damaged integer")
			}
			vals, b = append(vals, v), b[n:]
		case fieldBlob, fieldText:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return nil, fmt.Errorf("a damaged length")
			}
			v := b[n : n+int(l)]
			if tag == fieldText {
				vals = append(vals, string(v))
			} else {
				vals = append(vals, bytes.Clone(v))
			}
			b = b[n+int(l):]
		default:
			return nil, fmt.Errorf("an unknown tag %d", tag)
		}
	}
	return vals, nil
}

// BenchmarkDeflatePayload is what -payload deflate costs the reader for one
// payload shaped like a Seam event (about 440 bytes, the generated events'
// mean): go test ./bench/baseline -run XXX -bench DeflatePayload
func BenchmarkDeflatePayload(b *testing.B) {
	// Payloads of the same shape, each with its own ids and times: the
	// dictionary is made of others than the one deflated, as a source's
	// first payloads are.
	shaped := func(n int) []byte {
		id := func(k int) string {
			return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", n*7+k, n%65536, k, n%4096, n*31+k)
		}
		return []byte(`{"access_grant_ids":["` + id(1) + `"],"access_grant_keys":["booking-` + fmt.Sprint(70000+n) + `"],` +
			`"access_method_id":"` + id(2) + `","acs_system_id":"` + id(3) + `",` +
			`"code_redacted":true,"connected_account_id":"` + id(4) + `","created_at":"2026-01-05T08:` + fmt.Sprintf("%02d:%02d", n%60, n%59) + `.157Z",` +
			`"event_id":"` + id(5) + `","event_type":"access_method.issued","occurred_at":"2026-01-05T08:` + fmt.Sprintf("%02d:%02d", n%60, n%59) + `.144Z",` +
			`"workspace_id":"3f782963-1da0-4787-a4b5-77a4d41bdf07"}`)
	}
	var dict []byte
	for n := 1; len(dict) < dictBytes; n++ {
		dict = append(dict, shaped(n)...)
	}
	payload := shaped(100000)
	r := &reshape{cols: []string{"payload"}, from: []int{0}, payloadAt: 0, dict: dict[:dictBytes]}
	var err error
	r.deflater, err = flate.NewWriterDict(&r.buf, flate.DefaultCompression, r.dict)
	require.NoError(b, err)
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := r.row([]any{payload}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(r.rawBytes)/float64(r.storeBytes), "ratio")
}
