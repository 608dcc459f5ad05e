package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/amtrack/amtrack/domain"
)

// PostgreSQL is the second engine (docs/operating.md): the same tables in
// the schema the URL's search_path names (public by default), written by
// any number of amtrack processes. Every write transaction of every process
// first takes one transaction-scoped advisory lock (pgWriterLock), so write
// transactions on one log run one at a time, as on SQLite: seq order is
// commit order, an event with a lower seq is never committed after one with
// a higher seq, and a reader paging by seq misses nothing.

// pgWriterLock takes the log's writer lock: an advisory lock keyed by the
// schema, held until the transaction ends.
const pgWriterLock = `SELECT pg_advisory_xact_lock(1634562155, hashtext(current_schema()))`

// pgWriterLockWait bounds the wait for the writer lock (the writer's
// lock_timeout): past it the write is unavailable (a webhook answers 503 and
// Seam retries), rather than waiting on a process that froze holding it.
// pgWriterIdle is the writer's idle_in_transaction_session_timeout: the
// server ends the session of a process that stopped mid-transaction
// (SIGSTOP, a paused VM, a network partition), which releases the lock.
const (
	pgWriterLockWait = "30s"
	pgWriterIdle     = "60s"
)

// IsLockTimeout reports whether err is PostgreSQL's lock_timeout
// (SQLSTATE 55P03).
func IsLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// pgxParseConfig parses a PostgreSQL URL, refusing one that does not parse
// with an invalid_input error that does not print its password.
func pgxParseConfig(target string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(target)
	if err != nil {
		return nil, domain.Errorf(domain.EInvalid, "--db %s is not a PostgreSQL URL pgx can use: %s", Redact(target), pgxMessage(err))
	}
	return cfg, nil
}

// urlPassword finds the password of a URL inside a message.
var urlPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`)

// pgxMessage is err's message with any password in it blanked out.
func pgxMessage(err error) string {
	return urlPassword.ReplaceAllString(err.Error(), "${1}xxxxx@")
}

// openPostgres is Open on a PostgreSQL URL. The server and the database
// must exist; the log's tables are created in the URL's schema by the first
// writing open. The key must be given (opts.Keyring): there is no file
// beside a server database, and every process writing one log must hold
// the same key.
func openPostgres(ctx context.Context, target string, opts Options) (*DB, error) {
	name := Redact(target)
	if opts.Keyring == nil {
		return nil, domain.Errorf(domain.EInvalid, "the PostgreSQL database %s needs its key given: set AMTRACK_KEY_FILE "+
			"(a key file, created on first use; give every amtrack process of this database the same one) or AMTRACK_KEY", name)
	}
	// Synchronous OFF (tests, bulk loads that can be redone) is PostgreSQL's
	// synchronous_commit off: a crash may lose the last commits, never
	// corrupt the log. Otherwise the server's setting (on by default).
	lockWait := pgWriterLockWait
	if opts.LockWait > 0 {
		lockWait = strconv.FormatInt(opts.LockWait.Milliseconds(), 10) + "ms"
	}
	params := map[string]string{"lock_timeout": lockWait, "idle_in_transaction_session_timeout": pgWriterIdle}
	if strings.EqualFold(opts.Synchronous, "OFF") {
		params["synchronous_commit"] = "off"
	}
	write, err := openPostgresPool(target, false, params)
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	db := &DB{path: name, engine: Postgres, write: write}
	fail := func(err error) (*DB, error) {
		write.Close()
		return nil, err
	}
	if _, err := pgCheckTables(ctx, write, name, opts.MustExist); err != nil {
		return fail(err)
	}
	if err := db.migrate(ctx); err != nil {
		return fail(err)
	}
	if err := db.openKeys(ctx, write, opts, true); err != nil {
		return fail(err)
	}
	if err := db.repairTriggers(ctx); err != nil {
		return fail(err)
	}
	read, err := openPostgresPool(target, true, nil)
	if err != nil {
		return fail(err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	db.read = read
	if db.cursors, err = openPostgresPool(target, true, nil); err != nil {
		return fail(err)
	}
	db.cursors.SetMaxIdleConns(8)
	return db, nil
}

// openPostgresReadOnly is openReadOnly on a PostgreSQL URL: every
// transaction of its sessions is read only.
func openPostgresReadOnly(ctx context.Context, target string) (*DB, error) {
	name := Redact(target)
	read, err := openPostgresPool(target, true, nil)
	if err != nil {
		return nil, err
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	if _, err := pgCheckTables(ctx, read, name, true); err != nil {
		read.Close()
		return nil, err
	}
	cursors, err := openPostgresPool(target, true, nil)
	if err != nil {
		read.Close()
		return nil, err
	}
	cursors.SetMaxIdleConns(8)
	return &DB{path: name, engine: Postgres, read: read, cursors: cursors, keys: &keys{deks: map[domain.ID]cachedKey{}}}, nil
}

// pgCheckTables is checkTables on PostgreSQL, over the tables of the
// session's current schema: it reports whether amtrack's are there, and
// refuses a schema that holds only other tables, or (mustExist) none.
func pgCheckTables(ctx context.Context, q *sql.DB, name string, mustExist bool) (bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() ORDER BY table_name`)
	if err != nil {
		return false, pgOpenError(name, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return false, pgOpenError(name, err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return false, pgOpenError(name, err)
	}
	if len(names) == 0 {
		if mustExist {
			return false, domain.Errorf(domain.ENotFound, "no amtrack log in the PostgreSQL database %s: "+
				"run amtrack ingest or amtrack serve to create one, or check --db (and its search_path)", name)
		}
		return false, nil
	}
	has := func(n string) bool { _, ok := slices.BinarySearch(names, n); return ok }
	if !has("schema_migrations") || !has("events") {
		if len(names) > 5 {
			names = append(names[:5], "...")
		}
		return false, domain.Errorf(domain.EInvalid, "the PostgreSQL schema of %s holds another application's tables (%s), not an amtrack log: "+
			"give amtrack a schema of its own (CREATE SCHEMA amtrack, and ?search_path=amtrack in the URL) or check --db", name, strings.Join(names, ", "))
	}
	return true, nil
}

// pgOpenError says the server at name could not be used, with pgx's reason.
func pgOpenError(name string, err error) error {
	return fmt.Errorf("%w: %w", domain.Errorf(domain.EUnavailable, "cannot use the PostgreSQL database %s: %s", name, pgxMessage(err)), err)
}

// beginWrite starts a write transaction's engine-specific part. On SQLite
// it reads data_version; on PostgreSQL it takes the writer lock and counts
// the transaction in writer_epoch. Either way it advances db.epoch when
// another process wrote since this one last did. commit runs after a
// successful commit.
func (db *DB) beginWrite(ctx context.Context, tx *sql.Tx) (commit func(), err error) {
	if db.engine != Postgres {
		var version int64
		if err := tx.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&version); err != nil {
			return nil, err
		}
		if version != db.dataVersion {
			db.epoch++
		}
		db.dataVersion = version
		return func() {}, nil
	}
	if _, err := tx.ExecContext(ctx, pgWriterLock); err != nil {
		return nil, err
	}
	if !db.migrated {
		return func() {}, nil // writer_epoch may not be there yet
	}
	var n int64
	if err := tx.QueryRowContext(ctx, `UPDATE writer_epoch SET n = n + 1 RETURNING n`).Scan(&n); err != nil {
		return nil, err
	}
	if n-1 != db.pgEpoch {
		db.epoch++
	}
	return func() { db.pgEpoch = n }, nil
}

