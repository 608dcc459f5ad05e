package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// ingestGenerated fills a fresh database with generate's stream for seed and
// returns its path and the number of events.
func ingestGenerated(t *testing.T, methods int, seed uint64) (string, int) {
	t.Helper()
	gen := runCLI(t, "", "generate", "--methods", fmt.Sprint(methods), "--seed", fmt.Sprint(seed))
	require.Equal(t, 0, gen.code, gen.stderr)
	n := strings.Count(gen.stdout, "\n")
	require.Greater(t, n, methods)

	db := tempDB(t)
	got := runCLI(t, gen.stdout, "ingest", "--db", db, "-")
	require.Equal(t, summary(n, 0, 0), got.stdout, got.stderr)
	require.Equal(t, 0, got.code)
	return db, n
}

// matchesLine is verify's output when the projection matches.
func matchesLine(events, methods int) string {
	return fmt.Sprintf("projection matches the log (%d events, %d access methods)\n", events, methods)
}

var rebuiltLine = regexp.MustCompile(`^rebuilt (\d+) access methods and (\d+) grants from (\d+) events \(up to seq (\d+)\) in .+\nthe swap held the writer for [0-9.]+[µm]?s, each write before it at most [0-9.]+[µm]?s\n$`)

// tamper runs one statement on the database through its own connection.
func tamper(t *testing.T, db, query string, args ...any) {
	t.Helper()
	conn := dbtest.Raw(t, db)
	defer conn.Close()
	res, err := conn.ExecContext(context.Background(), store.Rebind(db, query), args...)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "tamper must change one row")
}

// queryString reads one string from the database through its own connection.
func queryString(t *testing.T, db, query string, args ...any) string {
	t.Helper()
	var s string
	conn := dbtest.Raw(t, db)
	defer conn.Close()
	require.NoError(t, conn.QueryRowContext(context.Background(), store.Rebind(db, query), args...).Scan(&s))
	return s
}

// aliveCodeMethod returns the id of a method that is not deleted and has a PIN code.
func aliveCodeMethod(t *testing.T, db string) string {
	t.Helper()
	return queryString(t, db, engineSQL(db, `SELECT json_extract(state, '$.access_method_id') FROM access_methods
		WHERE status = 'issued' AND json_extract(state, '$.code_event_id') IS NOT NULL ORDER BY stream LIMIT 1`,
		`SELECT convert_from(state, 'UTF8')::jsonb ->> 'access_method_id' FROM access_methods
		WHERE status = 'issued' AND convert_from(state, 'UTF8')::jsonb ->> 'code_event_id' IS NOT NULL ORDER BY stream LIMIT 1`))
}

func TestVerifyAndRebuild(t *testing.T) {
	const methods = 300
	db, events := ingestGenerated(t, methods, 11)

	got := runCLI(t, "", "verify", "--db", db)
	assert.Equal(t, matchesLine(events, methods), verifyLine(t, got.stdout))
	assert.Empty(t, got.stderr)
	assert.Equal(t, 0, got.code)

	id := aliveCodeMethod(t, db)
	before := runCLI(t, "", "show", "--db", db, "--reveal-codes", id)
	require.Equal(t, 0, before.code, before.stderr)

	got = runCLI(t, "", "rebuild", "--db", db)
	require.Equal(t, 0, got.code, got.stderr)
	m := rebuiltLine.FindStringSubmatch(got.stdout)
	require.NotNil(t, m, "rebuild printed %q", got.stdout)
	assert.Equal(t, fmt.Sprint(methods), m[1])
	assert.Equal(t, fmt.Sprint(events), m[3])
	assert.Equal(t, fmt.Sprint(events), m[4])

	got = runCLI(t, "", "verify", "--db", db)
	assert.Equal(t, matchesLine(events, methods), verifyLine(t, got.stdout))
	assert.Equal(t, 0, got.code)
	after := runCLI(t, "", "show", "--db", db, "--reveal-codes", id)
	assert.Equal(t, before, after, "rebuild changed the state of %s", id)

	// More events after a rebuild fold into the rebuilt tables.
	more := testutil.MethodEvent(1, "created", "") + "\n" + testutil.MethodEvent(2, "issued", `,"code":"4821"`) + "\n"
	got = runCLI(t, more, "ingest", "--db", db, "-")
	require.Equal(t, summary(2, 0, 0), got.stdout, got.stderr)
	got = runCLI(t, "", "verify", "--db", db)
	assert.Equal(t, matchesLine(events+2, methods+2), verifyLine(t, got.stdout))
	assert.Equal(t, 0, got.code)
}

