package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// The refusals of a --db that is not an amtrack log, as TestReadCommandsDoNotWrite
// and TestRebuildRefusesMissingAndForeign check them for files, on
// PostgreSQL schemas. These tests need a server (AMTRACK_TEST_POSTGRES),
// whichever engine the suite runs on.

// pgTarget returns the URL of a new, empty schema on the test server.
func pgTarget(t *testing.T) string {
	t.Helper()
	return dbtest.NewSchema(t, dbtest.PostgresURL(t))
}

// pgUpdateDB returns a new schema holding the update scenario's log.
func pgUpdateDB(t *testing.T) string {
	t.Helper()
	db := pgTarget(t)
	got := runCLI(t, "", "ingest", "--db", db, filepath.Join(scenarioDir, "update.jsonl"))
	require.Equal(t, 0, got.code, got.stderr)
	return db
}

// withSearchPath returns db with its search_path set to schema.
func withSearchPath(t *testing.T, db, schema string) string {
	t.Helper()
	u, err := url.Parse(db)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// withPassword returns db with password in its user info.
func withPassword(t *testing.T, db, password string) string {
	t.Helper()
	u, err := url.Parse(db)
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

// schemaContents fingerprints every table of db's schema: its rows as text,
// in order, by table name. Equal fingerprints: nothing was written.
func schemaContents(t *testing.T, db string) map[string]string {
	t.Helper()
	out := map[string]string{}
	conn := dbtest.Raw(t, db)
	defer conn.Close()
	for _, table := range schemaTables(t, db) {
		var sum string
		require.NoError(t, conn.QueryRow(`SELECT coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '') FROM "`+table+`" t`).Scan(&sum), table)
		out[table] = sum
	}
	return out
}

// schemaExists reports whether the server of db has a schema of that name.
func schemaExists(t *testing.T, db, schema string) bool {
	t.Helper()
	var n int
	conn := dbtest.Raw(t, db)
	defer conn.Close()
	require.NoError(t, conn.QueryRow(`SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, schema).Scan(&n))
	return n > 0
}

// TestPostgresReadCommandsDoNotWrite checks that show, history and verify
// refuse a PostgreSQL schema that holds no current amtrack log with a
// one-line error naming it and saying what to do, and write nothing to it:
// an empty schema stays empty.
func TestPostgresReadCommandsDoNotWrite(t *testing.T) {
	dbtest.PostgresURL(t) // skips the whole table, once, without a server
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the --db URL
		msg   string                    // part of the error; "" for success
	}{
		{"amtrack log", pgUpdateDB, ""},
		{"empty schema", pgTarget, "no amtrack log in the PostgreSQL database"},
		{"missing schema", func(t *testing.T) string { return withSearchPath(t, pgTarget(t), "t_no_such_schema") },
			"no amtrack log in the PostgreSQL database"},
		{"another application's tables", func(t *testing.T) string {
			db := pgTarget(t)
			dbtest.Exec(t, db, `CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT)`, `INSERT INTO notes VALUES (1, 'hi')`)
			return db
		}, "holds another application's tables (notes), not an amtrack log"},
		{"no migrations applied", func(t *testing.T) string {
			db := pgUpdateDB(t)
			dbtest.Exec(t, db, `DELETE FROM schema_migrations`)
			return db
		}, "older amtrack (migration 0001_log not applied): run amtrack rebuild"},
		{"stale projection", func(t *testing.T) string {
			db := pgUpdateDB(t)
			dbtest.Exec(t, db, `UPDATE projection_meta SET value = 0 WHERE key = 'schema_version'`)
			return db
		}, "run amtrack rebuild"},
		{"projection of another version", func(t *testing.T) string {
			db := pgUpdateDB(t)
			dbtest.Exec(t, db, `UPDATE projection_meta SET value = 999 WHERE key = 'schema_version'`)
			return db
		}, "read model of version 999"},
		{"no projection", func(t *testing.T) string {
			db := pgUpdateDB(t)
			dbtest.Exec(t, db, `DROP TABLE projection_meta`)
			return db
		}, "has no read model: run amtrack rebuild"},
	}
	for _, tt := range tests {
		for _, cmd := range readCommands {
			t.Run(tt.name+"/"+cmd[0], func(t *testing.T) {
				db := tt.setup(t)
				schema, _ := url.Parse(db)
				before := schemaContents(t, db)
				got := runCLI(t, "", append([]string{cmd[0], "--db", db}, cmd[1:]...)...)
				if tt.msg == "" {
					assert.Equal(t, 0, got.code, got.stderr)
				} else {
					assert.Equal(t, 1, got.code)
					assert.Empty(t, got.stdout)
					assert.Contains(t, got.stderr, tt.msg)
					assert.Contains(t, got.stderr, store.Redact(db))
					assert.Len(t, stderrLines(got), 1, "want a one-line error, got:\n%s", got.stderr)
				}
				assert.Equal(t, before, schemaContents(t, db), "%s wrote to the schema", cmd[0])
				if name := schema.Query().Get("search_path"); name == "t_no_such_schema" {
					assert.False(t, schemaExists(t, db, name), "%s created the schema", cmd[0])
				}
			})
		}
	}
}

// TestPostgresRebuildRefusesEmptyAndForeign checks that rebuild, a writing
// command, neither creates a log in an empty schema nor adds its tables to
// another application's.
func TestPostgresRebuildRefusesEmptyAndForeign(t *testing.T) {
	empty := pgTarget(t)
	got := runCLI(t, "", "rebuild", "--db", empty)
	assert.Equal(t, 1, got.code)
	assert.Contains(t, got.stderr, "no amtrack log in the PostgreSQL database "+store.Redact(empty))
	assert.Empty(t, schemaTables(t, empty), "rebuild created tables")

	other := pgTarget(t)
	dbtest.Exec(t, other, `CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT)`, `INSERT INTO notes VALUES (1, 'hi')`)
	before := schemaContents(t, other)
	for _, args := range [][]string{{"rebuild"}, {"ingest", "-"}, {"forget", testutil.MethodID(1)}} {
		got = runCLI(t, testutil.MethodEvent(1, "created", "")+"\n", append([]string{args[0], "--db", other}, args[1:]...)...)
		assert.Equal(t, 1, got.code, args[0])
		assert.Contains(t, got.stderr, "another application's tables (notes)", args[0])
		assert.Equal(t, before, schemaContents(t, other), "%s wrote to another application's schema", args[0])
	}
}

// TestPostgresNeedsKey: a command that writes to a PostgreSQL log, given no
// key, is refused before it touches the server, with a message naming
// AMTRACK_KEY_FILE and AMTRACK_KEY: there is no key file beside a server's
// database to fall back on.
func TestPostgresNeedsKey(t *testing.T) {
	db := pgTarget(t)
	input := writeFile(t, t.TempDir(), "events.jsonl", testutil.MethodEvent(1, "created", "")+"\n")
	newKey := filepath.Join(t.TempDir(), "new.key")
	for _, args := range [][]string{
		{"ingest", input},
		{"rebuild"},
		{"forget", testutil.MethodID(1)},
		{"rekey", newKey},
		{"serve", "--addr", "127.0.0.1:0"},
		{"sync", "--api-key", "k", "--endpoint", "http://127.0.0.1:1", "--since", "2026-01-01T00:00:00Z"},
	} {
		t.Run(args[0], func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			// Run itself, not runCLI, which would give the test key.
			err := Run(context.Background(), Config{}, append([]string{args[0], "--db", db}, args[1:]...), strings.NewReader(""), &stdout, &stderr)
			code := exitCode(err, &stderr)
			assert.Equal(t, 1, code, stderr.String())
			assert.Empty(t, stdout.String())
			assert.Contains(t, stderr.String(), "the PostgreSQL database "+store.Redact(db)+" needs its key given")
			assert.Contains(t, stderr.String(), "AMTRACK_KEY_FILE")
			assert.Contains(t, stderr.String(), "AMTRACK_KEY")
			assert.Len(t, stderrLines(result{stderr: stderr.String()}), 1, stderr.String())
			assert.Empty(t, schemaTables(t, db), "nothing is created without the key")
			assert.NoFileExists(t, newKey)
		})
	}
	// Reads need no key: they refuse only revealing codes.
	got := runCLI(t, "", "ingest", "--db", db, input)
	require.Equal(t, 0, got.code, got.stderr)
	var stdout, stderr bytes.Buffer
	require.NoError(t, Run(context.Background(), Config{}, []string{"show", "--db", db, testutil.MethodID(1)}, strings.NewReader(""), &stdout, &stderr))
	assert.Contains(t, stdout.String(), testutil.MethodID(1))
}

// TestPostgresPasswordRedacted: a --db URL's password is in no output of a
// command that fails on it (nor of one that succeeds), whatever the
// failure: the server's refusals, a schema that is not a log, a missing key,
// an unreachable server, a URL that does not parse.
func TestPostgresPasswordRedacted(t *testing.T) {
	const password = "s3cret-Pa55word" // the test server takes any password (trust)
	input := writeFile(t, t.TempDir(), "events.jsonl", testutil.MethodEvent(1, "created", "")+"\n")
	foreign := pgTarget(t)
	dbtest.Exec(t, foreign, `CREATE TABLE notes (id BIGINT PRIMARY KEY)`)
	unmigrated := pgUpdateDB(t)
	dbtest.Exec(t, unmigrated, `DELETE FROM schema_migrations`)
	log := pgUpdateDB(t)

	tests := []struct {
		name string
		db   string
		args []string
		code int
	}{
		{"empty schema", withPassword(t, pgTarget(t), password), []string{"show", updateMethod}, 1},
		{"another application's schema", withPassword(t, foreign, password), []string{"verify"}, 1},
		{"older migrations", withPassword(t, unmigrated, password), []string{"history", updateGrant}, 1},
		{"no key", withPassword(t, pgTarget(t), password), []string{"ingest", input}, 1},
		{"unreachable server", "postgres://amtrack:" + password + "@127.0.0.1:1/amtrack?connect_timeout=5", []string{"verify"}, 1},
		{"URL that does not parse", "postgres://amtrack:" + password + "@127.0.0.1:notaport/amtrack", []string{"verify"}, 1},
		{"backup", withPassword(t, log, password), []string{"backup", filepath.Join(t.TempDir(), "copy.db")}, 2},
		{"sync without checkpoint", withPassword(t, log, password), []string{"sync", "--api-key", "k", "--endpoint", "http://127.0.0.1:1"}, 2},
		{"verify", withPassword(t, log, password), []string{"verify"}, 0},
		{"rekey", withPassword(t, log, password), []string{"rekey", filepath.Join(t.TempDir(), "new.key")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{tt.args[0], "--db", tt.db}, tt.args[1:]...)
			cfg := Config{}
			switch u, err := url.Parse(tt.db); {
			case tt.name == "no key":
			case err == nil && u.Query().Has("search_path"):
				cfg.KeyFile = dbtest.KeyFile(t, tt.db) // the schema's test key
			default:
				cfg.KeyFile = filepath.Join(t.TempDir(), "k.key")
			}
			var stdout, stderr bytes.Buffer
			code := exitCode(Run(context.Background(), cfg, args, strings.NewReader(""), &stdout, &stderr), &stderr)
			assert.Equal(t, tt.code, code, stdout.String()+stderr.String())
			if tt.code != 0 {
				assert.NotEmpty(t, stderr.String())
			}
			assert.NotContains(t, stdout.String()+stderr.String(), password)
		})
	}
}

// TestBackupPostgresRefused: backup copies SQLite files; for a PostgreSQL
// URL it is a usage error (exit 2) that names PostgreSQL's own tools,
// before any connection, and writes no destination file.
func TestBackupPostgresRefused(t *testing.T) {
	// No server is needed: the refusal comes first.
	db := "postgres://amtrack:pw@127.0.0.1:1/amtrack?search_path=amtrack"
	dest := filepath.Join(t.TempDir(), "copy.db")
	got := runCLIWith(t, Config{KeyFile: filepath.Join(t.TempDir(), "k.key")}, "", "backup", "--db", db, dest)
	assert.Equal(t, 2, got.code)
	assert.Empty(t, got.stdout)
	assert.Contains(t, got.stderr, "back up the PostgreSQL database "+store.Redact(db)+" with PostgreSQL's tools")
	assert.Contains(t, got.stderr, "pg_dump")
	assert.Contains(t, got.stderr, "pg_basebackup")
	assert.NotContains(t, got.stderr, ":pw@")
	assert.Len(t, stderrLines(got), 1, got.stderr)
	assert.NoFileExists(t, dest)
	entries, err := os.ReadDir(filepath.Dir(dest))
	require.NoError(t, err)
	assert.Empty(t, entries, "no temporary file either")
}
