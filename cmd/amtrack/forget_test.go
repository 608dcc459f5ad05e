package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/store"
)

// countQuery runs one query returning an int64 on the database db.
func countQuery(tb testing.TB, db, query string, args ...any) int64 {
	tb.Helper()
	var n int64
	conn := dbtest.Raw(tb, db)
	defer conn.Close()
	require.NoError(tb, conn.QueryRow(store.Rebind(db, query), args...).Scan(&n))
	return n
}

// wrappedKey returns the wrapped data key of access method id.
func wrappedKey(tb testing.TB, db string, id domain.ID) []byte {
	tb.Helper()
	var b []byte
	conn := dbtest.Raw(tb, db)
	defer conn.Close()
	require.NoError(tb, conn.QueryRow(store.Rebind(db, `SELECT wrapped FROM method_keys WHERE access_method_id = ?`), id[:]).Scan(&b))
	return b
}

// withoutCode decodes a show output and drops its code members.
func withoutCode(tb testing.TB, out string) map[string]any {
	tb.Helper()
	var v struct {
		AccessMethod map[string]any `json:"access_method"`
	}
	require.NoError(tb, json.Unmarshal([]byte(out), &v), out)
	for _, k := range []string{"code", "code_redacted", "code_forgotten"} {
		delete(v.AccessMethod, k)
	}
	return v.AccessMethod
}

// TestForget: forgetting a method destroys its key: its codes read as
// forgotten, all else is unchanged, the forgetting is in the log, verify
// and rebuild pass, the old wrapped key is in no database file, a second
// forget and a re-ingest change nothing.
func TestForget(t *testing.T) {
	dir := t.TempDir()
	db, input, jsonl, _ := ingestCoded(t, dir, 50, 7)
	method, grant := methodWithCode(t, jsonl)
	id, _ := domain.ParseID(method)
	wrapped := wrappedKey(t, db, id)
	require.NotEmpty(t, wrapped)

	revealed := runCLI(t, "", "show", "--db", db, "--reveal-codes", method)
	require.Equal(t, 0, revealed.code, revealed.stderr)
	require.Contains(t, revealed.stdout, `"code": "K`)
	shown := runCLI(t, "", "show", "--db", db, method)
	history := runCLI(t, "", "history", "--db", db, grant)
	keys := countQuery(t, db, `SELECT count(*) FROM method_keys`)
	events := countQuery(t, db, `SELECT count(*) FROM events`)

	got := runCLI(t, "", "forget", "--db", db, method)
	require.Equal(t, 0, got.code, got.stderr)
	assert.Equal(t, "forgot the codes of 1 access method\n", got.stdout)
	if dbtest.IsPostgres(db) {
		// The server's WAL and backups are out of amtrack's reach: forget says so.
		assert.Equal(t, "amtrack: note: the keys' rows are gone from "+db+", but PostgreSQL's WAL, its archives and base backups "+
			"keep their old bytes until they are recycled (docs/operating.md)\n", got.stderr)
	} else {
		assert.Empty(t, got.stderr)
	}

	// The code is forgotten; nothing else changed.
	after := runCLI(t, "", "show", "--db", db, "--reveal-codes", method)
	require.Equal(t, 0, after.code, after.stderr)
	assert.Contains(t, after.stdout, `"code": null,`)
	assert.Contains(t, after.stdout, `"code_forgotten": true`)
	assert.Equal(t, withoutCode(t, revealed.stdout), withoutCode(t, after.stdout))
	assert.Equal(t, shown, runCLI(t, "", "show", "--db", db, method), "without --reveal-codes the output is unchanged")
	assert.Equal(t, history, runCLI(t, "", "history", "--db", db, grant))
	revealedHistory := runCLI(t, "", "history", "--db", db, "--reveal-codes", grant)
	require.Equal(t, 0, revealedHistory.code, revealedHistory.stderr)
	assert.True(t, strings.Contains(revealedHistory.stdout, `"code_forgotten": true`), "history --reveal-codes marks the forgotten codes")

	// The forgetting is one event in the log, with the method's id.
	assert.Equal(t, events+1, countQuery(t, db, `SELECT count(*) FROM events`))
	payloadMethod := `json_extract(payload, '$.access_method_id')`
	if dbtest.IsPostgres(db) {
		payloadMethod = `convert_from(payload, 'UTF8')::jsonb ->> 'access_method_id'`
	}
	assert.Equal(t, int64(1), countQuery(t, db, `SELECT count(*) FROM events WHERE event_type = 'amtrack.codes_forgotten'
		AND `+payloadMethod+` = ?`, method))
	assert.Equal(t, int64(1), countQuery(t, db, `SELECT count(*) FROM method_keys WHERE wrapped IS NULL AND forgotten_at IS NOT NULL`))

	// The old wrapped key is gone from every file of the database (from
	// every row of the schema on PostgreSQL, whose files a test cannot read).
	if dbtest.IsPostgres(db) {
		for _, table := range schemaTables(t, db) {
			n := countQuery(t, db, `SELECT count(*) FROM "`+table+`" t WHERE t::text LIKE ?`, "%"+hex.EncodeToString(wrapped)+"%")
			assert.Zero(t, n, "the old wrapped key is in table %s", table)
		}
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(db + suffix)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		assert.False(t, bytes.Contains(b, wrapped), "the old wrapped key is in %s", filepath.Base(db+suffix))
	}

	for _, cmd := range []string{"verify", "rebuild", "verify"} {
		got := runCLI(t, "", cmd, "--db", db)
		require.Equal(t, 0, got.code, cmd+": "+got.stdout+got.stderr)
	}
	assert.Equal(t, after, runCLI(t, "", "show", "--db", db, "--reveal-codes", method), "after rebuild")

	// Forgetting again is a no-op; re-ingesting finds duplicates and makes no key.
	got = runCLI(t, "", "forget", "--db", db, method)
	require.Equal(t, 0, got.code, got.stderr)
	assert.Equal(t, "forgot the codes of 0 access methods (1 already forgotten)\n", got.stdout)
	again := runCLI(t, "", "ingest", "--db", db, input)
	require.Equal(t, 0, again.code, again.stderr)
	assert.Contains(t, again.stdout, "appended 0,")
	assert.Equal(t, keys, countQuery(t, db, `SELECT count(*) FROM method_keys`))
	assert.Nil(t, wrappedKey(t, db, id))
	assert.Equal(t, events+1, countQuery(t, db, `SELECT count(*) FROM events`))

	// A new event carrying a code of the forgotten method is not stored.
	var coded string
	for _, line := range strings.Split(jsonl, "\n") {
		if strings.Contains(line, method) && strings.Contains(line, `"code":"K`) {
			coded = line
		}
	}
	e, err := domain.ParseEvent([]byte(coded))
	require.NoError(t, err)
	fresh := writeFile(t, dir, "fresh.jsonl", strings.Replace(coded, e.ID.String(), "11111111-2222-4333-8444-555555555555", 1)+"\n")
	got = runCLI(t, "", "ingest", "--db", db, fresh)
	assert.NotEqual(t, 0, got.code)
	assert.Contains(t, got.stdout+got.stderr, "whose codes were forgotten")
	assert.Equal(t, keys, countQuery(t, db, `SELECT count(*) FROM method_keys`))
	assert.Nil(t, wrappedKey(t, db, id))
	assert.Equal(t, events+1, countQuery(t, db, `SELECT count(*) FROM events`))
}

