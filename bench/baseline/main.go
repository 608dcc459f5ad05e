// Command baseline is the floor under each figure of bench/speed.sh: the
// least a program can do with the same inputs on the same machine, so that
// amtrack's figures read as ratios against something measured in the same
// sitting rather than as absolute numbers that depend on the hardware.
//
//	baseline insert -db PATH -in EVENTS.jsonl [-txn 10000]
//	baseline replay -from AMTRACK.db -db PATH [-txn 10000] [-indexes during|after]
//	                [-via driver|raw|sql] [-events columns|packed] [-payload raw|deflate]
//	baseline scan -db PATH
//	baseline serve -addr 127.0.0.1:PORT
//
// insert is the raw SQLite floor of `amtrack ingest`: one table, one unique
// index, the lines stored as they are. scan is the floor of `amtrack
// rebuild`: read every payload in order and decode it. serve is the floor
// of a GET: net/http answering a fixed body. replay is the floor of
// amtrack's file format: it writes the rows of a database amtrack made
// into a fresh file with the same schema, with no work but SQLite's. None of them validates,
// seals, chains, projects or logs anything; that is amtrack's work and
// what the ratios show the price of.
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "insert":
		err = runInsert(os.Args[2:])
	case "replay":
		err = runReplay(os.Args[2:])
	case "scan":
		err = runScan(os.Args[2:])
	case "serve":
		err = runServe(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline "+os.Args[1]+":", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: baseline insert -db PATH -in EVENTS.jsonl [-txn 10000] [-method-index none|during|after]\n       baseline replay -from AMTRACK.db -db PATH [-txn 10000] [-indexes during|after]\n       baseline scan -db PATH\n       baseline serve -addr 127.0.0.1:PORT")
	os.Exit(2)
}

// rowsPerInsert is the rows of one multi-row INSERT: enough that the
// per-statement cost of database/sql and the driver is small beside
// SQLite's, few enough that the statement's 64 parameters are cheap to
// bind.
const rowsPerInsert = 32

