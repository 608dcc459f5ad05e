package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// headLine is verify's second line on success.
var headLine = regexp.MustCompile(`^log head (\d+):([0-9a-f]{64})$`)

// verifyLine checks that stdout is verify's success output, the matching
// line then the log head, and returns the first line (with its newline).
func verifyLine(t *testing.T, stdout string) string {
	t.Helper()
	first, rest, _ := strings.Cut(stdout, "\n")
	assert.Regexp(t, headLine, strings.TrimSuffix(rest, "\n"), "verify's second line")
	return first + "\n"
}

// verifyHead runs verify, requires it to pass and returns the head it printed.
func verifyHead(t *testing.T, db string) string {
	t.Helper()
	got := runCLI(t, "", "verify", "--db", db)
	require.Equal(t, 0, got.code, got.stdout+got.stderr)
	lines := strings.Split(strings.TrimSuffix(got.stdout, "\n"), "\n")
	require.Len(t, lines, 2, got.stdout)
	require.Regexp(t, headLine, lines[1])
	return strings.TrimPrefix(lines[1], "log head ")
}

// execSQL runs statements on the database through a plain connection, as
// someone with the sqlite3 shell (foreign keys and recursive triggers off)
// or psql would.
func execSQL(t *testing.T, db string, stmts ...string) {
	t.Helper()
	dbtest.Exec(t, db, stmts...)
}

// queryInt reads one integer from the database.
func queryInt(t *testing.T, db, query string, args ...any) int64 {
	t.Helper()
	var n int64
	conn := dbtest.Raw(t, db)
	defer conn.Close()
	require.NoError(t, conn.QueryRowContext(context.Background(), store.Rebind(db, query), args...).Scan(&n), query)
	return n
}

// eventCols are the columns of events, in order.
var eventCols = []string{"seq", "event_id", "event_type", "workspace_id", "occurred_at", "created_at", "access_method_id",
	"method_stream", "access_grant_id", "access_grant_ids", "access_grant_keys", "has_code", "is_backup_code",
	"access_grant_key", "starts_at", "ends_at", "received_at", "source", "message_id", "payload", "sealed"}

// replaceRow is an INSERT OR REPLACE of the event at seq with some columns
// set to SQL expressions: with recursive triggers off (the sqlite3 shell's
// default) the delete triggers do not fire.
func replaceRow(seq int64, set map[string]string) string {
	exprs := make([]string, len(eventCols))
	for i, c := range eventCols {
		exprs[i] = c
		if e, ok := set[c]; ok {
			exprs[i] = e
		}
	}
	return fmt.Sprintf("INSERT OR REPLACE INTO events (%s) SELECT %s FROM events WHERE seq = %d",
		strings.Join(eventCols, ", "), strings.Join(exprs, ", "), seq)
}

// pgTamper runs statements on a PostgreSQL log in one transaction with
// session_replication_role = replica, as a superuser with psql can: no
// trigger fires, neither the append-only ones nor those checking foreign
// keys (the sqlite3 shell's defaults, which check no foreign key either).
// The triggers are left as they were.
func pgTamper(t *testing.T, db string, stmts ...string) {
	t.Helper()
	conn := dbtest.Raw(t, db)
	defer conn.Close()
	tx, err := conn.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	defer tx.Rollback()
	for _, s := range append([]string{"SET LOCAL session_replication_role = replica"}, stmts...) {
		_, err := tx.Exec(s)
		require.NoError(t, err, s)
	}
	require.NoError(t, tx.Commit())
}

// pgRandomBytes is a PostgreSQL expression for n (a multiple of 16)
// random bytes: SQLite's randomblob(n).
func pgRandomBytes(n int) string {
	parts := make([]string, n/16)
	for i := range parts {
		parts[i] = "md5(random()::text)"
	}
	return "decode(" + strings.Join(parts, " || ") + ", 'hex')"
}

