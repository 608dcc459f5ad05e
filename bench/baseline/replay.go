package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// replayChunk is the rows the reader hands the writer at a time.
const replayChunk = 1000

// schemaItem is one CREATE statement of the source's schema.
type schemaItem struct {
	kind, name, sql string
}

// replayRows is a chunk of one table's rows, in the source's order.
type replayRows struct {
	table int // index in the tables list
	rows  [][]any
}

// runReplay writes every row of a database amtrack made into a fresh file
// with the same schema, through the same driver and multi-row INSERTs as
// insert, -txn rows a transaction, one table after the other (each in its
// stored order, which is the kindest to SQLite's page cache). It is the
// floor of amtrack's file format: what SQLite alone pays to write the rows
// amtrack writes (the log's 21 columns under its indexes, the grant links,
// the hash chain, the stream numbers, the data keys and the read model),
// with every value already computed. -indexes after builds the non-unique
// indexes once the rows are in, as a bulk load could; unique indexes are
// always kept up to date (a log dedupes each event on append). -via raw
// binds the same values below database/sql, on the driver's connection. -via sql
// copies inside SQLite (INSERT ... SELECT from the attached source), which
// no Go program writing its own values can match: the floor under the
// floor, without the driver's binding of every value. The floor is kind
// to itself where amtrack may not be: synchronous=NORMAL (amtrack's
// default is FULL), foreign keys not checked (amtrack checks the log's),
// each table written whole before the next (amtrack interleaves them).
// -events packed and -payload deflate write the events table as two other
// designs of its row would (see reshape).
func runReplay(args []string) error {
	fs := flag.NewFlagSet("replay", flag.ExitOnError)
	from := fs.String("from", "", "a database amtrack made (read only)")
	dbPath := fs.String("db", "", "the SQLite file to create (an existing one is removed first)")
	txn := fs.Int("txn", 10000, "rows a transaction")
	cache := fs.Int("cache", 32, "the page cache in MiB (amtrack ingest's is 32)")
	indexes := fs.String("indexes", "during", "when the non-unique indexes are built: during (kept up to date by every INSERT) or after (once the rows are in)")
	checkpoint := fs.Int("checkpoint", 65536, "SQLite's automatic checkpoint every this many WAL pages, in the commit that passes it (0: none until the close); amtrack checkpoints every 65,536 for ingest, beside its writer")
	via := fs.String("via", "driver", "how the rows are written: driver (read in Go, bound to multi-row INSERTs through database/sql, as a Go program writes them), raw (the same below database/sql, on the driver's own connection) or sql (INSERT ... SELECT from the attached source inside SQLite: no Go, no binding, SQLite's work alone)")
	events := fs.String("events", "columns", "the events table's row: columns (as amtrack writes it) or packed (the columns no index or fold order needs packed into one blob, fields, by the reader: a leaner row with the same bytes)")
	payload := fs.String("payload", "raw", "the events' payload: raw (as amtrack stores it) or deflate (compressed by the reader, with a preset dictionary of the source's first payloads)")
	_ = fs.Parse(args)
	if *from == "" || *dbPath == "" || *txn < 1 || *cache < 1 {
		return errors.New("need -from, -db, -txn >= 1 and -cache >= 1")
	}
	if *indexes != "during" && *indexes != "after" {
		return errors.New("-indexes is during or after")
	}
	if *via != "driver" && *via != "raw" && *via != "sql" {
		return errors.New("-via is driver, raw or sql")
	}
	if *checkpoint < 0 {
		return errors.New("-checkpoint is 0 or more")
	}
	if *events != "columns" && *events != "packed" {
		return errors.New("-events is columns or packed")
	}
	if *payload != "raw" && *payload != "deflate" {
		return errors.New("-payload is raw or deflate")
	}
	if *via == "sql" && (*events != "columns" || *payload != "raw") {
		return errors.New("-via sql copies the rows as they are: -events packed and -payload deflate need -via driver or raw")
	}
	ctx := context.Background()
	src, err := openReader(*from)
	if err != nil {
		return err
	}
	defer src.Close()
	schema, tables, err := readSchema(ctx, src)
	if err != nil {
		return err
	}
	var reshaped *reshape
	if *events == "packed" || *payload == "deflate" {
		if reshaped, err = newReshape(ctx, src, schema, tables, *events == "packed", *payload == "deflate"); err != nil {
			return err
		}
	}

	start := time.Now()
	if err := removeDB(*dbPath); err != nil {
		return err
	}
	db, err := openWriter(*dbPath, *cache)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `PRAGMA wal_autocheckpoint = `+strconv.Itoa(*checkpoint)); err != nil {
		return err
	}
	var later []string
	for _, it := range schema {
		deferred := it.kind == "index" && *indexes == "after" && !strings.HasPrefix(strings.ToUpper(it.sql), "CREATE UNIQUE")
		if deferred {
			later = append(later, it.sql)
			continue
		}
		if _, err := db.ExecContext(ctx, it.sql); err != nil {
			return fmt.Errorf("%s %s: %w", it.kind, it.name, err)
		}
	}

	var c copied
	switch *via {
	case "sql":
		c, err = copyInSQLite(ctx, db, *from, tables, *txn)
	case "raw":
		err = withRawWriter(ctx, db, func(w *rawWriter) (err error) {
			c, err = copyThroughDriver(ctx, w, src, tables, reshaped, *txn)
			return err
		})
	default:
		c, err = copyThroughDriver(ctx, &sqlWriter{db: db}, src, tables, reshaped, *txn)
	}
	if err != nil {
		return err
	}
	began := time.Now()
	for _, q := range later {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	built := time.Since(began)
	began = time.Now()
	if err := db.Close(); err != nil {
		return err
	}
	closed := time.Since(began)
	d := time.Since(start)
	// Where the time went, on stderr: each table's rows (those over 10 ms).
	var parts []string
	for i, t := range tables {
		if c.took[i] >= 10*time.Millisecond {
			parts = append(parts, fmt.Sprintf("%s %.2f s", t.name, c.took[i].Seconds()))
		}
	}
	fmt.Fprintf(os.Stderr, "rows: %s; indexes after %.2f s; close %.2f s; waited for the reader %.2f s\n",
		strings.Join(parts, ", "), built.Seconds(), closed.Seconds(), c.waited.Seconds())
	if reshaped != nil {
		fmt.Fprintln(os.Stderr, reshaped.summary())
	}
	fmt.Printf("replayed %d events (%d rows of %d tables, indexes %s, via %s, events %s, payload %s) in %.3f s (%.0f events/s)\n",
		c.events, c.rows, len(tables), *indexes, *via, *events, *payload, d.Seconds(), float64(c.events)/d.Seconds())
	return nil
}