func runInsert(args []string) error {
	fs := flag.NewFlagSet("insert", flag.ExitOnError)
	dbPath := fs.String("db", "", "the SQLite file to create (an existing one is removed first)")
	in := fs.String("in", "", "the JSON Lines file of events, one event a line")
	txn := fs.Int("txn", 10000, "rows a transaction")
	cache := fs.Int("cache", 64, "the page cache in MiB")
	appendTo := fs.Bool("append", false, "append to the table of an existing -db instead of creating it afresh (a log that grows file by file)")
	methodIndex := fs.String("method-index", "none", "an index on each row's access_method_id (a log that can find a method's events): none, during (kept up to date by every INSERT) or after (built once the rows are in)")
	_ = fs.Parse(args)
	if *dbPath == "" || *in == "" || *txn < 1 || *cache < 1 {
		return errors.New("need -db, -in, -txn >= 1 and -cache >= 1")
	}
	switch *methodIndex {
	case "none", "during", "after":
	default:
		return errors.New("-method-index is none, during or after")
	}
	withMethod := *methodIndex != "none"
	if withMethod && *appendTo {
		return errors.New("-method-index is not for -append")
	}
	start := time.Now()
	if !*appendTo {
		if err := removeDB(*dbPath); err != nil {
			return err
		}
	}
	// amtrack's writer (store/db.go) is WAL with synchronous=FULL (an
	// acknowledged append survives power loss) and a 64 MiB page cache.
	// The floor takes NORMAL, which in WAL mode syncs only at checkpoints:
	// with a commit every -txn rows the two differ by a few fsyncs, and a
	// floor should not be handicapped. The cache is the writer's default
	// (64 MiB), so the unique index stays in memory as long as amtrack's
	// indexes do; amtrack ingest runs with 32 MiB, which -cache 32 matches.
	db, err := openWriter(*dbPath, *cache)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	// The method column is there only with -method-index, so that the
	// floor's rows stay as they were.
	methodCol := ""
	if withMethod {
		methodCol = ",\n\t\tmethod_id BLOB"
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS events (
		seq INTEGER PRIMARY KEY,
		event_id BLOB NOT NULL UNIQUE,
		payload BLOB NOT NULL`+methodCol+`)`); err != nil {
		return err
	}
	const methodIndexDDL = `CREATE INDEX events_method ON events (method_id)`
	if *methodIndex == "during" {
		if _, err := db.ExecContext(ctx, methodIndexDDL); err != nil {
			return err
		}
	}

	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16<<20)

	cols := []string{"event_id", "payload"}
	if withMethod {
		cols = append(cols, "method_id")
	}
	w := newInserter(ctx, &sqlWriter{db: db}, *txn, "events", cols...)
	defer w.close()
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		id, err := eventID(b)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", *in, line, err)
		}
		var method []byte
		if withMethod {
			if method, err = methodID(b); err != nil {
				return fmt.Errorf("%s:%d: %w", *in, line, err)
			}
		}
		vals := []any{w.keep(id[:]), w.keep(b)}
		if withMethod {
			vals = append(vals, w.keep(method))
		}
		if err := w.add(vals...); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if err := w.finish(); err != nil {
		return err
	}
	if *methodIndex == "after" {
		if _, err := db.ExecContext(ctx, methodIndexDDL); err != nil {
			return err
		}
	}
	if err := db.Close(); err != nil {
		return err
	}
	report("inserted", w.total, time.Since(start))
	return nil
}

// inserter batches rows of one table into multi-row INSERTs inside
// transactions of txnRows rows. A batch is flushed when it has
// rowsPerInsert rows or when it completes the transaction, so -txn need
// not be a multiple of 32.
type inserter struct {
	ctx     context.Context
	db      writer
	txnRows int
	table   string   // quoted as it is
	cols    []string // the columns each row gives, in order
	// stmts are the open transaction's INSERT statements by their row
	// count, prepared on it: with one connection, which the transaction
	// holds, a statement prepared on db would wait for it forever.
	stmts map[int]stmt

	open  bool  // a transaction is open
	inTx  int   // rows in the open transaction, flushed or not
	args  []any // the batch's parameters, len(cols) a row
	arena []byte
	total int
}

func newInserter(ctx context.Context, db writer, txnRows int, table string, cols ...string) *inserter {
	return &inserter{ctx: ctx, db: db, txnRows: txnRows, table: table, cols: cols, stmts: map[int]stmt{}}
}

// keep copies b into the batch's arena and returns the copy: the scanner
// reuses its buffer, and the driver copies bound blobs (SQLITE_TRANSIENT),
// so the arena is reused by the next batch. nil stays nil (NULL).
func (w *inserter) keep(b []byte) any {
	if b == nil {
		return nil
	}
	at := len(w.arena)
	w.arena = append(w.arena, b...)
	return w.arena[at:len(w.arena):len(w.arena)]
}

// add queues a row of len(cols) values.
func (w *inserter) add(vals ...any) error {
	if len(vals) != len(w.cols) {
		return fmt.Errorf("%s: a row of %d values for %d columns", w.table, len(vals), len(w.cols))
	}
	if !w.open {
		if err := w.db.begin(w.ctx); err != nil {
			return err
		}
		w.open = true
	}
	w.args = append(w.args, vals...)
	w.inTx++
	if len(w.args)/len(w.cols) == rowsPerInsert || w.inTx == w.txnRows {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if w.inTx == w.txnRows {
		return w.commit()
	}
	return nil
}

func (w *inserter) flush() error {
	n := len(w.args) / len(w.cols)
	if n == 0 {
		return nil
	}
	st, ok := w.stmts[n]
	if !ok {
		var err error
		row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(w.cols)), ", ") + "), "
		q := "INSERT INTO " + w.table + " (" + strings.Join(w.cols, ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(row, n), ", ")
		if st, err = w.db.prepare(w.ctx, q); err != nil {
			return err
		}
		w.stmts[n] = st
	}
	if err := st.exec(w.ctx, w.args); err != nil {
		return err
	}
	w.total += n
	clear(w.args) // let the values go
	w.args = w.args[:0]
	w.arena = w.arena[:0]
	return nil
}

// commit ends the transaction, and with it its statements (a commit
// every -txn rows: preparing two statements again is nothing beside it).
func (w *inserter) commit() error {
	w.closeStmts()
	err := w.db.commit()
	w.open, w.inTx = false, 0
	return err
}

func (w *inserter) closeStmts() {
	for _, st := range w.stmts {
		st.close()
	}
	clear(w.stmts)
}

func (w *inserter) finish() error {
	if !w.open {
		return nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	return w.commit()
}

func (w *inserter) close() {
	if w.open {
		w.closeStmts()
		w.db.rollback()
		w.open = false
	}
}

// idKey is how the event id starts in the lines amtrack generate (and
// Seam) write: compact JSON, event_id a top-level string.
var idKey = []byte(`"event_id":"`)

// eventID returns the 16 bytes of the line's event_id UUID. It scans for
// the key instead of decoding the line: amtrack's ingest decodes and
// validates every event, and that is part of what the ratio is to price,
// so the floor must not pay for it too. A line whose event_id is not
// written the compact way (space after the colon, escapes) falls back to
// encoding/json, so the scan never guesses wrong, only slower.
func eventID(line []byte) ([16]byte, error) {
	if id, ok := keyedUUID(line, idKey); ok {
		return id, nil
	}
	var e struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return [16]byte{}, err
	}
	return parseUUID([]byte(e.EventID))
}

// keyedUUID reads the UUID string that follows key (`"name":"`) in line,
// written the compact way; ok is false when it is not there so written.
func keyedUUID(line, key []byte) (id [16]byte, ok bool) {
	i := bytes.Index(line, key)
	if i < 0 || len(line) < i+len(key)+37 || line[i+len(key)+36] != '"' {
		return id, false
	}
	id, err := parseUUID(line[i+len(key) : i+len(key)+36])
	return id, err == nil
}

// methodKey is how a method event's access_method_id starts.
var methodKey = []byte(`"access_method_id":"`)

// methodID returns the 16 bytes of the line's access_method_id, or nil
// when it has none (an access_grant event), scanning as eventID does.
func methodID(line []byte) ([]byte, error) {
	if !bytes.Contains(line, methodKey[:len(methodKey)-2]) {
		return nil, nil // no decode for what has no key (the floor without the index decodes nothing)
	}
	if id, ok := keyedUUID(line, methodKey); ok {
		return id[:], nil
	}
	var e struct {
		AccessMethodID *string `json:"access_method_id"`
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return nil, err
	}
	if e.AccessMethodID == nil {
		return nil, nil
	}
	id, err := parseUUID([]byte(*e.AccessMethodID))
	return id[:], err
}

// parseUUID reads the canonical 8-4-4-4-12 hex form.
func parseUUID(s []byte) ([16]byte, error) {
	var id [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, fmt.Errorf("event_id %q is not a UUID", s)
	}
	var hexDigits [32]byte
	n := 0
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		hexDigits[n] = c
		n++
	}
	if _, err := hex.Decode(id[:], hexDigits[:]); err != nil {
		return id, fmt.Errorf("event_id %q is not a UUID", s)
	}
	return id, nil
}

