package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/keyring"
)

// generatedCode is a code member as generate writes it.
var generatedCode = regexp.MustCompile(`"code":"([0-9]+)"`)

// codedStream is generate's stream for (methods, seed) with every code made
// distinctive ("K1234Z"), so that a scan of the database file cannot take
// an id, a time or random bytes for one; the same code always maps to the
// same value, so re-sent events stay duplicates. It returns the JSON Lines
// and the codes.
// ingestCoded writes codedStream(methods, seed) to dir/events.jsonl and
// ingests it into a fresh database (tempDB); it returns the database, the input file,
// the stream and its codes.
func ingestCoded(t testing.TB, dir string, methods int, seed uint64) (db, input, jsonl string, codes []string) {
	t.Helper()
	jsonl, codes = codedStream(t, methods, seed)
	input = writeFile(t, dir, "events.jsonl", jsonl)
	db = tempDB(t)
	got := runCLI(t, "", "ingest", "--db", db, input)
	require.Equal(t, 0, got.code, got.stderr)
	return db, input, jsonl, codes
}

func codedStream(tb testing.TB, methods int, seed uint64) (string, []string) {
	tb.Helper()
	var lines []string
	seen := map[string]bool{}
	var codes []string
	for _, raw := range testutil.Stream(tb, methods, seed) {
		raw = generatedCode.ReplaceAllFunc(raw, func(m []byte) []byte {
			code := "K" + string(generatedCode.FindSubmatch(m)[1]) + "Z"
			if !seen[code] {
				seen[code] = true
				codes = append(codes, code)
			}
			return []byte(`"code":"` + code + `"`)
		})
		lines = append(lines, string(raw))
	}
	require.NotEmpty(tb, codes, "the stream carries codes")
	return strings.Join(lines, "\n") + "\n", codes
}

// requireNoCodeAtRest fails tb if any code is in the database file, its WAL
// or its shared-memory file, in clear. A PostgreSQL server's files are out
// of a test's reach: there every row of every table of the schema, as text
// (BYTEA in hex), must hold no code, in clear or in hex.
func requireNoCodeAtRest(tb testing.TB, db string, codes []string) {
	tb.Helper()
	if dbtest.IsPostgres(db) {
		conn := dbtest.Raw(tb, db)
		defer conn.Close()
		for _, table := range schemaTables(tb, db) {
			rows, err := conn.Query(`SELECT t::text FROM "` + table + `" t`)
			require.NoError(tb, err, table)
			for rows.Next() {
				var row string
				require.NoError(tb, rows.Scan(&row))
				for _, code := range codes {
					require.False(tb, strings.Contains(row, code) || strings.Contains(row, hex.EncodeToString([]byte(code))),
						"code %s in clear in table %s", code, table)
				}
			}
			require.NoError(tb, rows.Err())
			rows.Close()
		}
		return
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(db + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		require.NoError(tb, err)
		for _, code := range codes {
			require.False(tb, bytes.Contains(b, []byte(code)), "code %s in clear in %s", code, filepath.Base(db+suffix))
		}
	}
}

// methodWithCode returns the id of a method of the stream that was issued a
// code, and the id of one of its grants.
func methodWithCode(tb testing.TB, jsonl string) (method, grant string) {
	tb.Helper()
	for _, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		e, err := domain.ParseEvent([]byte(line))
		require.NoError(tb, err)
		if e.Code != nil && len(e.AccessGrantIDs) > 0 {
			method, grant = e.AccessMethodID.String(), e.AccessGrantIDs[0].String()
		}
	}
	require.NotEmpty(tb, method)
	return method, grant
}

