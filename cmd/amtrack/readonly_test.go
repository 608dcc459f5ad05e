package main

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	updateMethod = "b7d1f5a3-8e2c-4a6b-9d3f-e1c5a7b9d402"
	updateGrant  = "9c4e1a7d-3f8b-4d2e-86a9-5b1f7c3e9d20"
)

// fileSum returns the SHA-256 of a file's bytes.
func fileSum(tb testing.TB, path string) [32]byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	require.NoError(tb, err)
	return sha256.Sum256(b)
}

// updateDB returns a fresh database holding the update scenario.
func updateDB(tb testing.TB) string {
	tb.Helper()
	db := tempDB(tb)
	got := runCLI(tb, "", "ingest", "--db", db, filepath.Join(scenarioDir, "update.jsonl"))
	require.Equal(tb, 0, got.code, got.stderr)
	return db
}

// readCommands are the commands that must never write to the database.
var readCommands = [][]string{{"show", updateMethod}, {"history", updateGrant}, {"verify"}}

// TestReadCommandsDoNotWrite checks that show, history and verify open the
// database read only: they refuse what is not a current amtrack database
// with a one-line error saying what to do, and leave every file as it was.
func TestReadCommandsDoNotWrite(t *testing.T) {
	dbtest.SQLiteOnly(t, "checks files (missing, directories, foreign and empty files, their bytes and WAL files); "+
		"TestPostgresReadCommandsDoNotWrite checks the same refusals on PostgreSQL schemas")
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the --db path
		msg   string                    // part of the error; "" for success
	}{
		{"amtrack database", func(t *testing.T) string { return updateDB(t) }, ""},
		{"missing path", func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing.db") }, "no database at"},
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "no", "such.db") }, "no database at"},
		{"directory", func(t *testing.T) string { return t.TempDir() }, "is a directory"},
		{"text file", func(t *testing.T) string { return writeFile(t, t.TempDir(), "notes.txt", "hello, world\n") }, "not an SQLite database"},
		{"short file", func(t *testing.T) string { return writeFile(t, t.TempDir(), "short.db", "SQLite") }, "not an SQLite database"},
		{"empty file", func(t *testing.T) string { return writeFile(t, t.TempDir(), "empty.db", "") }, "is an empty file"},
		{"empty SQLite database", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "blank.db")
			dbtest.Exec(t, path, `PRAGMA user_version = 7`)
			return path
		}, "empty SQLite database"},
		{"another application's SQLite database", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "other.db")
			dbtest.Exec(t, path, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`, `INSERT INTO notes (body) VALUES ('hi')`)
			return path
		}, "another application (tables notes)"},
		{"older migrations", func(t *testing.T) string {
			path := updateDB(t)
			dbtest.Exec(t, path, `DELETE FROM schema_migrations WHERE version = '0002_sync'`)
			return path
		}, "older amtrack (migration 0002_sync not applied): run amtrack rebuild"},
		{"stale projection", func(t *testing.T) string {
			path := updateDB(t)
			dbtest.Exec(t, path, `UPDATE projection_meta SET value = 0 WHERE key = 'schema_version'`)
			return path
		}, "run amtrack rebuild"},
		{"projection of another version", func(t *testing.T) string {
			path := updateDB(t)
			dbtest.Exec(t, path, `UPDATE projection_meta SET value = 999 WHERE key = 'schema_version'`)
			return path
		}, "read model of version 999"},
		{"no projection", func(t *testing.T) string {
			path := updateDB(t)
			dbtest.Exec(t, path, `DROP TABLE projection_meta`)
			return path
		}, "has no read model: run amtrack rebuild"},
	}
	for _, tt := range tests {
		for _, cmd := range readCommands {
			t.Run(tt.name+"/"+cmd[0], func(t *testing.T) {
				path := tt.setup(t)
				before, err := os.Stat(path)
				exists := err == nil
				var sum [32]byte
				walMode := false // SQLite may give a WAL database its -wal and -shm files
				if exists && !before.IsDir() {
					sum = fileSum(t, path)
					b, err := os.ReadFile(path)
					require.NoError(t, err)
					walMode = len(b) > 18 && b[18] == 2
				}

				args := append([]string{cmd[0], "--db", path}, cmd[1:]...)
				got := runCLI(t, "", args...)
				if tt.msg == "" {
					assert.Equal(t, 0, got.code, got.stderr)
				} else {
					assert.Equal(t, 1, got.code)
					assert.Empty(t, got.stdout)
					assert.Contains(t, got.stderr, tt.msg)
					assert.Contains(t, got.stderr, path)
					assert.Len(t, stderrLines(got), 1, "want a one-line error, got:\n%s", got.stderr)
				}

				if !exists {
					assert.NoFileExists(t, path, "%s created the database", cmd[0])
					assert.NoDirExists(t, filepath.Dir(path)+"/no", "%s created a directory", cmd[0])
					return
				}
				if !before.IsDir() {
					assert.Equal(t, sum, fileSum(t, path), "%s changed the database file", cmd[0])
				}
				if !walMode {
					assert.NoFileExists(t, path+"-wal", "%s made a WAL file", cmd[0])
					assert.NoFileExists(t, path+"-shm", "%s made a WAL index", cmd[0])
				}
			})
		}
	}
}

// TestRebuildRefusesMissingAndForeign checks that rebuild, a writing
// command, neither creates a database nor adds its tables to another
// application's file.
func TestRebuildRefusesMissingAndForeign(t *testing.T) {
	dbtest.SQLiteOnly(t, "checks a missing file and another application's file; TestPostgresRebuildRefusesEmptyAndForeign checks PostgreSQL schemas")
	missing := filepath.Join(t.TempDir(), "missing.db")
	got := runCLI(t, "", "rebuild", "--db", missing)
	assert.Equal(t, 1, got.code)
	assert.Contains(t, got.stderr, "no database at "+missing)
	assert.NoFileExists(t, missing)

	other := filepath.Join(t.TempDir(), "other.db")
	dbtest.Exec(t, other, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`)
	sum := fileSum(t, other)
	got = runCLI(t, "", "rebuild", "--db", other)
	assert.Equal(t, 1, got.code)
	assert.Contains(t, got.stderr, "another application")
	assert.Equal(t, sum, fileSum(t, other))
	assert.NoFileExists(t, other+"-wal")
}

// TestReadCommandAfterRebuildOfStaleProjection checks the way out the
// refusal names: rebuild brings a stale projection up to date, and the read
// commands work again.
func TestReadCommandAfterRebuildOfStaleProjection(t *testing.T) {
	path := updateDB(t)
	stale := []string{`UPDATE projection_meta SET value = 0 WHERE key = 'schema_version'`,
		`DELETE FROM schema_migrations WHERE version = '0002_sync'`, `DROP TABLE sync_state`}
	if dbtest.IsPostgres(path) {
		// PostgreSQL's log has one migration (0001_log), which amtrack never
		// undoes: only the projection is stale.
		stale = stale[:1]
	}
	dbtest.Exec(t, path, stale...)
	require.Equal(t, 1, runCLI(t, "", "verify", "--db", path).code)
	got := runCLI(t, "", "rebuild", "--db", path)
	require.Equal(t, 0, got.code, got.stderr)
	for _, cmd := range readCommands {
		got := runCLI(t, "", append([]string{cmd[0], "--db", path}, cmd[1:]...)...)
		assert.Equal(t, 0, got.code, "%s: %s", cmd[0], got.stderr)
	}
}