// pgUnavailable is unavailable for PostgreSQL: a server that is out of room
// or memory, shutting down, unreachable, read only (a standby), or a
// connection that broke, is unavailable (nil: not such an error).
func pgUnavailable(err error) error {
	// A canceled or timed-out context is the caller's (it is a net.Error
	// too), not the server's.
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var ne net.Error
	what := ""
	switch {
	case errors.As(err, &pe):
		switch {
		case strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"), pe.Code == "25006":
			what = pe.Code + " " + pe.Message
		case pe.Code == "55P03": // lock_timeout: another session held a lock this write needs too long
			what = pe.Code + " another session held a lock this write needs (the log's writer lock, or a table) past lock_timeout"
		case pe.Code == "25P03": // idle_in_transaction_session_timeout ended this session
			what = pe.Code + " " + pe.Message
		}
	case errors.As(err, &ce):
		what = "cannot connect"
	case errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, driver.ErrBadConn):
		what = "the connection broke"
	}
	if what == "" {
		return nil
	}
	return fmt.Errorf("%w: %w", domain.Errorf(domain.EUnavailable,
		"the PostgreSQL server cannot take writes now (%s): check the server, its disk and the network", what), err)
}

// pgTriggersQuery lists the append-only triggers of the current schema as
// pg_get_triggerdef prints them, with DISABLED appended to one that does not
// fire in an ordinary session (disabled, or enabled for replicas only), and
// the function they call as its CREATE FUNCTION statement.
const pgTriggersQuery = `SELECT t.tgname,
		pg_get_triggerdef(t.oid) || CASE WHEN t.tgenabled IN ('O', 'A') THEN '' ELSE ' DISABLED' END
	FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
	UNION ALL
	SELECT p.proname || '()', 'CREATE FUNCTION ' || p.proname || '() RETURNS trigger LANGUAGE plpgsql AS $$' || p.prosrc || '$$'
	FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace AND p.proname = 'amtrack_append_only'`

// pgFunctionPattern finds the migration's trigger function.
var pgFunctionPattern = regexp.MustCompile(`(?s)CREATE\s+FUNCTION\s+(amtrack_append_only)\(\).*?\$\$.*?\$\$`)

// pgQualified matches the schema pg_get_triggerdef puts before a table.
var pgQualified = regexp.MustCompile(`\bON\s+(?:"[^"]+"|\w+)\.`)

// normTrigger turns a trigger's definition as the engine prints it into
// the form the migrations write.
func (db *DB) normTrigger(def string) string {
	if db.engine != Postgres {
		return def
	}
	return pgQualified.ReplaceAllString(def, "ON ")
}

// createTrigger is the statement that creates t.
func (db *DB) createTrigger(t Trigger) string {
	if db.engine == Postgres && strings.HasSuffix(t.Name, "()") {
		return strings.Replace(t.SQL, "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
	}
	return t.SQL
}

// pgTriggerTable finds a PostgreSQL trigger's table.
var pgTriggerTable = regexp.MustCompile(`\bON\s+(\w+)`)

// dropTrigger is the statement that drops an altered t (empty for
// PostgreSQL's function, which createTrigger replaces).
func (db *DB) dropTrigger(t Trigger) string {
	switch {
	case db.engine != Postgres:
		return `DROP TRIGGER "` + t.Name + `"`
	case strings.HasSuffix(t.Name, "()"):
		return ""
	}
	m := pgTriggerTable.FindStringSubmatch(t.SQL)
	if m == nil {
		return ""
	}
	return `DROP TRIGGER IF EXISTS "` + t.Name + `" ON "` + m[1] + `"`
}