// accessEvent has the fields of a Seam access-method event that amtrack's
// fold reads; decoding into it is the least a rebuild must do per event.
type accessEvent struct {
	EventID        string   `json:"event_id"`
	EventType      string   `json:"event_type"`
	WorkspaceID    string   `json:"workspace_id"`
	AccessMethodID string   `json:"access_method_id"`
	AccessGrantIDs []string `json:"access_grant_ids"`
	AccessGrantID  string   `json:"access_grant_id"`
	Mode           string   `json:"mode"`
	Code           string   `json:"code"`
	IsBackupCode   *bool    `json:"is_backup_code"`
	CreatedAt      string   `json:"created_at"`
	OccurredAt     string   `json:"occurred_at"`
}

func runScan(args []string) error {
	fs := flag.NewFlagSet("scan", flag.ExitOnError)
	dbPath := fs.String("db", "", "a database made by baseline insert")
	_ = fs.Parse(args)
	if *dbPath == "" {
		return errors.New("need -db")
	}
	start := time.Now()
	db, err := openReader(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), "SELECT payload FROM events ORDER BY seq")
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		// RawBytes points into the driver's row, valid until Next: the
		// decode needs no copy of its own.
		var payload sql.RawBytes
		if err := rows.Scan(&payload); err != nil {
			return err
		}
		var e accessEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			return fmt.Errorf("row %d: %w", n+1, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	report("scanned", n, time.Since(start))
	return nil
}

