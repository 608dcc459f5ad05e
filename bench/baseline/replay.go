package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
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
// amtrack writes (the log's 22 columns under its indexes, the grant links,
// the hash chain, the stream numbers, the data keys and the read model),
// with every value already computed. -indexes after builds the non-unique
// indexes once the rows are in, as a bulk load could; unique indexes are
// always kept up to date (a log dedupes each event on append).
func runReplay(args []string) error {
	fs := flag.NewFlagSet("replay", flag.ExitOnError)
	from := fs.String("from", "", "a database amtrack made (read only)")
	dbPath := fs.String("db", "", "the SQLite file to create (an existing one is removed first)")
	txn := fs.Int("txn", 10000, "rows a transaction")
	cache := fs.Int("cache", 32, "the page cache in MiB (amtrack ingest's is 32)")
	indexes := fs.String("indexes", "during", "when the non-unique indexes are built: during (kept up to date by every INSERT) or after (once the rows are in)")
	_ = fs.Parse(args)
	if *from == "" || *dbPath == "" || *txn < 1 || *cache < 1 {
		return errors.New("need -from, -db, -txn >= 1 and -cache >= 1")
	}
	if *indexes != "during" && *indexes != "after" {
		return errors.New("-indexes is during or after")
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

	start := time.Now()
	if err := removeDB(*dbPath); err != nil {
		return err
	}
	db, err := openWriter(*dbPath, *cache)
	if err != nil {
		return err
	}
	defer db.Close()
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

	// The source is read on a goroutine of its own, as amtrack's parser
	// runs beside its writer.
	readCtx, stop := context.WithCancel(ctx)
	defer stop()
	chunks := make(chan replayRows, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		readErr <- readTables(readCtx, src, tables, chunks)
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
	var waited time.Duration // for the reader: the floor's own overhead, not SQLite's writing
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
					return err
				}
				took[cur] = time.Since(began)
			}
			began = time.Now()
			cur = ch.table
			w = newInserter(ctx, db, *txn, quoteIdent(tables[cur].name), tables[cur].quoted()...)
		}
		for _, row := range ch.rows {
			if err := w.add(row...); err != nil {
				return err
			}
		}
		total += len(ch.rows)
		if tables[cur].name == "events" {
			events += len(ch.rows)
		}
	}
	if err := <-readErr; err != nil {
		return err
	}
	if w != nil {
		if err := w.finish(); err != nil {
			return err
		}
		took[cur] = time.Since(began)
	}
	began = time.Now()
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
	// Where the time went, on stderr: the table's rows, biggest first.
	var parts []string
	for i, t := range tables {
		if took[i] >= 10*time.Millisecond {
			parts = append(parts, fmt.Sprintf("%s %.2f s", t.name, took[i].Seconds()))
		}
	}
	fmt.Fprintf(os.Stderr, "rows: %s; indexes after %.2f s; close %.2f s; waited for the reader %.2f s\n",
		strings.Join(parts, ", "), built.Seconds(), closed.Seconds(), waited.Seconds())
	fmt.Printf("replayed %d events (%d rows of %d tables, indexes %s) in %.3f s (%.0f events/s)\n",
		events, total, len(tables), *indexes, d.Seconds(), float64(events)/d.Seconds())
	return nil
}

// table is a source table and its columns.
type table struct {
	name string
	cols []string
}

func (t table) quoted() []string {
	q := make([]string, len(t.cols))
	for i, c := range t.cols {
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
func readTables(ctx context.Context, src *sql.DB, tables []table, out chan<- replayRows) error {
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