// TestNoCodeAtRest: after an ingest of events with codes, and after a
// rebuild, no code is in the database's files in clear, while show and
// history still reveal them with the key beside the database, and print
// them redacted without --reveal-codes.
func TestNoCodeAtRest(t *testing.T) {
	dir := t.TempDir()
	jsonl, codes := codedStream(t, 200, 7)
	input := writeFile(t, dir, "events.jsonl", jsonl)
	raw, err := os.ReadFile(input)
	require.NoError(t, err)
	require.True(t, bytes.Contains(raw, []byte(codes[0])), "the scan finds codes where they are")
	db := tempDB(t)

	got := runCLI(t, "", "ingest", "--db", db, input)
	require.Equal(t, 0, got.code, got.stderr)
	requireNoCodeAtRest(t, db, codes)
	st, err := os.Stat(dbtest.KeyFile(t, db))
	require.NoError(t, err, "the key file is made beside the database (at AMTRACK_KEY_FILE for PostgreSQL)")
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	got = runCLI(t, "", "rebuild", "--db", db)
	require.Equal(t, 0, got.code, got.stderr)
	requireNoCodeAtRest(t, db, codes)
	got = runCLI(t, "", "verify", "--db", db)
	require.Equal(t, 0, got.code, got.stdout+got.stderr)

	// Revealing reads the codes back; every code of the history is one of
	// the stream's, and the method's current code is the last it carried.
	method, grant := methodWithCode(t, jsonl)
	show := runCLI(t, "", "show", "--db", db, "--reveal-codes", method)
	require.Equal(t, 0, show.code, show.stderr)
	var state struct {
		AccessMethod struct {
			Code *string `json:"code"`
		} `json:"access_method"`
	}
	require.NoError(t, json.Unmarshal([]byte(show.stdout), &state))
	require.NotNil(t, state.AccessMethod.Code, show.stdout)
	assert.Contains(t, codes, *state.AccessMethod.Code)

	history := runCLI(t, "", "history", "--db", db, "--reveal-codes", grant)
	require.Equal(t, 0, history.code, history.stderr)
	assert.Contains(t, history.stdout, `"code": "K`)

	redacted := runCLI(t, "", "show", "--db", db, method)
	require.Equal(t, 0, redacted.code, redacted.stderr)
	assert.Contains(t, redacted.stdout, `"code_redacted": true`)
	assert.NotContains(t, redacted.stdout, *state.AccessMethod.Code)
	redactedHistory := runCLI(t, "", "history", "--db", db, grant)
	require.Equal(t, 0, redactedHistory.code, redactedHistory.stderr)
	assert.NotContains(t, redactedHistory.stdout, `"code": "K`)

	// Ingesting the same file again finds every event a duplicate: the
	// stored bytes, opened, are compared.
	again := runCLI(t, "", "ingest", "--db", db, input)
	require.Equal(t, 0, again.code, again.stderr)
	assert.Contains(t, again.stdout, "appended 0,")
}

// TestRevealNeedsTheKey: without the key file, the read commands work but
// for revealing, which says it needs the key; a read never creates a key
// file.
func TestRevealNeedsTheKey(t *testing.T) {
	dbtest.SQLiteOnly(t, "moves the key file beside the database away; a PostgreSQL log has none, and its commands are given the key")
	dir := t.TempDir()
	db, _, jsonl, _ := ingestCoded(t, dir, 20, 3)
	require.NoError(t, os.Rename(db+".key", filepath.Join(dir, "elsewhere.key")))
	method, grant := methodWithCode(t, jsonl)

	show := runCLI(t, "", "show", "--db", db, method)
	require.Equal(t, 0, show.code, show.stderr)
	assert.Contains(t, show.stdout, `"code_redacted": true`)
	history := runCLI(t, "", "history", "--db", db, grant)
	require.Equal(t, 0, history.code, history.stderr)
	assert.Contains(t, history.stdout, `"code_redacted": true`)
	verify := runCLI(t, "", "verify", "--db", db)
	require.Equal(t, 0, verify.code, verify.stdout+verify.stderr)

	for _, args := range [][]string{{"show", method}, {"history", grant}} {
		got := runCLI(t, "", append(args, "--db", db, "--reveal-codes")...)
		assert.Equal(t, 1, got.code, args)
		assert.Contains(t, got.stderr, "revealing codes needs the database's key, and there is no key file at "+db+".key", args)
		assert.Empty(t, got.stdout)
	}
	_, err := os.Stat(db + ".key")
	assert.True(t, os.IsNotExist(err), "a read command creates no key file")

	// The key given in the environment reveals.
	cfg := Config{KeyFile: filepath.Join(dir, "elsewhere.key")}
	revealed := runCLIWith(t, cfg, "", "show", "--db", db, "--reveal-codes", method)
	require.Equal(t, 0, revealed.code, revealed.stderr)
	assert.Contains(t, revealed.stdout, `"code": "K`)
}

