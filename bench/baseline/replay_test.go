package main

import (
	"database/sql"
	"fmt"
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

func makeSource(t *testing.T, path string, n int) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	require.NoError(t, err)
	defer db.Close()
	for _, q := range sourceDDL {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
	tx, err := db.Begin()
	require.NoError(t, err)
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
			vals := make([]any, len(cols))
			dest := make([]any, len(cols))
			for i := range vals {
				dest[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(dest...))
			fmt.Fprintf(&b, "%s %#v\n", name, vals)
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
	for _, via := range []string{"driver", "sql"} {
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
		"no source":      {"-db", out},
		"no output":      {"-from", src},
		"missing source": {"-from", filepath.Join(dir, "nope.db"), "-db", out},
		"bad indexes":    {"-from", src, "-db", out, "-indexes", "never"},
		"zero txn":       {"-from", src, "-db", out, "-txn", "0"},
		"bad via":        {"-from", src, "-db", out, "-via", "carrier pigeon"},
		"bad checkpoint": {"-from", src, "-db", out, "-checkpoint", "-1"},
	} {
		t.Run(name, func(t *testing.T) {
			require.Error(t, runReplay(args))
			require.NoFileExists(t, out)
		})
	}
	require.NoError(t, runReplay([]string{"-from", src, "-db", out}), "the same source and output are good")
}