// TestVerifyFindsLogTampering edits the log as the sqlite3 shell or psql
// can, in every way the chain and the re-parse must notice, and checks that
// verify fails naming the seq (and never a PIN code), before and after a
// rebuild. Each case edits an SQLite log (sqlite) and a PostgreSQL one (pg)
// in that engine's SQL; nil for an edit the engine has no form of.
func TestVerifyFindsLogTampering(t *testing.T) {
	t.Parallel()
	const target = 10
	type tamper func(t *testing.T, db string) string
	tests := []struct {
		name string
		// sqlite and pg edit db and return what verify must print.
		sqlite, pg tamper
		// repaired: a writing open mends it (a dropped trigger), so verify
		// passes after the rebuild.
		repaired bool
	}{
		{
			name: "payload edited with INSERT OR REPLACE",
			sqlite: func(t *testing.T, db string) string {
				execSQL(t, db, replaceRow(target, map[string]string{"payload": "CAST(payload || ' ' AS BLOB)"}))
				return "seq 10: the chain breaks: the event's payload, received_at, source or message id differs"
			},
			pg: func(t *testing.T, db string) string {
				pgTamper(t, db, "UPDATE events SET payload = payload || ' '::bytea WHERE seq = 10")
				return "seq 10: the chain breaks: the event's payload, received_at, source or message id differs"
			},
			repaired: false,
		},
		{
			name: "payload edited after dropping the update trigger",
			sqlite: func(t *testing.T, db string) string {
				execSQL(t, db, "DROP TRIGGER events_no_update", "UPDATE events SET payload = CAST(payload || ' ' AS BLOB) WHERE seq = 10")
				return "seq 10: the chain breaks"
			},
			pg: func(t *testing.T, db string) string {
				execSQL(t, db, "DROP TRIGGER events_no_update ON events", "UPDATE events SET payload = payload || ' '::bytea WHERE seq = 10")
				return "seq 10: the chain breaks"
			},
			repaired: false,
		},
		{
			name: "received_at edited",
			sqlite: func(t *testing.T, db string) string {
				execSQL(t, db, replaceRow(target, map[string]string{"received_at": "received_at + 1"}))
				return "seq 10: the chain breaks: the event's"
			},
			pg: func(t *testing.T, db string) string {
				pgTamper(t, db, "UPDATE events SET received_at = received_at + 1 WHERE seq = 10")
				return "seq 10: the chain breaks: the event's"
			},
			repaired: false,
		},
		{
			name: "source edited",
			sqlite: func(t *testing.T, db string) string {
				execSQL(t, db, replaceRow(target, map[string]string{"source": "'webhook'"}))
				return "seq 10: the chain breaks: the event's"
			},
			pg: func(t *testing.T, db string) string {
				pgTamper(t, db, "UPDATE events SET source = 'webhook' WHERE seq = 10")
				return "seq 10: the chain breaks: the event's"
			},
			repaired: false,
		},
		{
			name: "message id added",
			sqlite: func(t *testing.T, db string) string {
				execSQL(t, db, replaceRow(target, map[string]string{"message_id": "'msg_forged'"}))
				return "seq 10: the chain breaks: the event's"
			},
			pg: func(t *testing.T, db string) string {
				pgTamper(t, db, "UPDATE events SET message_id = 'msg_forged' WHERE seq = 10")
				return "seq 10: the chain breaks: the event's"
			},
			repaired: false,
		},
		{
			name: "row deleted",
			sqlite: func(t *testing.T, db string) string {
				execSQL(t, db, "DROP TRIGGER events_no_delete", "DELETE FROM events WHERE seq = 10")
				return "seq 10: the chain has an entry but the log has no event"
			},
			pg: func(t *testing.T, db string) string {
				pgTamper(t, db, "DELETE FROM events WHERE seq = 10")
				return "seq 10: the chain has an entry but the log has no event"
			},
			repaired: false,
		},
		{
			name: "row and its chain entry deleted",
			sqlite: func(t *testing.T, db string) string {
				execSQL(t, db, "DROP TRIGGER events_no_delete", "DROP TRIGGER event_chain_no_delete",
					"DELETE FROM events WHERE seq = 10", "DELETE FROM event_chain WHERE seq = 10")
				return "seq 11: the chain breaks"
			},
			pg: func(t *testing.T, db string) string {
				pgTamper(t, db, "DELETE FROM events WHERE seq = 10", "DELETE FROM event_chain WHERE seq = 10")
				return "seq 11: the chain breaks"
			},
			repaired: false,
		},
		{
			name: "row inserted",
			sqlite: func(t *testing.T, db string) string {
				next := queryInt(t, db, "SELECT max(seq) + 1 FROM events")
				cols := strings.Join(eventCols[1:], ", ")
				execSQL(t, db, fmt.Sprintf("INSERT INTO events (seq, %s) SELECT %d, %s FROM events WHERE seq = 10", cols, next,
					strings.Replace(cols, "event_id", "randomblob(16)", 1)))
				return fmt.Sprintf("seq %d: the event has no chain entry: it was inserted outside amtrack", next)
			},
			pg: func(t *testing.T, db string) string {
				next := queryInt(t, db, "SELECT max(seq) + 1 FROM events")
				cols := strings.Join(eventCols[1:], ", ")
				execSQL(t, db, fmt.Sprintf("INSERT INTO events (seq, %s) SELECT %d, %s FROM events WHERE seq = 10", cols, next,
					strings.Replace(cols, "event_id", pgRandomBytes(16), 1)))
				return fmt.Sprintf("seq %d: the event has no chain entry: it was inserted outside amtrack", next)
			},
			repaired: false,
		},
		{
			name: "two rows swapped",
			sqlite: func(t *testing.T, db string) string {
				execSQL(t, db, "DROP TRIGGER events_no_update", "UPDATE events SET seq = -1 WHERE seq = 10",
					"UPDATE events SET seq = 10 WHERE seq = 11", "UPDATE events SET seq = 11 WHERE seq = -1")
				return "seq 10: the chain breaks"
			},
			pg: func(t *testing.T, db string) string {
				pgTamper(t, db, "UPDATE events SET seq = -1 WHERE seq = 10",
					"UPDATE events SET seq = 10 WHERE seq = 11", "UPDATE events SET seq = 11 WHERE seq = -1")
				return "seq 10: the chain breaks"
			},
			repaired: false,
		},
		{
			name: "chain entry edited",
			sqlite: func(t *testing.T, db string) string {
				execSQL(t, db, "DROP TRIGGER event_chain_no_update", "UPDATE event_chain SET hash = randomblob(32) WHERE seq = 10")
				return "seq 10: the chain breaks: its chain entry was edited"
			},
			pg: func(t *testing.T, db string) string {
				pgTamper(t, db, "UPDATE event_chain SET hash = "+pgRandomBytes(32)+" WHERE seq = 10")
				return "seq 10: the chain breaks: its chain entry was edited"
			},
			repaired: false,
		},
		{
			name: "trigger dropped",
			sqlite: func(t *testing.T, db string) string {
				execSQL(t, db, "DROP TRIGGER event_grants_no_delete")
				return "append-only trigger event_grants_no_delete is missing"
			},
			pg: func(t *testing.T, db string) string {
				execSQL(t, db, "DROP TRIGGER event_grants_no_delete ON event_grants")
				return "append-only trigger event_grants_no_delete is missing"
			},
			repaired: true,
		},
		{
			name: "trigger replaced by one that allows",
			sqlite: func(t *testing.T, db string) string {
				execSQL(t, db, "DROP TRIGGER events_no_update", "CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT 1; END")
				return "append-only trigger events_no_update is not the one amtrack created"
			},
			pg: func(t *testing.T, db string) string {
				execSQL(t, db, "DROP TRIGGER events_no_update ON events",
					"CREATE FUNCTION allow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
					"CREATE TRIGGER events_no_update BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION allow()")
				return "append-only trigger events_no_update is not the one amtrack created"
			},
			repaired: true,
		},
		{
			name: "occurred_at column edited",
			sqlite: func(t *testing.T, db string) string {
				execSQL(t, db, replaceRow(target, map[string]string{"occurred_at": "occurred_at + 1"}))
				return "seq 10: column occurred_at is"
			},
			pg: func(t *testing.T, db string) string {
				pgTamper(t, db, "UPDATE events SET occurred_at = occurred_at + 1 WHERE seq = 10")
				return "seq 10: column occurred_at is"
			},
			repaired: false,
		},
		{
			name: "event_type column edited",
			sqlite: func(t *testing.T, db string) string {
				seq := queryInt(t, db, "SELECT min(seq) FROM events WHERE event_type = 'access_method.issued'")
				execSQL(t, db, replaceRow(seq, map[string]string{"event_type": "'access_method.deleted'"}))
				return fmt.Sprintf("seq %d: column event_type is \"access_method.deleted\", the payload gives \"access_method.issued\"", seq)
			},
			pg: func(t *testing.T, db string) string {
				seq := queryInt(t, db, "SELECT min(seq) FROM events WHERE event_type = 'access_method.issued'")
				pgTamper(t, db, fmt.Sprintf("UPDATE events SET event_type = 'access_method.deleted' WHERE seq = %d", seq))
				return fmt.Sprintf("seq %d: column event_type is \"access_method.deleted\", the payload gives \"access_method.issued\"", seq)
			},
			repaired: false,
		},
		{
			name: "has_code column cleared on a sealed row",
			sqlite: func(t *testing.T, db string) string {
				seq := queryInt(t, db, "SELECT min(seq) FROM events WHERE has_code IS NOT NULL")
				execSQL(t, db, replaceRow(seq, map[string]string{"has_code": "NULL"}))
				return fmt.Sprintf("seq %d: column has_code is false, the event gives true (values redacted)", seq)
			},
			pg: func(t *testing.T, db string) string {
				seq := queryInt(t, db, "SELECT min(seq) FROM events WHERE has_code IS NOT NULL")
				pgTamper(t, db, fmt.Sprintf("UPDATE events SET has_code = NULL WHERE seq = %d", seq))
				return fmt.Sprintf("seq %d: column has_code is false, the event gives true (values redacted)", seq)
			},
			repaired: false,
		},
		{
			name: "has_code column set on a row in clear",
			sqlite: func(t *testing.T, db string) string {
				seq := queryInt(t, db, "SELECT min(seq) FROM events WHERE has_code IS NULL AND sealed IS NULL")
				execSQL(t, db, replaceRow(seq, map[string]string{"has_code": "1"}))
				return fmt.Sprintf("seq %d: column has_code is true, the event gives false (values redacted)", seq)
			},
			pg: func(t *testing.T, db string) string {
				seq := queryInt(t, db, "SELECT min(seq) FROM events WHERE has_code IS NULL AND sealed IS NULL")
				pgTamper(t, db, fmt.Sprintf("UPDATE events SET has_code = 1 WHERE seq = %d", seq))
				return fmt.Sprintf("seq %d: column has_code is true, the event gives false (values redacted)", seq)
			},
			repaired: false,
		},
		{
			name: "stream renumbered with INSERT OR REPLACE",
			sqlite: func(t *testing.T, db string) string {
				a := queryInt(t, db, "SELECT min(stream) FROM event_streams WHERE kind = 'access_method'")
				b := queryInt(t, db, "SELECT min(stream) FROM event_streams WHERE kind = 'access_method' AND stream > ?", a)
				execSQL(t, db, fmt.Sprintf("INSERT OR REPLACE INTO event_streams (stream, kind, id) SELECT %d, kind, id FROM event_streams WHERE stream = %d", a, b))
				seq := queryInt(t, db, "SELECT min(seq) FROM events WHERE method_stream IN (?, ?)", a, b)
				return fmt.Sprintf("seq %d: method_stream", seq)
			},
			pg: func(t *testing.T, db string) string {
				// INSERT OR REPLACE's end state: stream a holds b's id, b is gone.
				a := queryInt(t, db, "SELECT min(stream) FROM event_streams WHERE kind = 'access_method'")
				b := queryInt(t, db, "SELECT min(stream) FROM event_streams WHERE kind = 'access_method' AND stream > ?", a)
				pgTamper(t, db, fmt.Sprintf("DELETE FROM event_streams WHERE stream = %d", a),
					fmt.Sprintf("UPDATE event_streams SET stream = %d WHERE stream = %d", a, b))
				seq := queryInt(t, db, "SELECT min(seq) FROM events WHERE method_stream IN (?, ?)", a, b)
				return fmt.Sprintf("seq %d: method_stream", seq)
			},
			repaired: false,
		},
		{
			name: "stream ids swapped",
			sqlite: func(t *testing.T, db string) string {
				a := queryInt(t, db, "SELECT min(stream) FROM event_streams WHERE kind = 'access_method'")
				b := queryInt(t, db, "SELECT min(stream) FROM event_streams WHERE kind = 'access_method' AND stream > ?", a)
				execSQL(t, db, "DROP TRIGGER event_streams_no_update",
					fmt.Sprintf("UPDATE event_streams SET id = randomblob(16) WHERE stream = %d", a),
					fmt.Sprintf("UPDATE event_streams SET id = (SELECT access_method_id FROM events WHERE method_stream = %d LIMIT 1) WHERE stream = %d", a, b),
					fmt.Sprintf("UPDATE event_streams SET id = (SELECT access_method_id FROM events WHERE method_stream = %d LIMIT 1) WHERE stream = %d", b, a))
				seq := queryInt(t, db, "SELECT min(seq) FROM events WHERE method_stream IN (?, ?)", a, b)
				return fmt.Sprintf("seq %d: method_stream", seq)
			},
			pg: func(t *testing.T, db string) string {
				a := queryInt(t, db, "SELECT min(stream) FROM event_streams WHERE kind = 'access_method'")
				b := queryInt(t, db, "SELECT min(stream) FROM event_streams WHERE kind = 'access_method' AND stream > ?", a)
				pgTamper(t, db,
					fmt.Sprintf("UPDATE event_streams SET id = %s WHERE stream = %d", pgRandomBytes(16), a),
					fmt.Sprintf("UPDATE event_streams SET id = (SELECT access_method_id FROM events WHERE method_stream = %d LIMIT 1) WHERE stream = %d", a, b),
					fmt.Sprintf("UPDATE event_streams SET id = (SELECT access_method_id FROM events WHERE method_stream = %d LIMIT 1) WHERE stream = %d", b, a))
				seq := queryInt(t, db, "SELECT min(seq) FROM events WHERE method_stream IN (?, ?)", a, b)
				return fmt.Sprintf("seq %d: method_stream", seq)
			},
			repaired: false,
		},
		{
			name: "grant link deleted",
			sqlite: func(t *testing.T, db string) string {
				seq := queryInt(t, db, "SELECT min(seq) FROM event_grants")
				execSQL(t, db, "DROP TRIGGER event_grants_no_delete", fmt.Sprintf("DELETE FROM event_grants WHERE seq = %d", seq))
				return fmt.Sprintf("seq %d: the link to access_grant", seq)
			},
			pg: func(t *testing.T, db string) string {
				seq := queryInt(t, db, "SELECT min(seq) FROM event_grants")
				pgTamper(t, db, fmt.Sprintf("DELETE FROM event_grants WHERE seq = %d", seq))
				return fmt.Sprintf("seq %d: the link to access_grant", seq)
			},
			repaired: false,
		},
		{
			name: "trigger disabled",
			pg: func(t *testing.T, db string) string {
				execSQL(t, db, "ALTER TABLE events DISABLE TRIGGER events_no_delete")
				return "append-only trigger events_no_delete is not the one amtrack created"
			},
			repaired: true,
		},
		{
			name: "trigger function replaced by one that allows",
			pg: func(t *testing.T, db string) string {
				execSQL(t, db, "CREATE OR REPLACE FUNCTION amtrack_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
				return "append-only trigger amtrack_append_only() is not the one amtrack created"
			},
			repaired: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			edit := tt.sqlite
			if dbtest.Postgres() {
				edit = tt.pg
			}
			if edit == nil {
				t.Skipf("%s has no such edit", dbtest.Engine())
			}
			db, _ := ingestGenerated(t, 20, 31)
			var codes []string // the generated codes: the database holds none in clear
			for _, e := range testutil.Events(t, 20, 31) {
				if e.Code != nil {
					codes = append(codes, *e.Code)
				}
			}
			require.NotEmpty(t, codes)
			want := edit(t, db)

			check := func(when string) {
				t.Helper()
				got := runCLI(t, "", "verify", "--db", db)
				assert.Equal(t, 1, got.code, "verify %s must fail; stdout:\n%s", when, got.stdout)
				assert.Contains(t, got.stdout, want, "verify %s", when)
				assert.Contains(t, got.stderr, "the log fails its integrity check")
				assert.NotContains(t, got.stdout, "projection matches")
				for _, c := range codes {
					assert.NotContains(t, got.stdout+got.stderr, c, "verify %s leaks a PIN code", when)
				}
			}
			check("after the edit")
			got := runCLI(t, "", "rebuild", "--db", db)
			require.Equal(t, 0, got.code, got.stderr)
			if tt.repaired {
				assert.Contains(t, got.stderr, "amtrack: ERROR: append-only trigger ")
				assert.Contains(t, got.stderr, "has been recreated: the log may have been edited; run amtrack verify")
				verifyHead(t, db)
				return
			}
			check("after a rebuild")
		})
	}
}

