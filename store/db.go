// Package store is amtrack's SQLite database: opening it, its migrations,
// and the append-only event log.
package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/mattn/go-sqlite3"

	"github.com/amtrack/amtrack/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// driverName is mattn/go-sqlite3 with the pragmas every amtrack connection
// needs that have no DSN parameter:
//   - temp_store=MEMORY keeps statement journals in memory: a multi-row
//     INSERT into a table with foreign keys journals every page it touches,
//     and with temp_store=FILE those journals spill to temporary files
//     (measured: 9 GB of writes for a 1M-event ingest whose database is 1 GB).
const driverName = "sqlite3_amtrack"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA temp_store = MEMORY", nil)
		return err
	}})
}

// Options tune Open. The zero value is what amtrack uses.
type Options struct {
	// CacheMiB is the page cache of the writer connection (default 64): the
	// log's random-key indexes stay in memory while they fit.
	CacheMiB int
	// PageSize is the page size of a new database file (default 4096).
	PageSize int
	// Synchronous is the writer's synchronous pragma (default FULL: an
	// acknowledged append survives power loss).
	Synchronous string
	// CheckpointPages is the WAL size, in pages, that triggers a checkpoint
	// after a commit (default 16384, 64 MiB). A bulk load gains from more
	// (hot pages rewritten by many commits are copied once per checkpoint);
	// a server wants the shorter pause of a smaller checkpoint.
	CheckpointPages int
}

// DB is the amtrack database: one writer connection (every write goes
// through it, so seq order is commit order) and a pool of readers, which in
// WAL mode see a consistent snapshot while the writer works.
type DB struct {
	path  string
	write *sql.DB
	read  *sql.DB
	mu    sync.Mutex // serialises write transactions in this process

	// streams caches committed stream numbers (event_streams is
	// append-only, so a committed number never changes); guarded by mu.
	streams map[streamKey]int64

	// dataVersion is the writer connection's last PRAGMA data_version,
	// which changes when another connection commits; guarded by mu.
	dataVersion int64
}

// Open opens (creating if needed) the database at path, sets WAL, a busy
// timeout and foreign keys, and applies pending migrations in order.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.CacheMiB <= 0 {
		opts.CacheMiB = 64
	}
	if opts.PageSize == 0 {
		opts.PageSize = 4096
	}
	if opts.Synchronous == "" {
		opts.Synchronous = "FULL"
	}
	if opts.CheckpointPages <= 0 {
		opts.CheckpointPages = 16384
	}
	// recursive_triggers makes INSERT OR REPLACE fire the delete triggers too.
	base := "file:" + url.PathEscape(path) + "?_busy_timeout=10000&_foreign_keys=on&_recursive_triggers=on"
	// The writer's statements are compiled once and kept in the driver's
	// cache (_stmt_cache_size), which serves Exec and Query with arguments;
	// an explicit Prepare would compile again on every transaction.
	write, err := sql.Open(driverName, base+"&_txlock=immediate&_stmt_cache_size=128&_synchronous="+opts.Synchronous+
		"&_cache_size=-"+strconv.Itoa(opts.CacheMiB*1024))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	db := &DB{path: path, write: write}
	// The page size only takes effect on a new, empty file, before WAL mode
	// (which is persistent, so readers open in WAL too).
	// journal_size_limit truncates, at the next checkpoint, a WAL that grew to
	// twice its working size (a long reader can hold checkpoints back).
	for _, pragma := range []string{"PRAGMA page_size = " + strconv.Itoa(opts.PageSize), "PRAGMA journal_mode = WAL",
		"PRAGMA wal_autocheckpoint = " + strconv.Itoa(opts.CheckpointPages),
		"PRAGMA journal_size_limit = " + strconv.Itoa(2*opts.CheckpointPages*opts.PageSize)} {
		if _, err := write.ExecContext(ctx, pragma); err != nil {
			write.Close()
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
	}
	if err := db.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}
	read, err := sql.Open(driverName, base+"&_query_only=true&_stmt_cache_size=64&_cache_size=-8192")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	db.read = read
	return db, nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Reader returns the read-only connection pool.
func (db *DB) Reader() *sql.DB { return db.read }

// Close closes both connection pools.
func (db *DB) Close() error {
	var errs []string
	if db.read != nil {
		if err := db.read.Close(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if err := db.write.Close(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("close database: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Tx is a write transaction on the log (and, through SQL, the read model
// that is updated in the same transaction).
type Tx struct {
	*sql.Tx
	db       *DB
	streams  map[streamKey]int64 // stream numbers created in this transaction
	onCommit []func()
	external bool
}

// OnCommit registers fn to run after the transaction commits (not after a
// rollback), still holding the writer lock.
func (tx *Tx) OnCommit(fn func()) { tx.onCommit = append(tx.onCommit, fn) }

// ExternalChange reports whether another connection (another process) has
// committed to the database since this writer's previous transaction, so
// anything cached from earlier transactions may be stale.
func (tx *Tx) ExternalChange() bool { return tx.external }

// Update runs fn in one write transaction (BEGIN IMMEDIATE on the single
// writer connection) and commits if fn returns nil.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{Tx: sqlTx, db: db}
	var version int64
	if err := sqlTx.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&version); err != nil {
		_ = sqlTx.Rollback()
		return fmt.Errorf("begin: %w", err)
	}
	tx.external = version != db.dataVersion
	db.dataVersion = version
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	db.rememberStreams(tx.streams)
	for _, fn := range tx.onCommit {
		fn()
	}
	return nil
}

// migrate applies the embedded migrations not yet recorded, each in its own
// transaction, in file-name order.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT (unixepoch()))`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
		err = db.Update(ctx, func(tx *Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
	}
	return nil
}

// notFound is the error for a missing row.
func notFound(what string, id any) error {
	return domain.Errorf(domain.ENotFound, "%s %v not found", what, id)
}