// TestWrongKeyRefused: a database opened with another key than the one it
// was written with is refused, by writing and reading commands, naming
// both key ids; nothing is written.
func TestWrongKeyRefused(t *testing.T) {
	dir := t.TempDir()
	db, input, _, _ := ingestCoded(t, dir, 10, 5)
	keyFile := dbtest.KeyFile(t, db) // beside an SQLite file; AMTRACK_KEY_FILE's for PostgreSQL
	right, err := keyring.Load(keyFile)
	require.NoError(t, err)
	other := filepath.Join(dir, "other.key")
	wrong, err := keyring.Create(other)
	require.NoError(t, err)

	want := "the key file " + other + " (key id " + wrong.ID() + ") does not open the database at " + db + " (key id " + right.ID() + ")"
	cfg := Config{KeyFile: other}
	for _, args := range [][]string{{"ingest", input}, {"show", testutil.MethodID(1)}, {"rebuild"}} {
		got := runCLIWith(t, cfg, "", append(args, "--db", db)...)
		assert.Equal(t, 1, got.code, args)
		assert.Contains(t, got.stderr, want, args)
	}
	_, kek, err := keyring.Generate()
	require.NoError(t, err)
	got := runCLIWith(t, Config{Key: base64.StdEncoding.EncodeToString(kek)}, "", "ingest", "--db", db, input)
	assert.Equal(t, 1, got.code)
	assert.Contains(t, got.stderr, "the key in AMTRACK_KEY (key id ")
	got = runCLIWith(t, Config{Key: "not base64!"}, "", "ingest", "--db", db, input)
	assert.Equal(t, 1, got.code)
	assert.Contains(t, got.stderr, "AMTRACK_KEY is not a key: the key is not base64")

	// The right key, in the environment, still works; no key file is
	// needed beside the database then.
	b, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	require.NoError(t, os.Remove(keyFile))
	got = runCLIWith(t, Config{Key: string(b)}, "", "ingest", "--db", db, input)
	require.Equal(t, 0, got.code, got.stderr)
	_, err = os.Stat(keyFile)
	assert.True(t, os.IsNotExist(err), "AMTRACK_KEY makes no key file")
}

// TestLegacyDatabaseSealed: a database written before codes were sealed
// (codes in clear in the payloads, the code column and the read model) has
// them sealed on its first writing open, then rebuilt and compacted: no code
// is left in its files, and revealing still shows them.
func TestLegacyDatabaseSealed(t *testing.T) {
	dbtest.SQLiteOnly(t, "undoes SQLite's migration 0004_seal and scans the file; a PostgreSQL log is created sealing its codes (one migration, 0001_log)")
	dir := t.TempDir()
	db, input, jsonl, codes := ingestCoded(t, dir, 40, 9)
	makeLegacy(t, db, jsonl)
	requireCodeAtRest(t, db, codes[0])

	// A read command refuses to upgrade; a writing one seals.
	got := runCLI(t, "", "show", "--db", db, testutil.MethodID(1))
	assert.Equal(t, 1, got.code)
	assert.Contains(t, got.stderr, "migration 0004_seal not applied")
	got = runCLI(t, "", "ingest", "--db", db, input)
	require.Equal(t, 0, got.code, got.stderr)
	assert.Contains(t, got.stdout, "appended 0,")
	requireNoCodeAtRest(t, db, codes)
	got = runCLI(t, "", "verify", "--db", db)
	require.Equal(t, 0, got.code, got.stdout+got.stderr)
	method, _ := methodWithCode(t, jsonl)
	show := runCLI(t, "", "show", "--db", db, "--reveal-codes", method)
	require.Equal(t, 0, show.code, show.stderr)
	assert.Contains(t, show.stdout, `"code": "K`)
}

// requireCodeAtRest fails tb unless code is in the database file or its WAL.
func requireCodeAtRest(tb testing.TB, db, code string) {
	tb.Helper()
	var all []byte
	for _, suffix := range []string{"", "-wal"} {
		b, _ := os.ReadFile(db + suffix)
		all = append(all, b...)
	}
	require.True(tb, bytes.Contains(all, []byte(code)), "the legacy database holds codes in clear")
}