// table is a source table and its columns.
type table struct {
	name string
	cols []string
}

func (t table) quoted() []string { return quoteAll(t.cols) }

func quoteAll(names []string) []string {
	q := make([]string, len(names))
	for i, c := range names {
		q[i] = quoteIdent(c)
	}
	return q
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// readSchema returns the source's CREATE statements in the order they were
// made (tables, then indexes, then triggers, so that every index and
// trigger finds its table) and its tables with their columns.
func readSchema(ctx context.Context, src *sql.DB) ([]schemaItem, []table, error) {
	rows, err := src.QueryContext(ctx, `SELECT type, name, sql FROM sqlite_master
		WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
		ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid`)
	if err != nil {
		return nil, nil, err
	}
	var schema []schemaItem
	for rows.Next() {
		var it schemaItem
		if err := rows.Scan(&it.kind, &it.name, &it.sql); err != nil {
			rows.Close()
			return nil, nil, err
		}
		schema = append(schema, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	var tables []table
	for _, it := range schema {
		if it.kind != "table" {
			continue
		}
		t := table{name: it.name}
		cols, err := src.QueryContext(ctx, "SELECT name FROM pragma_table_info(?) ORDER BY cid", it.name)
		if err != nil {
			return nil, nil, err
		}
		for cols.Next() {
			var c string
			if err := cols.Scan(&c); err != nil {
				cols.Close()
				return nil, nil, err
			}
			t.cols = append(t.cols, c)
		}
		cols.Close()
		if err := cols.Err(); err != nil {
			return nil, nil, err
		}
		tables = append(tables, t)
	}
	if len(tables) == 0 {
		return nil, nil, errors.New("the source has no tables")
	}
	return schema, tables, nil
}

// readTables sends every row of every table in chunks.
// A reshape, when not nil, rewrites each row of the events table.
func readTables(ctx context.Context, src *sql.DB, tables []table, re *reshape, out chan<- replayRows) error {
	for ti, t := range tables {
		rows, err := src.QueryContext(ctx, "SELECT "+strings.Join(t.quoted(), ", ")+" FROM "+quoteIdent(t.name))
		if err != nil {
			return err
		}
		chunk := replayRows{table: ti}
		for rows.Next() {
			vals := make([]any, len(t.cols))
			dest := make([]any, len(t.cols))
			for i := range vals {
				dest[i] = &vals[i] // Scan copies bytes into an *any
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return err
			}
			if re.rewrites(t.name) {
				if vals, err = re.row(vals); err != nil {
					rows.Close()
					return err
				}
			}
			chunk.rows = append(chunk.rows, vals)
			if len(chunk.rows) == replayChunk {
				select {
				case out <- chunk:
				case <-ctx.Done():
					rows.Close()
					return ctx.Err()
				}
				chunk = replayRows{table: ti}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(chunk.rows) > 0 {
			select {
			case out <- chunk:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// copied is what a copy wrote: the rows, the events table's, the time each
// table's rows took until their last commit, and the time the writer
// waited for the reader (the floor's own overhead, not SQLite's writing).
type copied struct {
	rows, events int
	took         []time.Duration
	waited       time.Duration
}

// copyThroughDriver reads the source's rows in Go on a goroutine of its
// own, as amtrack's parser runs beside its writer, and writes them through
// the driver in multi-row INSERTs, txn rows a transaction. A reshape, when
// not nil, rewrites the events table's rows on the reader's goroutine.
func copyThroughDriver(ctx context.Context, db writer, src *sql.DB, tables []table, re *reshape, txn int) (copied, error) {
	readCtx, stop := context.WithCancel(ctx)
	defer stop()
	chunks := make(chan replayRows, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		readErr <- readTables(readCtx, src, tables, re, chunks)
	}()
	var w *inserter
	defer func() {
		if w != nil {
			w.close()
		}
	}()
	cur, total, events := -1, 0, 0
	took := make([]time.Duration, len(tables)) // each table's rows, until its last commit
	began := time.Now()
	var waited time.Duration
	for {
		asked := time.Now()
		ch, ok := <-chunks
		waited += time.Since(asked)
		if !ok {
			break
		}
		if ch.table != cur {
			if w != nil {
				if err := w.finish(); err != nil {
					return copied{}, err
				}
				took[cur] = time.Since(began)
			}
			began = time.Now()
			cur = ch.table
			cols := tables[cur].quoted()
			if re.rewrites(tables[cur].name) {
				cols = quoteAll(re.cols)
			}
			w = newInserter(ctx, db, txn, quoteIdent(tables[cur].name), cols...)
		}
		for _, row := range ch.rows {
			if err := w.add(row...); err != nil {
				return copied{}, err
			}
		}
		total += len(ch.rows)
		if tables[cur].name == "events" {
			events += len(ch.rows)
		}
	}
	c := copied{rows: total, events: events, took: took, waited: waited}
	if err := <-readErr; err != nil {
		return c, err
	}
	if w != nil {
		if err := w.finish(); err != nil {
			return c, err
		}
		c.took[cur] = time.Since(began)
	}
	return c, nil
}

// copyInSQLite attaches the source and copies each table inside SQLite
// with INSERT ... SELECT, txn rows (by rowid) a transaction; a table
// without rowid in one. No value passes through Go.
func copyInSQLite(ctx context.Context, db *sql.DB, from string, tables []table, txn int) (copied, error) {
	c := copied{took: make([]time.Duration, len(tables))}
	if _, err := db.ExecContext(ctx, `ATTACH DATABASE ? AS src`, "file:"+url.PathEscape(from)+"?mode=ro"); err != nil {
		return c, fmt.Errorf("attach %s: %w", from, err)
	}
	for i, t := range tables {
		began := time.Now()
		cols := strings.Join(t.quoted(), ", ")
		q := "INSERT INTO main." + quoteIdent(t.name) + " (" + cols + ") SELECT " + cols + " FROM src." + quoteIdent(t.name)
		var lo, hi sql.NullInt64
		ranged := db.QueryRowContext(ctx, "SELECT min(rowid), max(rowid) FROM src."+quoteIdent(t.name)).Scan(&lo, &hi) == nil
		if !ranged { // WITHOUT ROWID
			lo, hi = sql.NullInt64{Valid: true}, sql.NullInt64{Valid: true}
		}
		for at := lo.Int64; lo.Valid && at <= hi.Int64; at += int64(txn) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return c, err
			}
			var res sql.Result
			if ranged {
				res, err = tx.ExecContext(ctx, q+" WHERE rowid BETWEEN ? AND ? ORDER BY rowid", at, at+int64(txn)-1)
			} else {
				res, err = tx.ExecContext(ctx, q)
			}
			if err == nil {
				err = tx.Commit()
			} else {
				_ = tx.Rollback()
			}
			if err != nil {
				return c, fmt.Errorf("copy %s: %w", t.name, err)
			}
			n, _ := res.RowsAffected()
			c.rows += int(n)
			if t.name == "events" {
				c.events += int(n)
			}
		}
		c.took[i] = time.Since(began)
	}
	_, err := db.ExecContext(ctx, `DETACH DATABASE src`)
	return c, err
}
