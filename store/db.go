// Package store is amtrack's SQLite database: opening it (read-write or read
// only, refusing files that are not amtrack's), its migrations, the
// append-only event log (appending, and every read of it through Log), the
// group-commit Writer, the sync checkpoints, the write probe and Backup.
package store

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/keyring"
)

//go:embed migrations/*.sql migrations_pg/*.sql
var migrations embed.FS

// migrationDir is the folder of the engine's migrations in migrations.
func migrationDir(e Engine) string {
	if e == Postgres {
		return "migrations_pg"
	}
	return "migrations"
}

// driverName is mattn/go-sqlite3 with the pragmas every amtrack connection
// needs that have no DSN parameter:
//   - temp_store=MEMORY keeps statement journals in memory: a multi-row
//     INSERT into a table with foreign keys journals every page it touches,
//     and with temp_store=FILE those journals spill to temporary files
//     (measured: 9 GB of writes for a 1M-event ingest whose database is 1 GB).
const driverName = "sqlite3_amtrack"

// sqliteDriver is the driver registered as driverName.
var sqliteDriver = &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
	_, err := c.Exec("PRAGMA temp_store = MEMORY", nil)
	return err
}}

func init() { sql.Register(driverName, sqliteDriver) }

// connector opens a pool's connections to dsn with sqliteDriver and runs
// pragmas on each, so that a connection database/sql opens to replace one
// (as it does after a statement interrupted by its context) has the
// pool's settings too, not SQLite's defaults.
type connector struct {
	dsn     string
	pragmas []string
}

