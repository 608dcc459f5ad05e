package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver, for the tests' own SQL

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/store"
)

// The commands' tests run on the engine under test (internal/dbtest):
// tempDB is a fresh SQLite file or a fresh PostgreSQL schema, runCLIWith
// gives a PostgreSQL --db the key it needs, and the tests' own SQL goes
// through dbtest.Raw. Tests of what only an SQLite file has (its bytes, WAL
// files, VACUUM INTO, foreign files) skip on PostgreSQL with
// dbtest.SQLiteOnly.

// withTestKey returns cfg with AMTRACK_KEY_FILE set to the test key of the
// PostgreSQL database args name with --db, when cfg gives no key: a
// PostgreSQL log has no key file beside it, and every command on one log
// must use the same key. A read command, which never creates a key file, is
// given it once a writing command made it (as a user of a schema no command
// wrote to yet would have none). An SQLite --db keeps its key file beside it.
func withTestKey(tb testing.TB, cfg Config, args []string) Config {
	tb.Helper()
	if cfg.Key != "" || cfg.KeyFile != "" || len(args) == 0 {
		return cfg
	}
	db := dbArg(args)
	if !dbtest.IsPostgres(db) {
		return cfg
	}
	key := dbtest.KeyFile(tb, db)
	switch args[0] {
	case "show", "history", "verify":
		if _, err := os.Stat(key); err != nil {
			return cfg
		}
	}
	cfg.KeyFile = key
	return cfg
}

// dbArg returns the value of the last --db flag in args ("" when none).
func dbArg(args []string) string {
	db := ""
	for i, a := range args {
		switch {
		case a == "--":
			return db
		case (a == "--db" || a == "-db") && i+1 < len(args):
			db = args[i+1]
		case strings.HasPrefix(a, "--db="), strings.HasPrefix(a, "-db="):
			_, db, _ = strings.Cut(a, "=")
		}
	}
	return db
}

// schemaTables lists the tables of a PostgreSQL URL's schema.
func schemaTables(tb testing.TB, db string) []string {
	tb.Helper()
	conn := dbtest.Raw(tb, db)
	defer conn.Close()
	rows, err := conn.QueryContext(context.Background(),
		`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`)
	require.NoError(tb, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		require.NoError(tb, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(tb, rows.Err())
	return names
}

// keyEnv is the environment that gives an amtrack process the test key of
// db: AMTRACK_KEY_FILE for a PostgreSQL URL, nothing for an SQLite file
// (its key file is beside it).
func keyEnv(tb testing.TB, db string) []string {
	tb.Helper()
	if !dbtest.IsPostgres(db) {
		return nil
	}
	return []string{"AMTRACK_KEY_FILE=" + dbtest.KeyFile(tb, db)}
}

// engineSQL picks the statement written for db's engine: the tests' SQL on
// the read model's JSON and ids differs (json_extract and unhex on SQLite,
// jsonb and decode on PostgreSQL, where the JSON is in BYTEA columns).
func engineSQL(db, sqlite, postgres string) string {
	if dbtest.IsPostgres(db) {
		return postgres
	}
	return sqlite
}

// openTestApp is openApp with db's test key (dbtest.Keyring: the key file
// beside an SQLite file, the schema's test key for PostgreSQL).
func openTestApp(tb testing.TB, db string) (*app, error) {
	tb.Helper()
	return openAppOptions(context.Background(), db, store.Options{Keyring: dbtest.Keyring(tb, db)})
}

// assertNoDatabase checks that nothing made a database at db: no file, or
// no table in the PostgreSQL schema.
func assertNoDatabase(tb testing.TB, db, msg string) {
	tb.Helper()
	if dbtest.IsPostgres(db) {
		assert.Empty(tb, schemaTables(tb, db), msg)
		return
	}
	assert.NoFileExists(tb, db, msg)
}

// failAppends makes every append to db's log fail with "injected failure"
// once the log holds at least n events: a trigger on events, in the
// engine's dialect (PostgreSQL's calls a function).
func failAppends(tb testing.TB, db string, n int) {
	tb.Helper()
	if dbtest.IsPostgres(db) {
		dbtest.Exec(tb, db, `CREATE FUNCTION fail_appends() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF (SELECT count(*) FROM events) >= `+strconv.Itoa(n)+` THEN RAISE EXCEPTION 'injected failure'; END IF;
				RETURN NEW;
			END $$`,
			`CREATE TRIGGER fail_appends BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION fail_appends()`)
		return
	}
	dbtest.Exec(tb, db, `CREATE TRIGGER fail_appends BEFORE INSERT ON events WHEN (SELECT count(*) FROM events) >= `+strconv.Itoa(n)+`
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
}