func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name       string
		sqlite, pg string // one statement changing the row of the access method (?), in each engine's SQL
	}{
		// The status column is what the list endpoint filters on.
		{"status column", `UPDATE access_methods SET status = 'deleted' WHERE access_method_id = unhex(replace(?, '-', ''))`,
			`UPDATE access_methods SET status = 'deleted' WHERE access_method_id = decode(replace(?, '-', ''), 'hex')`},
		{"state", `UPDATE access_methods SET state = json_set(state, '$.status', 'deleted') WHERE access_method_id = unhex(replace(?, '-', ''))`,
			`UPDATE access_methods SET state = convert_to(jsonb_set(convert_from(state, 'UTF8')::jsonb, '{status}', '"deleted"')::text, 'UTF8')
				WHERE access_method_id = decode(replace(?, '-', ''), 'hex')`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const methods = 300
			db, events := ingestGenerated(t, methods, 23)
			id := aliveCodeMethod(t, db)
			code := accessMethodOf(t, runCLI(t, "", "show", "--db", db, "--reveal-codes", id).stdout)["code"].(string)
			require.NotEmpty(t, code)

			tamper(t, db, engineSQL(db, tt.sqlite, tt.pg), id)
			got := runCLI(t, "", "verify", "--db", db)
			assert.Equal(t, 1, got.code, "verify must fail; stdout:\n%s", got.stdout)
			assert.Contains(t, got.stdout+got.stderr, id, "verify must name the access method")
			assert.NotContains(t, got.stdout+got.stderr, "projection matches")
			// PIN codes are secrets (docs/api.md): not even verify prints them.
			assert.NotContains(t, got.stdout+got.stderr, code, "verify output leaks the PIN code of %s", id)

			got = runCLI(t, "", "rebuild", "--db", db)
			require.Equal(t, 0, got.code, got.stderr)
			byID := engineSQL(db, `access_method_id = unhex(replace(?, '-', ''))`, `access_method_id = decode(replace(?, '-', ''), 'hex')`)
			assert.Equal(t, "issued", queryString(t, db, `SELECT status FROM access_methods WHERE `+byID, id))
			assert.Equal(t, "issued", queryString(t, db, engineSQL(db, `SELECT json_extract(state, '$.status') FROM access_methods WHERE `,
				`SELECT convert_from(state, 'UTF8')::jsonb ->> 'status' FROM access_methods WHERE `)+byID, id))
			got = runCLI(t, "", "verify", "--db", db)
			assert.Equal(t, matchesLine(events, methods), verifyLine(t, got.stdout))
			assert.Equal(t, 0, got.code)
		})
	}
}

func TestGenerateDeterministic(t *testing.T) {
	a := runCLI(t, "", "generate", "--methods", "50", "--seed", "7")
	b := runCLI(t, "", "generate", "--methods", "50", "--seed", "7")
	c := runCLI(t, "", "generate", "--methods", "50", "--seed", "8")
	require.Equal(t, 0, a.code, a.stderr)
	require.Equal(t, 0, c.code, c.stderr)
	assert.Empty(t, a.stderr)
	assert.Equal(t, a.stdout, b.stdout, "the same seed must give the same bytes")
	assert.NotEqual(t, a.stdout, c.stdout, "another seed must give another stream")

	// JSON Lines of well-formed events: ingest takes every one.
	lines := strings.Split(strings.TrimSuffix(a.stdout, "\n"), "\n")
	methods := map[string]bool{}
	for i, l := range lines {
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &ev), "line %d", i+1)
		if id, ok := ev["access_method_id"].(string); ok {
			methods[id] = true
		}
	}
	assert.Len(t, methods, 50)
	got := runCLI(t, a.stdout, "ingest", "--db", tempDB(t), "-")
	assert.Equal(t, summary(len(lines), 0, 0), got.stdout, got.stderr)

	t.Run("usage", func(t *testing.T) {
		got := runCLI(t, "", "generate", "extra")
		assert.Equal(t, 2, got.code)
		got = runCLI(t, "", "generate", "--methods", "many")
		assert.Equal(t, 2, got.code)
	})
}

func TestVersion(t *testing.T) {
	got := runCLI(t, "", "version")
	assert.Equal(t, 0, got.code)
	assert.Regexp(t, `^amtrack \S.*\n$`, got.stdout)
	assert.Empty(t, got.stderr)
}

func TestHelp(t *testing.T) {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, want := range []string{"generate", "history", "ingest", "rebuild", "show", "verify", "version"} {
		assert.Contains(t, names, want)
	}
	for _, name := range names {
		for _, flag := range []string{"--help", "-h"} {
			t.Run(name+flag, func(t *testing.T) {
				got := runCLI(t, "", name, flag)
				assert.Equal(t, 0, got.code, got.stderr)
				assert.Contains(t, got.stdout+got.stderr, "usage: amtrack "+name)
			})
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			got := runCLI(t, "", args...)
			assert.Equal(t, 0, got.code)
			for _, name := range names {
				assert.Contains(t, got.stdout, "  "+name+" ")
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	t.Run("unknown command", func(t *testing.T) {
		got := runCLI(t, "", "frobnicate")
		assert.Equal(t, 2, got.code)
		assert.Empty(t, got.stdout)
		assert.Equal(t, 1, bytes.Count([]byte(got.stderr), []byte("\n")), got.stderr)
		assert.Contains(t, got.stderr, `"frobnicate"`)
	})
	t.Run("no command", func(t *testing.T) {
		got := runCLI(t, "")
		assert.Equal(t, 2, got.code)
		assert.Contains(t, got.stdout, "usage: amtrack")
	})
	for _, name := range []string{"verify", "rebuild", "version"} {
		t.Run(name+" unknown flag", func(t *testing.T) {
			got := runCLI(t, "", name, "--bogus")
			assert.Equal(t, 2, got.code)
			assert.Contains(t, got.stderr, "bogus")
		})
	}
}