// TestVerifyUntamperedLog: any stream, appended in any order, in any
// batches, with re-sent duplicates, verifies, before and after a rebuild,
// with the same head.
func TestVerifyUntamperedLog(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 99))
			gen := runCLI(t, "", "generate", "--methods", fmt.Sprint(5+rng.IntN(30)), "--seed", fmt.Sprint(seed))
			require.Equal(t, 0, gen.code, gen.stderr)
			lines := strings.Split(strings.TrimSuffix(gen.stdout, "\n"), "\n")
			rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
			db := tempDB(t)
			for start := 0; start < len(lines); {
				end := min(len(lines), start+1+rng.IntN(40))
				batch := lines[start:end]
				if start > 0 && rng.IntN(3) == 0 { // a re-sent event
					batch = append([]string{lines[rng.IntN(start)]}, batch...)
				}
				got := runCLI(t, strings.Join(batch, "\n")+"\n", "ingest", "--db", db, "-")
				require.Equal(t, 0, got.code, got.stderr)
				start = end
			}
			head := verifyHead(t, db)
			assert.True(t, strings.HasPrefix(head, fmt.Sprintf("%d:", queryInt(t, db, "SELECT max(seq) FROM events"))), head)
			got := runCLI(t, "", "rebuild", "--db", db)
			require.Equal(t, 0, got.code, got.stderr)
			assert.Empty(t, got.stderr)
			assert.Equal(t, head, verifyHead(t, db), "a rebuild does not change the log")
			got = runCLI(t, "", "verify", "--db", db, "--head", head)
			assert.Equal(t, 0, got.code, got.stdout+got.stderr)
		})
	}
}