// TestForgetDeletedBefore: --deleted-before forgets every deleted method,
// and none that is not deleted.
func TestForgetDeletedBefore(t *testing.T) {
	dir := t.TempDir()
	db, _, _, _ := ingestCoded(t, dir, 100, 9)
	deleted := countQuery(t, db, `SELECT count(*) FROM access_methods WHERE status = 'deleted'`)
	require.Positive(t, deleted, "the stream deletes methods")

	got := runCLI(t, "", "forget", "--db", db, "--deleted-before", "1970-01-02T00:00:00Z")
	require.Equal(t, 0, got.code, got.stderr)
	assert.Equal(t, "forgot the codes of 0 access methods\n", got.stdout)

	got = runCLI(t, "", "forget", "--db", db, "--deleted-before", "2100-01-01T00:00:00Z")
	require.Equal(t, 0, got.code, got.stderr)
	forgotten := countQuery(t, db, `SELECT count(*) FROM method_keys WHERE forgotten_at IS NOT NULL`)
	assert.Equal(t, deleted, forgotten)
	assert.Equal(t, deleted, countQuery(t, db, `SELECT count(*) FROM events WHERE event_type = 'amtrack.codes_forgotten'`))
	assert.Equal(t, int64(0), countQuery(t, db, `SELECT count(*) FROM method_keys k JOIN access_methods m
		ON m.access_method_id = k.access_method_id WHERE k.forgotten_at IS NOT NULL AND m.status != 'deleted'`))
	got = runCLI(t, "", "verify", "--db", db)
	require.Equal(t, 0, got.code, got.stdout+got.stderr)
}

// TestForgetRefused: an unknown or zero id changes nothing (exit 1); a
// malformed id or a missing choice is a usage error (exit 2).
func TestForgetRefused(t *testing.T) {
	dir := t.TempDir()
	db, _, jsonl, _ := ingestCoded(t, dir, 10, 3)
	method, _ := methodWithCode(t, jsonl)
	unknown := "99999999-9999-4999-8999-999999999999"
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown", []string{method, unknown}, 1, "access method " + unknown + " is not in the log"},
		{"zero", []string{"00000000-0000-0000-0000-000000000000"}, 1, "cannot be forgotten"},
		{"malformed", []string{method, "abc"}, 2, `ACCESS_METHOD_ID must be an id (hex 8-4-4-4-12), got "abc"`},
		{"both", []string{method, "--deleted-before", "2026-01-01T00:00:00Z"}, 2, "not both"},
		{"bad time", []string{"--deleted-before", "yesterday"}, 2, "--deleted-before must be an RFC 3339 time"},
	}
	events := countQuery(t, db, `SELECT count(*) FROM events`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCLI(t, "", append([]string{"forget", "--db", db}, tt.args...)...)
			assert.Equal(t, tt.code, got.code)
			assert.Contains(t, got.stderr, tt.want)
			assert.Empty(t, got.stdout)
			assert.Equal(t, events, countQuery(t, db, `SELECT count(*) FROM events`))
			assert.Equal(t, int64(0), countQuery(t, db, `SELECT count(*) FROM method_keys WHERE forgotten_at IS NOT NULL`))
		})
	}
}
