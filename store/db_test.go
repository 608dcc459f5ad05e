package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// writerPragmas reads pragmas on the writer connection.
func writerPragmas(t *testing.T, db *store.DB, names ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	got := map[string]string{}
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		for _, p := range names {
			var v string
			if err := tx.QueryRowContext(ctx, "PRAGMA "+p).Scan(&v); err != nil {
				return err
			}
			got[p] = v
		}
		return nil
	}))
	return got
}

// TestOpenSetsPragmas checks the settings every connection relies on: WAL,
// durable commits, foreign keys and no automatic checkpoint on the writer
// (checkpoint.go), and statement journals in
// memory on both pools (with temp_store=FILE a 1M-event ingest wrote 9 GB of
// temporary files).
func TestOpenSetsPragmas(t *testing.T) {
	dbtest.SQLiteOnly(t, "SQLite's pragmas")
	ctx := context.Background()
	db := MustOpen(t)
	assert.Equal(t, map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1",
		"temp_store": "2", "busy_timeout": "10000", "wal_autocheckpoint": "0", "journal_size_limit": "134217728"},
		writerPragmas(t, db, "journal_mode", "synchronous", "foreign_keys", "temp_store", "busy_timeout",
			"wal_autocheckpoint", "journal_size_limit"))

	var mode, temp string
	require.NoError(t, db.Reader().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
	require.NoError(t, db.Reader().QueryRowContext(ctx, "PRAGMA temp_store").Scan(&temp))
	assert.Equal(t, "wal", mode)
	assert.Equal(t, "2", temp)
}

// TestOpenRefusesForeignFiles checks that Open, which writes, refuses a
// file that is not an amtrack database before changing anything in it, and
// that MustExist refuses a missing path without creating it.
func TestOpenRefusesForeignFiles(t *testing.T) {
	dbtest.SQLiteOnly(t, "files that are not SQLite databases; TestOpenRefusesForeignSchema is PostgreSQL's")
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
		msg   string
	}{
		{"text file", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte("name,value\na,1\n"), 0o644))
		}, "is not an SQLite database"},
		{"another application's database", func(t *testing.T, path string) {
			conn, err := sql.Open("sqlite3", path)
			require.NoError(t, err)
			defer conn.Close()
			_, err = conn.ExecContext(ctx, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`)
			require.NoError(t, err)
		}, "another application (tables notes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.db")
			tt.setup(t, path)
			before, err := os.ReadFile(path)
			require.NoError(t, err)
			_, err = store.Open(ctx, path, store.Options{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.msg)
			assert.Equal(t, domain.EInvalid, domain.ErrorCode(err))
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, before, after)
			assert.NoFileExists(t, path+"-wal")
		})
	}

	t.Run("must exist", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a.db")
		_, err := store.Open(ctx, path, store.Options{MustExist: true})
		require.Error(t, err)
		assert.Equal(t, domain.ENotFound, domain.ErrorCode(err))
		assert.Contains(t, err.Error(), "no database at "+path)
		assert.NoFileExists(t, path)
	})
}

// TestOpenRefusesForeignSchema is TestOpenRefusesForeignFiles on
// PostgreSQL: Open refuses a schema holding another application's tables
// before creating anything in it, and MustExist refuses an empty schema
// without creating the log.
func TestOpenRefusesForeignSchema(t *testing.T) {
	ctx := context.Background()
	base := dbtest.PostgresURL(t)
	tables := func(target string) []string {
		t.Helper()
		var names []string
		rows, err := dbtest.Raw(t, target).QueryContext(ctx,
			`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var n string
			require.NoError(t, rows.Scan(&n))
			names = append(names, n)
		}
		require.NoError(t, rows.Err())
		return names
	}

	t.Run("another application's schema", func(t *testing.T) {
		target := dbtest.NewSchema(t, base)
		dbtest.Exec(t, target, `CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT)`)
		_, err := store.Open(ctx, target, store.Options{Keyring: dbtest.Keyring(t, target)})
		require.Error(t, err)
		assert.Equal(t, domain.EInvalid, domain.ErrorCode(err))
		assert.Contains(t, err.Error(), "holds another application's tables (notes), not an amtrack log")
		assert.Equal(t, []string{"notes"}, tables(target))
	})
	t.Run("must exist", func(t *testing.T) {
		target := dbtest.NewSchema(t, base)
		_, err := store.Open(ctx, target, store.Options{MustExist: true, Keyring: dbtest.Keyring(t, target)})
		require.Error(t, err)
		assert.Equal(t, domain.ENotFound, domain.ErrorCode(err))
		assert.Contains(t, err.Error(), "no amtrack log in the PostgreSQL database "+store.Redact(target))
		assert.Empty(t, tables(target))
	})
}

