// Package dbtest gives tests a fresh database on the engine under test, so
// that one suite runs on both engines:
//
//	go test ./...                                              # SQLite
//	AMTRACK_TEST_POSTGRES=postgres://... AMTRACK_TEST_ENGINE=postgres go test ./...
//
// AMTRACK_TEST_POSTGRES names a PostgreSQL server the tests may create
// schemas in (bash .ci/postgres.sh starts a throwaway one). With
// AMTRACK_TEST_ENGINE=postgres every Target is a new schema on it;
// otherwise a new SQLite file, and the tests that need PostgreSQL itself
// (PostgresURL) skip, saying so, when no server is given.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver, for schema setup and Raw
	_ "github.com/mattn/go-sqlite3"    // the plain sqlite3 driver, for Raw

	"github.com/amtrack/amtrack/keyring"
)

// Postgres reports whether the suite runs on PostgreSQL
// (AMTRACK_TEST_ENGINE=postgres).
func Postgres() bool { return os.Getenv("AMTRACK_TEST_ENGINE") == "postgres" }

// Engine names the engine under test.
func Engine() string {
	if Postgres() {
		return "postgres"
	}
	return "sqlite"
}

// SQLiteOnly skips a test of something only the SQLite engine has (a file,
// its pages, WAL, VACUUM) when the suite runs on PostgreSQL.
func SQLiteOnly(tb testing.TB, why string) {
	tb.Helper()
	if Postgres() {
		tb.Skip("SQLite only: " + why)
	}
}

// PostgresURL returns the server of AMTRACK_TEST_POSTGRES, skipping tb with
// a message saying how to give one when it is not set (failing it when the
// suite is meant to run on PostgreSQL, or under CI=true).
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("AMTRACK_TEST_POSTGRES")
	if u == "" {
		msg := "no PostgreSQL server for this test: set AMTRACK_TEST_POSTGRES=postgres://... (bash .ci/postgres.sh starts one)"
		if Postgres() || os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return u
}

// Target returns a fresh, empty database for tb on the engine under test:
// a file name in tb's temporary directory (not created), or the URL of a
// new schema on the PostgreSQL server, dropped when tb ends.
func Target(tb testing.TB) string {
	tb.Helper()
	if !Postgres() {
		return filepath.Join(tb.TempDir(), "amtrack.db")
	}
	return NewSchema(tb, PostgresURL(tb))
}

// NewSchema creates a new schema on the server at base and returns base's
// URL with search_path set to it; the schema is dropped when tb ends.
func NewSchema(tb testing.TB, base string) string {
	tb.Helper()
	db, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	if _, err := db.Exec(`CREATE SCHEMA ` + name); err != nil {
		tb.Fatalf("create schema on %s: %v", base, err)
	}
	tb.Cleanup(func() {
		if _, err := db.Exec(`DROP SCHEMA ` + name + ` CASCADE`); err != nil {
			tb.Logf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Keyring returns the key a test opens target with: nil for an SQLite file
// (the key file beside it), a key file in tb's temporary directory for
// PostgreSQL, which has no file beside it.
func Keyring(tb testing.TB, target string) *keyring.Keyring {
	tb.Helper()
	if !IsPostgres(target) {
		return nil
	}
	k, _, err := keyring.LoadOrCreate(KeyFile(tb, target))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// KeyFile returns the path of the key file for target: beside an SQLite
// file, and in a per-target temporary directory for PostgreSQL (the same
// path for the same target in one test binary).
func KeyFile(tb testing.TB, target string) string {
	if !IsPostgres(target) {
		return target + ".key"
	}
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(os.TempDir(), "amtrack-test-keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(dir, u.Query().Get("search_path")+".key")
}

// IsPostgres reports whether target is a PostgreSQL URL.
func IsPostgres(target string) bool {
	l := strings.ToLower(target)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Raw returns a plain connection to target, outside amtrack, as an
// operator's sqlite3 or psql shell would have (on SQLite: foreign keys and
// recursive triggers off), for tests that tamper with the database. It is
// closed when tb ends. On PostgreSQL its statements take $1, $2, ...
func Raw(tb testing.TB, target string) *sql.DB {
	tb.Helper()
	driver := "sqlite3"
	if IsPostgres(target) {
		driver = "pgx"
	}
	db, err := sql.Open(driver, target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Exec runs stmts, in order, on a Raw connection to target, failing tb on
// the first that fails.
func Exec(tb testing.TB, target string, stmts ...string) {
	tb.Helper()
	db := Raw(tb, target)
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()
}

// ByEngine returns sqlite or postgres, for the engine of target: the same
// tamper or query written in each engine's dialect.
func ByEngine[T any](target string, sqlite, postgres T) T {
	if IsPostgres(target) {
		return postgres
	}
	return sqlite
}

// Rows returns every row of query on q, each column as the driver gives
// it: for comparing tables row for row.
func Rows(tb testing.TB, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, query string) [][]any {
	tb.Helper()
	rows, err := q.QueryContext(context.Background(), query)
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]any
	for rows.Next() {
		row := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}