// TestVerifyHead checks the log against a recorded head: the head verify
// printed passes, later too; a head with another hash or a seq the log
// lacks fails naming it (exit 1); a malformed one is a usage error (exit 2).
func TestVerifyHead(t *testing.T) {
	t.Parallel()
	db, _ := ingestGenerated(t, 10, 41)
	head := verifyHead(t, db)
	seq, hash, _ := strings.Cut(head, ":")
	more := testutil.MethodEvent(1, "created", "") + "\n"
	got := runCLI(t, more, "ingest", "--db", db, "-")
	require.Equal(t, 0, got.code, got.stderr)
	other := strings.Repeat("0", 64)

	tests := []struct {
		name     string
		head     string
		code     int
		want     string // in stdout
		wantErr  string // in stderr
		unwanted string
	}{
		{"the head verify printed", head, 0, "projection matches the log", "", ""},
		{"an earlier seq", "1:" + hash, 1, "log head 1: the chain has ", "the log fails its integrity check", "projection matches"},
		{"another hash", seq + ":" + other, 1, "log head " + seq + ": the chain has " + hash + " there, the recorded head " + other, "the log fails its integrity check", ""},
		{"a seq past the log", "100000:" + hash, 1, "log head 100000: the log has no chain entry at that seq", "the log fails its integrity check", ""},
		{"no colon", hash, 2, "", "--head: log head", ""},
		{"short hash", seq + ":abc", 2, "", "the hash must be 64 hex digits", ""},
		{"bad seq", "x:" + hash, 2, "", `seq "x" is not a number`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCLI(t, "", "verify", "--db", db, "--head", tt.head)
			assert.Equal(t, tt.code, got.code, got.stdout+got.stderr)
			assert.Contains(t, got.stdout, tt.want)
			assert.Contains(t, got.stderr, tt.wantErr)
			if tt.unwanted != "" {
				assert.NotContains(t, got.stdout, tt.unwanted)
			}
		})
	}
}