func (c connector) Connect(context.Context) (driver.Conn, error) {
	conn, err := sqliteDriver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	for _, p := range c.pragmas {
		if _, err := conn.(*sqlite3.SQLiteConn).Exec(p, nil); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

func (c connector) Driver() driver.Driver { return sqliteDriver }

// pageSize is the page size of a new database file.
const pageSize = 4096

// Options tune Open. The zero value is what amtrack uses.
type Options struct {
	// CacheMiB is the page cache of the writer connection (default 64): the
	// log's random-key indexes stay in memory while they fit.
	CacheMiB int
	// Synchronous is the writer's synchronous pragma (default FULL: an
	// acknowledged append survives power loss).
	Synchronous string
	// CheckpointPages is the WAL size, in frames (pages written) not yet
	// copied into the database file, that starts a checkpoint after a commit (default
	// 16384, 64 MiB). The checkpoint runs beside the writer, which goes on
	// (checkpoint.go). A bulk load gains from more (hot pages rewritten by
	// many commits are copied once per checkpoint); a server keeps its
	// WAL, and the time readers take to search it, smaller.
	CheckpointPages int
	// MustExist refuses a path where there is no database yet, instead of
	// creating one (for commands that only make sense on an existing log).
	MustExist bool
	// Keyring is the key-encryption key that wraps the data keys sealing
	// the codes (docs/log.md). nil: the key file at KeyPath(path), created
	// by a writing open when missing; a read-only open without it reads
	// everything but the codes.
	Keyring *keyring.Keyring
	// LockWait is, on PostgreSQL, how long a write waits for the log's
	// writer lock (and any other lock) before it is unavailable (default
	// 30 s: a process that froze holding it does not stop every writer).
	LockWait time.Duration
	// KeySource names Keyring in messages ("the key file /etc/amtrack.key",
	// "the key in AMTRACK_KEY").
	KeySource string
	// WalkIndexes has a rebuild or a verify on SQLite read the whole log
	// in stream order by walking the stream indexes, and SortedReads
	// through a sorted copy, whatever the page cache holds (sorted.go):
	// for tests that compare the two. WalkIndexes wins.
	WalkIndexes bool
	SortedReads bool
}

// DB is the amtrack database: one writer connection (every write goes
// through it, so seq order is commit order) and a pool of readers, which in
// WAL mode see a consistent snapshot while the writer works. A DB from
// OpenReadOnly has no writer.
type DB struct {
	path   string // the file, or the PostgreSQL URL without its password
	engine Engine
	write  *sql.DB // nil when opened read only
	read   *sql.DB
	// cacheKiB is the writer's page cache (Options.CacheMiB, SQLite).
	cacheKiB int
	// cursors, on PostgreSQL, holds the connections of snapshots' queries
	// (Snapshot.QueryContext); unbounded, as a snapshot is bounded by read.
	cursors *sql.DB
	mu      sync.Mutex // serialises write transactions in this process

	// streams caches committed stream numbers (event_streams is
	// append-only, so a committed number never changes); guarded by mu.
	streams map[streamKey]int64

	// dataVersion is the writer connection's last PRAGMA data_version,
	// which changes when another connection commits; guarded by mu.
	dataVersion int64
	// epoch counts the changes of dataVersion seen (ExternalEpoch);
	// guarded by mu.
	epoch uint64

	// pgEpoch is, on PostgreSQL, writer_epoch.n as of this process's last
	// write transaction; guarded by mu.
	pgEpoch int64
	// snapshotLocks are the tables a PostgreSQL snapshot locks before it
	// reads (LockInSnapshots).
	snapshotLocks []string
	// migrated is set once migrate has run (writer_epoch exists).
	migrated bool

	// repaired lists the append-only triggers Open recreated.
	repaired []TriggerProblem

	// keys seals and opens the codes (seal.go).
	keys *keys

	// ckpt checkpoints the WAL beside the writer (SQLite; nil read only).
	ckpt *checkpointer

	// walkIndexes and sortedReads are Options'.
	walkIndexes, sortedReads bool
	// copying is held by a sorted read while it copies (sorted.go).
	copying ctxMutex
	// counted is what the last sorted reads counted as they copied.
	counted copyTally
}

// Open opens (creating if needed, unless opts.MustExist) the database at
// path, sets WAL, a busy timeout and foreign keys, and applies pending
// migrations in order. It refuses, with an invalid_input error naming the
// path, a file that is not SQLite or is another application's SQLite
// database (it has tables, none of them amtrack's), before writing to it.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if EngineOf(path) == Postgres {
		return openPostgres(ctx, path, opts)
	}
	if err := checkFile(path, opts.MustExist); err != nil {
		return nil, err
	}
	if opts.CacheMiB <= 0 {
		opts.CacheMiB = 64
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
	// journal_size_limit truncates, when the WAL starts over, a WAL that grew
	// to twice its working size (a long reader can hold checkpoints back).
	// The writer does not checkpoint: the checkpointer does, beside it.
	durable := base + "&_synchronous=" + opts.Synchronous
	write := sql.OpenDB(connector{dsn: durable + "&_txlock=immediate&_stmt_cache_size=128" +
		"&_cache_size=-" + strconv.Itoa(opts.CacheMiB*1024), pragmas: []string{
		"PRAGMA wal_autocheckpoint = 0",
		"PRAGMA journal_size_limit = " + strconv.Itoa(2*opts.CheckpointPages*pageSize)}})
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	db := &DB{path: path, write: write, cacheKiB: opts.CacheMiB * 1024, walkIndexes: opts.WalkIndexes, sortedReads: opts.SortedReads}
	if _, err := checkTables(ctx, write, path); err != nil {
		write.Close()
		return nil, err
	}
	// The page size only takes effect on a new, empty file, before WAL mode
	// (which is persistent, so readers open in WAL too).
	for _, pragma := range []string{"PRAGMA page_size = " + strconv.Itoa(pageSize), "PRAGMA journal_mode = WAL"} {
		if _, err := write.ExecContext(ctx, pragma); err != nil {
			write.Close()
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
	}
	if err := db.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}
	if err := db.openKeys(ctx, write, opts, true); err != nil {
		write.Close()
		return nil, err
	}
	if err := db.sealLegacy(ctx); err != nil {
		write.Close()
		return nil, err
	}
	if err := db.repairTriggers(ctx); err != nil {
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
	// Its fsyncs are the writer's: the same synchronous setting. A
	// checkpoint reads no page through the page cache.
	if db.ckpt, err = startCheckpointer(ctx, durable+"&_cache_size=-256", opts.CheckpointPages); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: checkpoints: %w", path, err)
	}
	return db, nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Reader returns the read-only connection pool.
func (db *DB) Reader() *sql.DB { return db.read }

// Close closes both connection pools.
func (db *DB) Close() error {
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.cursors != nil {
		errs = append(errs, db.cursors.Close())
	}
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// Tx is a write transaction on the log (and, through SQL, the read model
// that is updated in the same transaction).
type Tx struct {
	*sql.Tx
	db      *DB
	streams map[streamKey]int64 // stream numbers created or looked up in this transaction
	// nextStream is the number of the next stream created (0: not read yet).
	nextStream int64
	deks       map[domain.ID][]byte // data keys created in this transaction
	onCommit   []func()
	// beforeCommit runs, in order, once fn of Update returned nil.
	beforeCommit []func() error
	local        map[any]any // Local's values
	cacheCut     bool        // CutCache ran: the writer's page cache is reset when the transaction ends
}

// CutCache cuts the writer's page cache to spillCacheKiB (or its own size,
// if smaller) for the rest of the transaction, which then reads many pages
// it will not need again (a DROP TABLE reads every page it frees), so that
// they do not fill the whole cache, whose memory a short command would
// keep at its peak. The writer has its own cache back when the
// transaction ends, committed or not. Nothing on PostgreSQL.
func (tx *Tx) CutCache(ctx context.Context) error {
	if tx.db.engine == Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `PRAGMA `+tx.db.cacheSize(true)); err != nil {
		return fmt.Errorf("cut the page cache: %w", err)
	}
	tx.cacheCut = true
	return nil
}

// restoreCache gives the writer its own page cache back after CutCache. A
// reset that fails is not reported: it only costs speed.
func (tx *Tx) restoreCache(ctx context.Context) {
	if tx.cacheCut {
		tx.db.write.ExecContext(context.WithoutCancel(ctx), `PRAGMA `+tx.db.cacheSize(false)) //nolint:errcheck // see above
	}
}

// BeforeCommit registers fn to run once the work of the transaction is
// done, just before it commits: an error rolls everything back. A fold
// that spans several appends of one transaction writes its rows here, once.
func (tx *Tx) BeforeCommit(fn func() error) { tx.beforeCommit = append(tx.beforeCommit, fn) }

// Local returns the value of this transaction under key, made by mk on
// first use: state that lives exactly as long as the transaction (a fold
// carried across several appends) and dies with it, committed or not.
func (tx *Tx) Local(key any, mk func() any) any {
	if v, ok := tx.local[key]; ok {
		return v
	}
	if tx.local == nil {
		tx.local = map[any]any{}
	}
	v := mk()
	tx.local[key] = v
	return v
}

// OnCommit registers fn to run after the transaction commits (not after a
// rollback), still holding the writer lock.
func (tx *Tx) OnCommit(fn func()) { tx.onCommit = append(tx.onCommit, fn) }

// ExternalEpoch counts the times this writer has seen another connection
// (another process) commit to the database, this transaction included.
// Anything cached from a transaction with another epoch may be stale. It
// is a count, not a flag of this transaction, so that a change seen by a
// transaction that cached nothing (a write probe, a sync checkpoint, a
// rolled-back append) is not lost to the next one that does.
func (tx *Tx) ExternalEpoch() uint64 { return tx.db.epoch }

// Update runs fn in one write transaction (BEGIN IMMEDIATE on the single
// writer connection) and commits if fn returns nil.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if db.write == nil {
		return domain.Errorf(domain.EInternal, "database %s is open read only", db.path)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.update(ctx, fn)
}

// UpdateSpilling is Update for a transaction that sorts more than memory
// should hold (a CREATE INDEX of a large table): on SQLite the writer's
// temporary files, the sorter's runs among them, go to disk (in
// SQLITE_TMPDIR) for its length, where they are otherwise kept in memory
// (see driverName), and its page cache is cut to spillCacheKiB, which also
// bounds each of the sorter's runs in memory (SQLite sizes them by the
// page cache). A ten-million-event rebuild's index builds reached 232 MB
// of RSS in memory; on disk with the writer's 32 MiB cache, 123-162 MB
// in twelve runs, the sorter's first run on top of a full page cache in
// the two over 150 MB (docs/performance.md).
// Should the reset fail, the writer goes on with FILE and the smaller
// cache: slower, nothing lost.
func (db *DB) UpdateSpilling(ctx context.Context, fn func(tx *Tx) error) error {
	return db.updateWithPragma(ctx,
		[]string{"temp_store = FILE", db.cacheSize(true)},
		[]string{"temp_store = MEMORY", db.cacheSize(false)}, fn)
}

// spillCacheKiB is the writer's page cache during an UpdateSpilling or
// after a CutCache.
const spillCacheKiB = 8 * 1024

// cacheSize is the PRAGMA setting of the writer's page cache: its own size,
// or, cut, spillCacheKiB (its own size if smaller).
func (db *DB) cacheSize(cut bool) string {
	kib := db.cacheKiB
	if cut {
		kib = min(spillCacheKiB, kib)
	}
	return "cache_size = -" + strconv.Itoa(kib)
}

// updateWithPragma is Update with the PRAGMAs set run on the writer before
// the transaction and the PRAGMAs reset after it, holding db.mu throughout
// so that no other write of this process runs with the setting (SQLite; on
// PostgreSQL it is Update). A reset that fails is not reported: each
// setting only costs speed (UpdateSpilling's, Forget's).
func (db *DB) updateWithPragma(ctx context.Context, set, reset []string, fn func(tx *Tx) error) error {
	if db.write == nil || db.engine == Postgres {
		return db.Update(ctx, fn)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	defer func() {
		for _, p := range reset {
			db.write.ExecContext(context.WithoutCancel(ctx), `PRAGMA `+p) //nolint:errcheck // see above
		}
	}()
	for _, p := range set {
		if _, err := db.write.ExecContext(ctx, `PRAGMA `+p); err != nil {
			return db.failed(ctx, fmt.Errorf("set %s: %w", p, err))
		}
	}
	return db.update(ctx, fn)
}

// update is Update holding db.mu.
func (db *DB) update(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return ended(ctx, fmt.Errorf("begin: %w", err))
	}
	tx := &Tx{Tx: sqlTx, db: db}
	defer tx.restoreCache(ctx)
	commit, err := db.beginWrite(ctx, sqlTx)
	if err != nil {
		_ = sqlTx.Rollback()
		return db.failed(ctx, fmt.Errorf("begin: %w", err))
	}
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return db.failed(ctx, err)
	}
	for _, fn := range tx.beforeCommit {
		if err := fn(); err != nil {
			_ = sqlTx.Rollback()
			return db.failed(ctx, err)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return db.failed(ctx, fmt.Errorf("commit: %w", err))
	}
	commit()
	if db.ckpt != nil {
		db.ckpt.committed(ctx, db.write)
	}
	db.rememberStreams(tx.streams)
	for _, fn := range tx.onCommit {
		fn()
	}
	return nil
}

// failed is the error of a write that failed with err: ended's when the
// context ended, else unavailable's.
func (db *DB) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ended(ctx, err)
	}
	return db.unavailable(err)
}