// makeLegacy turns a database written by this amtrack into one as amtrack
// wrote it before codes were sealed: payloads as received, the code in its
// column, the read model's states with their codes, no key tables, the
// projection at version 1.
func makeLegacy(tb testing.TB, path, jsonl string) {
	tb.Helper()
	conn, err := sql.Open("sqlite3", path)
	require.NoError(tb, err)
	defer conn.Close()
	ctx := context.Background()
	tx, err := conn.BeginTx(ctx, nil)
	require.NoError(tb, err)
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		tb.Helper()
		_, err := tx.ExecContext(ctx, q, args...)
		require.NoError(tb, err, q)
	}
	exec(`DROP TRIGGER events_no_update`)
	for _, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		e, err := domain.ParseEvent([]byte(line))
		require.NoError(tb, err)
		exec(`UPDATE events SET payload = ?, sealed = NULL, has_code = ? WHERE event_id = ?`, e.Raw, e.Code, e.ID[:])
		if e.Code != nil {
			exec(`UPDATE access_methods SET state = json_set(state, '$.code', ?) WHERE access_method_id = ?`, *e.Code, e.AccessMethodID[:])
		}
	}
	exec(`CREATE TRIGGER events_no_update BEFORE UPDATE ON events
		BEGIN SELECT RAISE(ABORT, 'events is append-only: UPDATE is not allowed'); END`)
	exec(`ALTER TABLE events DROP COLUMN sealed`)
	exec(`ALTER TABLE events RENAME COLUMN has_code TO code`)
	exec(`DROP TABLE method_keys`)
	exec(`DROP TABLE store_meta`)
	exec(`DELETE FROM schema_migrations WHERE version = '0004_seal'`)
	exec(`UPDATE projection_meta SET value = 1 WHERE key = 'schema_version'`)
	require.NoError(tb, tx.Commit())
	_, err = conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	require.NoError(tb, err)
	require.NoError(tb, os.Remove(path+".key"))
}

// TestNoCodeAtRestAfterKill: an ingest killed (SIGKILL) after it committed
// events with codes leaves no code in clear in the database, its WAL or
// its shared memory, whatever was never checkpointed.
func TestNoCodeAtRestAfterKill(t *testing.T) {
	bin := buildBinary(t) // skips under -short
	jsonl, codes := codedStream(t, 200, 11)
	db := tempDB(t)
	cmd := exec.Command(bin, "ingest", "--db", db, "-")
	cmd.Env = append(os.Environ(), keyEnv(t, db)...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })

	// Half the stream, then quiet: ingest commits it; then more, and the
	// kill lands while it reads or writes.
	lines := strings.SplitAfter(jsonl, "\n")
	_, err = io.WriteString(stdin, strings.Join(lines[:len(lines)/2], ""))
	require.NoError(t, err)
	waitForEvents(t, db, done)
	_, _ = io.WriteString(stdin, strings.Join(lines[len(lines)/2:], ""))
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	<-done
	requireNoCodeAtRest(t, db, codes)
}

// TestRekey: rekey creates a new key file and rewraps every data key under
// it: the database then opens with the new key only, the codes still reveal,
// and a NEW_KEY_FILE that exists is refused with nothing changed.
func TestRekey(t *testing.T) {
	dir := t.TempDir()
	db, input, jsonl, _ := ingestCoded(t, dir, 20, 13)
	method, _ := methodWithCode(t, jsonl)

	keyFile := dbtest.KeyFile(t, db) // beside an SQLite file; AMTRACK_KEY_FILE's for PostgreSQL
	got := runCLI(t, "", "rekey", "--db", db, keyFile)
	assert.Equal(t, 1, got.code)
	assert.Contains(t, got.stderr, "already exists: not overwriting a key file")

	newKey := filepath.Join(dir, "new.key")
	got = runCLI(t, "", "rekey", "--db", db, newKey)
	require.Equal(t, 0, got.code, got.stderr)
	k, err := keyring.Load(newKey)
	require.NoError(t, err)
	assert.Regexp(t, `^rewrapped [1-9][0-9]* data keys: the database now opens only with `+regexp.QuoteMeta(newKey)+
		` \(key id `+k.ID()+`\)`, got.stdout)

	old := runCLI(t, "", "show", "--db", db, method)
	assert.Equal(t, 1, old.code)
	assert.Contains(t, old.stderr, "does not open the database")
	require.NoError(t, os.Rename(newKey, keyFile))
	show := runCLI(t, "", "show", "--db", db, "--reveal-codes", method)
	require.Equal(t, 0, show.code, show.stderr)
	assert.Contains(t, show.stdout, `"code": "K`)
	got = runCLI(t, "", "ingest", "--db", db, input)
	require.Equal(t, 0, got.code, got.stderr)
	assert.Contains(t, got.stdout, "appended 0,")
}