// TestWritingOpenRepairsTriggers: a dropped append-only trigger is
// recreated by a writing command, which logs it as an error; a read
// command leaves it missing and verify names it.
func TestWritingOpenRepairsTriggers(t *testing.T) {
	t.Parallel()
	db, _ := ingestGenerated(t, 5, 43)
	drop, count := "DROP TRIGGER events_no_update", "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name = 'events_no_update'"
	if dbtest.IsPostgres(db) {
		drop, count = "DROP TRIGGER events_no_update ON events", `SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
			WHERE c.relnamespace = current_schema()::regnamespace AND t.tgname = 'events_no_update'`
	}
	execSQL(t, db, drop)
	triggers := func() int64 { return queryInt(t, db, count) }

	got := runCLI(t, "", "show", "--db", db, testutil.MethodID(1))
	assert.NotContains(t, got.stderr, "ERROR")
	got = runCLI(t, "", "verify", "--db", db)
	assert.Equal(t, 1, got.code)
	assert.Contains(t, got.stdout, "append-only trigger events_no_update is missing")
	assert.Equal(t, int64(0), triggers(), "a read command does not repair")

	got = runCLI(t, testutil.MethodEvent(1, "created", "")+"\n", "ingest", "--db", db, "-")
	assert.Equal(t, 0, got.code, got.stderr)
	assert.Equal(t, "amtrack: ERROR: append-only trigger events_no_update was missing and has been recreated: "+
		"the log may have been edited; run amtrack verify\n", got.stderr)
	assert.Equal(t, int64(1), triggers())
	verifyHead(t, db)

	got = runCLI(t, testutil.MethodEvent(2, "created", "")+"\n", "ingest", "--db", db, "-")
	assert.Empty(t, got.stderr, "repaired once")
}

// TestChainMigration: a database of the amtrack before the chain (its
// migration undone) is refused by verify until a writing command upgrades
// it; the upgrade chains the whole log to the hashes appends give.
func TestChainMigration(t *testing.T) {
	t.Parallel()
	dbtest.SQLiteOnly(t, "undoes SQLite's migration 0003_chain; a PostgreSQL log is created with its chain (one migration, 0001_log)")
	db, _ := ingestGenerated(t, 15, 47)
	head := verifyHead(t, db)
	execSQL(t, db, "DROP TABLE event_chain", "DROP TABLE log_meta", "DELETE FROM schema_migrations WHERE version = '0003_chain'")

	got := runCLI(t, "", "verify", "--db", db)
	assert.Equal(t, 1, got.code)
	assert.Contains(t, got.stderr, "migration 0003_chain not applied")
	got = runCLI(t, "", "rebuild", "--db", db)
	require.Equal(t, 0, got.code, got.stderr)
	assert.Empty(t, got.stderr)
	assert.Equal(t, head, verifyHead(t, db))
	seq, _, _ := strings.Cut(head, ":")
	assert.Equal(t, seq, fmt.Sprint(queryInt(t, db, "SELECT value FROM log_meta WHERE key = 'chain_backfilled_to'")))
}