// ended is err, the error of a read or write whose context may have ended,
// with the context's error first in its chain when it did: a PostgreSQL
// statement cut by a cancel fails as a broken connection (driver: bad
// connection), which is neither the server's fault nor the caller's to
// retry. nil stays nil.
func ended(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); err != nil && ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	return err
}

// unavailable marks err as an unavailable *domain.Error, keeping it in the
// chain, when SQLite refused the write for want of room or a writable file
// (SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY, SQLITE_CANTOPEN): the event
// was not stored, and a retry once the disk is mended may succeed.
func (db *DB) unavailable(err error) error {
	if db.engine == Postgres {
		if pe := pgUnavailable(err); pe != nil {
			return pe
		}
		return err
	}
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case sqlite3.ErrFull, sqlite3.ErrIoErr, sqlite3.ErrReadonly, sqlite3.ErrCantOpen:
		return fmt.Errorf("%w: %w", domain.Errorf(domain.EUnavailable,
			"the database cannot take writes now (%s): check the disk's free space and the database file", se.Code.Error()), err)
	}
	return err
}

// Snapshot is a read-only transaction on the readers: every read through
// it sees the database as of one moment, whatever is committed meanwhile.
// On PostgreSQL, where one connection runs one query at a time, each
// QueryContext runs in a transaction of its own on another connection that
// imports the snapshot (SET TRANSACTION SNAPSHOT), so that several result
// sets can be open at once, as on SQLite; QueryRowContext uses the first
// transaction, so it must not run on two goroutines at once.
type Snapshot struct {
	*sql.Tx
	db *DB

	pgSnapshot string // the exported snapshot, on PostgreSQL, once a cursor asked for it
	mu         sync.Mutex
	cursors    []*sql.Tx
}