// fingerprint is what a read only open must leave as it was: the database
// file's bytes on SQLite; on PostgreSQL the schema's tables and the count
// of write transactions (writer_epoch, which every write transaction of
// amtrack adds to).
func fingerprint(t *testing.T, target string) string {
	t.Helper()
	if !dbtest.IsPostgres(target) {
		b, err := os.ReadFile(target)
		require.NoError(t, err)
		return string(b)
	}
	var tables string
	var epoch int64
	raw := dbtest.Raw(t, target)
	require.NoError(t, raw.QueryRow(`SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables
		WHERE table_schema = current_schema()`).Scan(&tables))
	require.NoError(t, raw.QueryRow(`SELECT n FROM writer_epoch`).Scan(&epoch))
	return fmt.Sprintf("tables %s, %d write transactions", tables, epoch)
}

// TestOpenReadOnly checks that a read-only DB reads the log, refuses
// writes, and leaves the database as it was.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	db, err := store.Open(ctx, target, store.Options{Keyring: dbtest.Keyring(t, target)})
	require.NoError(t, err)
	_, err = db.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(1, "created", ""))), nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	before := fingerprint(t, target)

	ro, err := store.OpenReadOnly(ctx, target)
	require.NoError(t, err)
	seq, n, err := ro.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, [2]int64{1, 1}, [2]int64{seq, n})
	_, err = ro.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(2, "created", ""))), nil)
	assert.ErrorContains(t, err, "read only")
	_, err = ro.Reader().ExecContext(ctx, `CREATE TABLE x (a INTEGER)`)
	// Refused as a write, not for its syntax.
	assert.ErrorContains(t, err, dbtest.ByEngine(target, "readonly database", "read-only transaction"), "the reader must not write")
	require.NoError(t, ro.Close())

	assert.Equal(t, before, fingerprint(t, target))
}