// methodBody is what the floor of a GET answers: an access method of about
// 600 bytes, compact (amtrack's answer has more fields and is indented,
// about 1 KB; at these sizes the bytes on a loopback socket cost little
// beside the per-request work).
var methodBody = []byte(`{"access_method":{"access_method_id":"4984a1ed-afe1-4678-8afb-56acd8245c90",` +
	`"workspace_id":"3f782963-1da0-4787-a4b5-77a4d41bdf07","status":"issued","is_issued":true,"mode":null,` +
	`"code":null,"is_backup_code":null,` +
	`"access_grant_ids":["c8ee4578-7c19-4478-8b77-835e34067707"],"access_grant_keys":["booking-72910"],` +
	`"created_at":"2026-01-05T08:00:00.182Z","issued_at":"2026-01-05T08:00:19.355Z","revoked_at":null,` +
	`"deleted_at":null,"issue_count":1,"reissue_count":0,"revoke_count":0,"warnings":[],"errors":[],` +
	`"last_event":{"event_id":"6a9f44fe-4443-41c3-9e11-2e7e7bb32702","event_type":"access_method.issued"},` +
	`"version":2}}` + "\n")

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "the address to listen on, host:port (port 0: any free one)")
	_ = fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	length := strconv.Itoa(len(methodBody))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet {
				w.Header().Set("Allow", http.MethodGet)
				http.Error(w, "GET only", http.StatusMethodNotAllowed)
				return
			}
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Content-Length", length)
			_, _ = w.Write(methodBody)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	// The line bench/speed.sh waits for, with the port a :0 address got.
	fmt.Printf("serving on http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// removeDB removes the SQLite file path and its companions, if they exist.
func removeDB(path string) error {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// openWriter opens path (made if missing) as the floor writes it: WAL,
// synchronous=NORMAL, a page cache of cacheMiB, one connection, on which
// every statement and transaction runs, as on amtrack's single writer.
func openWriter(path string, cacheMiB int) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", "file:"+url.PathEscape(path)+"?_journal_mode=WAL&_synchronous=NORMAL&_cache_size=-"+strconv.Itoa(cacheMiB*1024))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// openReader opens the existing file path read only, with amtrack's
// reader cache (8 MiB): the floor reads a table once, in order, so the
// cache matters little either way.
func openReader(path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return sql.Open("sqlite3", "file:"+url.PathEscape(path)+"?mode=ro&_cache_size=-8192")
}

// report prints the one line each subcommand ends with.
func report(verb string, n int, d time.Duration) {
	s := d.Seconds()
	rate := 0.0
	if s > 0 {
		rate = float64(n) / s
	}
	fmt.Printf("%s %d rows in %.3f s (%.0f rows/s)\n", verb, n, s, rate)
}