// LockInSnapshots names tables that another transaction may replace (drop,
// and rename a new one in its place, as a rebuild's swap does). On
// PostgreSQL a snapshot taken before such a swap would read the new table
// as empty (its rows are newer than the snapshot): each snapshot first
// takes an ACCESS SHARE lock on these tables, so a swap waits for the
// snapshots that may read them, and a snapshot begun after it sees it
// whole. Call it before any View. Nothing changes on SQLite, whose
// readers see the schema of their own snapshot.
func (db *DB) LockInSnapshots(tables ...string) { db.snapshotLocks = tables }

// Engine returns the engine of the snapshot's database.
func (s *Snapshot) Engine() Engine { return s.db.engine }

// Engine returns the engine of the transaction's database.
func (tx *Tx) Engine() Engine { return tx.db.engine }

// Short returns the context for one short statement of tx, a read or write
// of a few rows by key, once it has checked that ctx has not ended. On
// SQLite that is ctx without its cancellation: the driver watches a context
// that can end with a goroutine of its own for each statement, which cost
// a rebuild's writes more than their statements did (docs/performance.md),
// and such a statement, under the writer lock, waits for nothing. On
// PostgreSQL it is ctx, as a statement there may wait for a lock.
func (tx *Tx) Short(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if tx.db.engine == Postgres {
		return ctx, nil
	}
	return context.WithoutCancel(ctx), nil
}