// TestCanceledMidStatement: a read or write whose context ends while a
// statement runs fails with the context's error, on either engine (pgx
// breaks the connection on a cancel, which database/sql reports as
// driver.ErrBadConn; the write path once mapped that to unavailable), and
// the handle serves the next call.
func TestCanceledMidStatement(t *testing.T) {
	db := MustOpen(t)
	// Long enough to be mid-statement at the cancel on any machine, and
	// cancelled long before it ends.
	const long = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c`
	run := map[string]func(ctx context.Context) error{
		"view": func(ctx context.Context) error {
			return db.View(ctx, func(s *store.Snapshot) error {
				var n int64
				return s.QueryRowContext(ctx, long).Scan(&n)
			})
		},
		"update": func(ctx context.Context) error {
			return db.Update(ctx, func(tx *store.Tx) error {
				var n int64
				return tx.QueryRowContext(ctx, long).Scan(&n)
			})
		},
	}
	for name, fn := range run {
		t.Run(name, func(t *testing.T) {
			for range 3 {
				ctx, cancel := context.WithCancel(context.Background())
				timer := time.AfterFunc(100*time.Millisecond, cancel)
				err := fn(ctx)
				timer.Stop()
				cancel()
				require.ErrorIs(t, err, context.Canceled)
				_, _, err = db.Head(context.Background())
				require.NoError(t, err, "the handle serves the next call")
			}
		})
	}
}

// TestCanceledAnywhere cancels short reads and writes, and the reads an API
// request makes, at staggered moments, so that some land in BEGIN, some in
// a statement and some between them: whatever failed, each says
// context.Canceled (on PostgreSQL a cut connection said "bad connection").
func TestCanceledAnywhere(t *testing.T) {
	db := MustOpen(t)
	var batch []store.Pending
	for _, raw := range testutil.First(t, 50, 3) {
		e, err := domain.ParseEvent(raw)
		require.NoError(t, err)
		batch = append(batch, store.Pending{Event: e, Source: store.SourceFile})
	}
	_, err := db.Append(context.Background(), batch, nil)
	require.NoError(t, err)
	var first *domain.Event // a method's event
	for _, p := range batch {
		if first == nil && p.Event.AccessMethodID != (domain.ID{}) {
			first = p.Event
		}
	}
	require.NotNil(t, first)
	stream, err := db.Log().Stream(context.Background(), store.KindMethod, first.AccessMethodID)
	require.NoError(t, err)
	ops := map[string]func(ctx context.Context) error{
		"view": func(ctx context.Context) error {
			return db.View(ctx, func(s *store.Snapshot) error {
				_, _, err := s.Log().Head(ctx)
				return err
			})
		},
		"update": func(ctx context.Context) error {
			return db.Update(ctx, func(tx *store.Tx) error {
				_, _, err := tx.Log().Head(ctx)
				return err
			})
		},
		"log": func(ctx context.Context) error {
			_, err := db.Log().LastSeq(ctx)
			return err
		},
		// The reads of a request.
		"event": func(ctx context.Context) error {
			_, err := db.Log().Event(ctx, first.ID)
			return err
		},
		"events": func(ctx context.Context) error {
			_, err := db.Log().Events(ctx, store.EventFilter{Limit: 20})
			return err
		},
		"history": func(ctx context.Context) error {
			_, err := db.Log().MethodEvents(ctx, first.AccessMethodID, store.HistoryFilter{})
			return err
		},
		"stream": func(ctx context.Context) error {
			_, err := db.Log().Stream(ctx, store.KindMethod, first.AccessMethodID)
			return err
		},
		"fold events": func(ctx context.Context) error {
			_, err := db.Log().FoldEvents(ctx, stream, nil)
			return err
		},
		"chain head": func(ctx context.Context) error {
			_, err := db.Log().ChainHead(ctx)
			return err
		},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			canceled := 0
			for i := range 600 {
				ctx, cancel := context.WithCancel(context.Background())
				if i%100 == 0 { // some canceled before the call, for the reads too quick to be cut
					cancel()
				}
				timer := time.AfterFunc(time.Duration(i%60)*time.Duration(i%60)*5*time.Microsecond, cancel)
				err := op(ctx)
				timer.Stop()
				cancel()
				if err != nil {
					require.ErrorIs(t, err, context.Canceled, "attempt %d", i)
					canceled++
				}
			}
			t.Logf("%d of 600 canceled", canceled)
			assert.Positive(t, canceled, "no cancel landed before its call ended: the test tested nothing")
		})
	}
}

// TestShortStatements checks Tx.Short: a context that has ended is refused
// before the statement; on SQLite a live one is handed on without its
// cancellation, so that the driver runs the statement without a goroutine
// watching the context (as many allocations as with a context that cannot
// end: with ctx itself there were more); on PostgreSQL ctx is handed on.
func TestShortStatements(t *testing.T) {
	db := MustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		short, err := tx.Short(ctx)
		require.NoError(t, err)
		if tx.Engine() == store.Postgres {
			assert.Equal(t, ctx, short)
			return nil
		}
		assert.Nil(t, short.Done(), "a short statement's context on SQLite cannot end")
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE short_test (n INTEGER)`); err != nil {
			return err
		}
		insert := func(c context.Context) func() {
			return func() {
				_, err := tx.ExecContext(c, `INSERT INTO short_test (n) VALUES (?)`, 300)
				require.NoError(t, err)
			}
		}
		watched := testing.AllocsPerRun(200, insert(ctx))
		unwatched := testing.AllocsPerRun(200, insert(context.Background()))
		viaShort := testing.AllocsPerRun(200, insert(short))
		assert.Greater(t, watched, unwatched, "the driver watches a context that can end (else Short buys nothing)")
		assert.Equal(t, unwatched, viaShort)
		return nil
	}))
	cancel()
	require.NoError(t, db.Update(context.Background(), func(tx *store.Tx) error {
		_, err := tx.Short(ctx)
		assert.ErrorIs(t, err, context.Canceled)
		return nil
	}))
}

// TestReadRow checks DB.ReadRow: it reads a row, refuses a context that has
// ended, and gives up waiting for a connection of the read pool when ctx
// ends (every connection held here), rather than waiting for ever with a
// context that cannot end.
func TestReadRow(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	var n int
	require.NoError(t, db.ReadRow(ctx, []any{&n}, `SELECT 1 + ?`, 41))
	assert.Equal(t, 42, n)
	assert.ErrorIs(t, db.ReadRow(ctx, []any{&n}, `SELECT 1 WHERE 0 = ?`, 1), sql.ErrNoRows)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, db.ReadRow(canceled, []any{&n}, `SELECT 1`), context.Canceled)

	var held []*sql.Conn
	for range 64 {
		c, err := db.Reader().Conn(ctx)
		require.NoError(t, err)
		held = append(held, c)
		if db.Reader().Stats().OpenConnections == db.Reader().Stats().MaxOpenConnections {
			break
		}
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, db.ReadRow(short, []any{&n}, `SELECT 1`), context.DeadlineExceeded)
	for _, c := range held {
		c.Close()
	}
	require.NoError(t, db.ReadRow(ctx, []any{&n}, `SELECT 7`))
	assert.Equal(t, 7, n)
}

