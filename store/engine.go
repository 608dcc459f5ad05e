package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/stdlib"
)

// Engine is the database behind a DB: an SQLite file (the default) or a
// PostgreSQL server.
type Engine int

const (
	SQLite Engine = iota
	Postgres
)

// String names the engine.
func (e Engine) String() string {
	if e == Postgres {
		return "PostgreSQL"
	}
	return "SQLite"
}

// EngineOf says which engine a --db value names: a postgres:// or
// postgresql:// URL is PostgreSQL, anything else an SQLite file path.
func EngineOf(target string) Engine {
	lower := strings.ToLower(target)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return Postgres
	}
	return SQLite
}

// Engine returns the database's engine.
func (db *DB) Engine() Engine { return db.engine }

// Redact returns target fit for a message or a log line: a PostgreSQL
// URL without its password (and without a password query parameter);
// a path as it is.
func Redact(target string) string {
	if EngineOf(target) != Postgres {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		return "a PostgreSQL URL that does not parse"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// The SQL of this package and of the read model is written once, with
// SQLite's positional ? parameters and the SQL both engines share. On
// PostgreSQL each connection rewrites ? to $1, $2, ... (outside '...'
// strings, "..." identifiers and -- comments: it does not parse /* */
// comments, E'' strings, dollar quotes or jsonb's ? operator, which no
// statement of amtrack's uses) before pgx sees the statement: pgConnector wraps pgx's
// database/sql connector, and everything else about the connection (its
// statement cache, transactions, types) is pgx's own.

type pgConnector struct{ driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return pgConn{conn.(*stdlib.Conn)}, nil
}

// pgConn is a pgx connection that takes ? parameters.
type pgConn struct{ *stdlib.Conn }

func (c pgConn) Prepare(query string) (driver.Stmt, error) { return c.Conn.Prepare(rebind(query)) }

func (c pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), intBools(args))
}

func (c pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), intBools(args))
}

// intBools passes Go booleans as 0 and 1, as SQLite stores them: the flags
// of both schemas are integer columns.
func intBools(args []driver.NamedValue) []driver.NamedValue {
	for i, a := range args {
		if b, ok := a.Value.(bool); ok {
			args[i].Value = int64(0)
			if b {
				args[i].Value = int64(1)
			}
		}
	}
	return args
}

// Rebind returns query, written with ? parameters as amtrack's SQL is, in
// the form the engine of target takes: for PostgreSQL numbered $1, $2, ...
// (as every amtrack connection does it, for SQL run outside amtrack, such as
// a test's), for SQLite as it is.
func Rebind(target, query string) string {
	if EngineOf(target) != Postgres {
		return query
	}
	return rebind(query)
}

// rebound caches rebind's answers: the statements are a small fixed set
// (bulk inserts vary only in their row count).
var rebound sync.Map

// rebind returns query with each ? parameter outside '...' strings, "..."
// identifiers and -- comments numbered $1, $2, ... in order.
func rebind(query string) string {
	if v, ok := rebound.Load(query); ok {
		return v.(string)
	}
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(query) && query[j] != c {
				j++
			}
			b.WriteString(query[i:min(j+1, len(query))])
			i = j
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i
			}
			b.WriteString(query[i : i+j])
			i += j - 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	rebound.Store(query, out)
	return out
}

// openPostgresPool opens a database/sql pool on the PostgreSQL server at
// target (a URL pgx parses), taking ? parameters, with the session
// settings params. readOnly makes every transaction of the pool's sessions
// read only.
func openPostgresPool(target string, readOnly bool, params map[string]string) (*sql.DB, error) {
	cfg, err := pgxParseConfig(target)
	if err != nil {
		return nil, err
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "amtrack"
	}
	for k, v := range params {
		cfg.RuntimeParams[k] = v
	}
	// Times are Unix nanoseconds in BIGINT columns; no session setting
	// changes a result, but the time zone is fixed so that none could.
	cfg.RuntimeParams["timezone"] = "UTC"
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	return sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)}), nil
}

// pgTypes turns SQLite's column types into PostgreSQL's.
var pgTypes = strings.NewReplacer("BLOB", "BYTEA", "INTEGER", "BIGINT", "TEXT", `TEXT COLLATE "C"`, "WITHOUT ROWID", "")

// DDL returns a CREATE TABLE or CREATE INDEX script written for SQLite (with
// BLOB, INTEGER, TEXT and WITHOUT ROWID) in the engine's dialect: on
// PostgreSQL BYTEA, BIGINT, TEXT in byte order (COLLATE "C", as SQLite's
// BINARY) and no WITHOUT ROWID. Other packages' tables (the read model) are
// written once this way.
func (db *DB) DDL(script string) string {
	if db.engine != Postgres {
		return script
	}
	return pgTypes.Replace(script)
}

// HasTable reports whether the database has a table of that name (in the
// session's schema, on PostgreSQL). Errors: internal.
func (db *DB) HasTable(ctx context.Context, name string) (bool, error) {
	q := `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`
	if db.engine == Postgres {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	}
	var n int
	if err := db.read.QueryRowContext(ctx, q, name).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}