// ReadRow reads one row by key on the read pool into dest (a GET's read):
// it waits for a connection of the pool as long as ctx lasts, then, on
// SQLite, runs the query with a context that cannot end, as Tx.Short does
// (a reader in WAL mode waits for no writer). Errors: sql.ErrNoRows, ctx's,
// the query's.
func (db *DB) ReadRow(ctx context.Context, dest []any, query string, args ...any) error {
	if db.engine == Postgres {
		return db.read.QueryRowContext(ctx, query, args...).Scan(dest...)
	}
	conn, err := db.read.Conn(ctx)
	if err != nil {
		return ended(ctx, err)
	}
	defer conn.Close()
	return conn.QueryRowContext(context.WithoutCancel(ctx), query, args...).Scan(dest...)
}

// QueryContext runs a query in the snapshot.
func (s *Snapshot) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s.db.engine != Postgres {
		return s.Tx.QueryContext(ctx, query, args...)
	}
	snapshot, err := s.export(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.cursors.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("begin snapshot cursor: %w", err)
	}
	s.mu.Lock()
	s.cursors = append(s.cursors, tx)
	s.mu.Unlock()
	if _, err := tx.ExecContext(ctx, `SET TRANSACTION SNAPSHOT '`+snapshot+`'`); err != nil {
		return nil, fmt.Errorf("begin snapshot cursor: %w", err)
	}
	return tx.QueryContext(ctx, query, args...)
}

// export returns the snapshot's id for the cursors, exporting it on first
// use (most snapshots never open a second result set). It is the snapshot
// of the first transaction, taken by its first query.
func (s *Snapshot) export(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pgSnapshot == "" {
		if err := s.Tx.QueryRowContext(ctx, `SELECT pg_export_snapshot()`).Scan(&s.pgSnapshot); err != nil {
			return "", fmt.Errorf("begin snapshot cursor: %w", err)
		}
	}
	return s.pgSnapshot, nil
}

// end ends the cursors' transactions.
func (s *Snapshot) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tx := range s.cursors {
		_ = tx.Rollback()
	}
	s.cursors = nil
}