// TestUpdateSpilling: on SQLite the writer keeps its temporary files in
// memory, but for the length of an UpdateSpilling, whose sorts spill to
// disk and whose page cache is cut; its writes commit as Update's do, and
// a failed one changes nothing and still restores the settings.
func TestUpdateSpilling(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	tempStore := func(tx *store.Tx) int {
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&n))
		return n
	}
	cacheSize := func(tx *store.Tx) int {
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&n))
		return n
	}
	const file, memory = 1, 2
	const spilling, writer = -8 * 1024, -64 * 1024 // KiB: the writer's default 64 MiB
	sqlite := db.Engine() != store.Postgres
	require.NoError(t, db.UpdateSpilling(ctx, func(tx *store.Tx) error {
		if sqlite {
			assert.Equal(t, file, tempStore(tx))
			assert.Equal(t, spilling, cacheSize(tx), "the page cache, and with it the sorter's runs, is cut")
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE spill_test (x INTEGER NOT NULL)`)
		return err
	}))
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		if sqlite {
			assert.Equal(t, memory, tempStore(tx), "restored after a commit")
			assert.Equal(t, writer, cacheSize(tx), "restored after a commit")
		}
		return nil
	}))
	assert.ErrorContains(t, db.UpdateSpilling(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO spill_test (x) VALUES (1)`); err != nil {
			return err
		}
		return errors.New("no")
	}), "no")
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		if sqlite {
			assert.Equal(t, memory, tempStore(tx), "restored after a rollback")
			assert.Equal(t, writer, cacheSize(tx), "restored after a rollback")
		}
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, `SELECT count(*) FROM spill_test`).Scan(&n))
		assert.Zero(t, n, "the failed transaction wrote nothing")
		return nil
	}))
}

// TestCutCache: a transaction's CutCache cuts the writer's page cache for
// the rest of it; the writer has its own back after a commit and after a
// rollback (SQLite; nothing on PostgreSQL).
func TestCutCache(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	sqlite := db.Engine() != store.Postgres
	cacheSize := func(tx *store.Tx) int {
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&n))
		return n
	}
	const cut, writer = -8 * 1024, -64 * 1024 // KiB: the writer's default 64 MiB
	for _, fail := range []bool{false, true} {
		err := db.Update(ctx, func(tx *store.Tx) error {
			if sqlite {
				assert.Equal(t, writer, cacheSize(tx), "before the cut")
			}
			require.NoError(t, tx.CutCache(ctx))
			if sqlite {
				assert.Equal(t, cut, cacheSize(tx), "after the cut, in the transaction")
			}
			if fail {
				return errors.New("no")
			}
			return nil
		})
		if fail {
			require.ErrorContains(t, err, "no")
		} else {
			require.NoError(t, err)
		}
		require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
			if sqlite {
				assert.Equal(t, writer, cacheSize(tx), "restored after the transaction (failed: %v)", fail)
			}
			return nil
		}))
	}
}

// TestWriterSettingsSurviveACanceledStatement: a write whose statement is
// interrupted by its context ending makes database/sql replace the writer
// connection; the new one has the settings Open gave the first (the WAL's
// automatic checkpoint off and size limit), not SQLite's defaults (1000 pages, no limit).
func TestWriterSettingsSurviveACanceledStatement(t *testing.T) {
	dbtest.SQLiteOnly(t, "the pragmas are SQLite's")
	db := MustOpen(t)
	ctx := context.Background()
	settings := func() []int64 {
		var checkpoint, limit int64
		require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
			if err := tx.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&checkpoint); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, `PRAGMA journal_size_limit`).Scan(&limit)
		}))
		return []int64{checkpoint, limit}
	}
	want := settings()
	require.Equal(t, []int64{0, 2 * 16384 * 4096}, want)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := db.Update(short, func(tx *store.Tx) error {
		var n int64
		return tx.QueryRowContext(short, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c`).Scan(&n)
	})
	require.Error(t, err)
	assert.Equal(t, want, settings())
}