// View runs fn in a Snapshot, which ends (nothing is written) when fn
// returns. fn must close every result set it opens: an open one keeps the
// snapshot's end waiting. Errors: fn's, or internal; either with the
// context's error first once ctx has ended (see ended).
func (db *DB) View(ctx context.Context, fn func(s *Snapshot) error) error {
	return ended(ctx, db.view(ctx, fn))
}

func (db *DB) view(ctx context.Context, fn func(s *Snapshot) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.engine == Postgres {
		// One snapshot for every statement, as SQLite's read transaction.
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.read.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin snapshot: %w", err)
	}
	defer tx.Rollback()
	s := &Snapshot{Tx: tx, db: db}
	if db.engine == Postgres {
		// Before the snapshot is taken (by the first query, not by LOCK):
		// see LockInSnapshots.
		if len(db.snapshotLocks) > 0 {
			if _, err := tx.ExecContext(ctx, `LOCK TABLE `+strings.Join(db.snapshotLocks, ", ")+` IN ACCESS SHARE MODE`); err != nil {
				return fmt.Errorf("begin snapshot: %w", err)
			}
		}
		defer s.end()
	}
	return fn(s)
}

// Head returns the highest seq in the log (0 when empty) and the number of
// events: db.Log().Head.
func (db *DB) Head(ctx context.Context) (seq, count int64, err error) {
	return db.Log().Head(ctx)
}

// Event returns the logged event with the given id: db.Log().Event.
// Errors: not_found.
func (db *DB) Event(ctx context.Context, id domain.ID) (Record, error) {
	return db.Log().Event(ctx, id)
}

// OpenReadOnly opens the existing amtrack database at path for reading
// only: SQLite's read-only mode, no migrations, no pragma that writes, no
// journal mode change, so the file is left as it is (SQLite may create the
// -wal and -shm files of a WAL database that has none). Update on the
// result fails. It refuses with an error naming the path and what to do:
// not_found when there is no file, invalid_input for a file that is not an
// amtrack database, or one whose migrations are older than this binary's.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	return OpenReadOnlyOptions(ctx, path, Options{})
}

// OpenReadOnlyOptions is OpenReadOnly with the key of opts.Keyring (the
// only option it reads; nil: the key file at KeyPath(path) if there is
// one). A key that is not the database's is refused (invalid_input).
func OpenReadOnlyOptions(ctx context.Context, path string, opts Options) (*DB, error) {
	open := openReadOnly
	if EngineOf(path) == Postgres {
		open = openPostgresReadOnly
	}
	db, err := open(ctx, path)
	if err != nil {
		return nil, err
	}
	if missing, err := db.pendingMigrations(ctx); err != nil {
		db.Close()
		return nil, err
	} else if len(missing) > 0 {
		db.Close()
		return nil, domain.Errorf(domain.EInvalid, "the database at %s was written by an older amtrack (migration %s not applied): "+
			"run amtrack rebuild --db %s (or serve or ingest) once to upgrade it", db.path, strings.Join(missing, ", "), db.path)
	}
	if err := db.openKeys(ctx, db.read, opts, false); err != nil {
		db.Close()
		return nil, err
	}
	db.walkIndexes, db.sortedReads = opts.WalkIndexes, opts.SortedReads
	return db, nil
}

// openReadOnly is OpenReadOnly without the migration check.
func openReadOnly(ctx context.Context, path string) (*DB, error) {
	if err := checkFile(path, true); err != nil {
		return nil, err
	}
	read, err := sql.Open(driverName, "file:"+url.PathEscape(path)+"?mode=ro&_busy_timeout=10000&_query_only=true&_stmt_cache_size=64&_cache_size=-8192")
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	amtrack, err := checkTables(ctx, read, path)
	if err == nil && !amtrack {
		err = domain.Errorf(domain.EInvalid, "%s is an empty SQLite database, not an amtrack one: check --db", path)
	}
	if err != nil {
		read.Close()
		return nil, err
	}
	return &DB{path: path, read: read, keys: &keys{deks: map[domain.ID]cachedKey{}}}, nil
}

// sqliteHeader starts every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// checkFile refuses what SQLite must not be handed: a missing file (when
// mustExist), a directory, an empty file (when mustExist: SQLite would take
// it for a new database) or a file that does not start with SQLite's header.
func checkFile(path string, mustExist bool) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !mustExist {
			return nil
		}
		return domain.Errorf(domain.ENotFound, "no database at %s: run amtrack ingest or amtrack serve to create one, or check --db", path)
	}
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return domain.Errorf(domain.EInvalid, "%s is a directory, not a database file: check --db", path)
	}
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && !mustExist:
		return nil // SQLite makes a new database of an empty file
	case n == 0:
		return domain.Errorf(domain.EInvalid, "%s is an empty file, not an amtrack database: check --db", path)
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("open database %s: %w", path, err)
	case !bytes.Equal(head[:n], sqliteHeader):
		return domain.Errorf(domain.EInvalid, "%s is not an SQLite database, so not an amtrack one: check --db", path)
	}
	return nil
}

// checkTables reports whether the database holds amtrack's tables, and
// refuses one that holds only other tables (another application's).
func checkTables(ctx context.Context, q *sql.DB, path string) (bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return false, fmt.Errorf("open database %s: read its tables: %w", path, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return false, fmt.Errorf("open database %s: read its tables: %w", path, err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("open database %s: read its tables: %w", path, err)
	}
	if len(names) == 0 {
		return false, nil
	}
	has := func(name string) bool { _, ok := slices.BinarySearch(names, name); return ok }
	if !has("schema_migrations") || !has("events") {
		if len(names) > 5 {
			names = append(names[:5], "...")
		}
		return false, domain.Errorf(domain.EInvalid, "%s is an SQLite database of another application (tables %s), not an amtrack one: check --db",
			path, strings.Join(names, ", "))
	}
	return true, nil
}

// migrationVersions lists the embedded migrations' versions in order.
func migrationVersions(e Engine) ([]string, error) {
	dir := migrationDir(e)
	names, err := fs.Glob(migrations, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for i, name := range names {
		names[i] = strings.TrimSuffix(strings.TrimPrefix(name, dir+"/"), ".sql")
	}
	return names, nil
}

// pendingMigrations lists the embedded migrations the database lacks.
func (db *DB) pendingMigrations(ctx context.Context) ([]string, error) {
	versions, err := migrationVersions(db.engine)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read migrations of %s: %w", db.path, err)
	}
	defer rows.Close()
	applied := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read migrations of %s: %w", db.path, err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read migrations of %s: %w", db.path, err)
	}
	var missing []string
	for _, v := range versions {
		if !applied[v] {
			missing = append(missing, v)
		}
	}
	return missing, nil
}

// migrationHooks run in a migration's transaction, after its SQL: what SQL
// alone cannot do.
var migrationHooks = map[string]func(ctx context.Context, tx *Tx) error{
	"0003_chain": backfillChain,
	// PostgreSQL's whole schema, chain included, is one migration run on an
	// empty log: it records the chain's start (seq 0, now) as SQLite's
	// 0003_chain does for a new file, so that Backfill reads the same.
	"0001_log": backfillChain,
}

// migrate applies the embedded migrations not yet recorded, each in its own
// transaction, in file-name order.
func (db *DB) migrate(ctx context.Context) error {
	create := `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT (unixepoch()))`
	if db.engine == Postgres {
		create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL DEFAULT (extract(epoch FROM now())::bigint))`
	}
	// Under the writer lock: two processes opening a new PostgreSQL log at
	// once would race to create the table.
	if err := db.Update(ctx, func(tx *Tx) error { _, err := tx.ExecContext(ctx, create); return err }); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	versions, err := migrationVersions(db.engine)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, version := range versions {
		body, err := migrations.ReadFile(migrationDir(db.engine) + "/" + version + ".sql")
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
			if hook := migrationHooks[version]; hook != nil {
				if err := hook(ctx, tx); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
	}
	db.migrated = true
	return nil
}

// notFound is the error for a missing row.
func notFound(what string, id any) error {
	return domain.Errorf(domain.ENotFound, "%s %v not found", what, id)
}
