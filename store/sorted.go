package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync"

	"github.com/amtrack/amtrack/domain"
)

// Reading a whole log in stream order (MethodStreams, GrantStreams: a
// rebuild, a verify). The stream indexes give that order, but a walk of one
// reads the events table through it, a page for an event or two, in an
// order that jumps back and forth within the events of the streams that
// were open at the same time. That costs little only while the whole file
// is in the operating system's cache. Otherwise each of those pages is a
// random read from the disk: a rebuild of a million events took 44 s with
// the file out of the cache against 9 s with it in, and one of ten million
// (a 12.7 GB file) had not finished after ten minutes.
//
// So on SQLite a whole-log read first copies the fold columns into the
// connection's temporary database, keyed by fold order, reading the events
// table in seq order, as it lies on the disk; then it walks the copy.
// The copy is a file SQLite deletes when the connection closes, in the
// temporary directory (SQLITE_TMPDIR, else TMPDIR, else /var/tmp, else
// /tmp), read and written through a page cache of sortedCacheKiB. With
// the file in the cache the copy costs 8-25 % (docs/performance.md), so
// when the kernel says the file is cached (mincore, resident_linux.go;
// elsewhere it always copies) a read does not copy: the methods' read is
// one query sorted by SQLite's sorter, whose runs spill to a temporary
// file in the same directory (sortScan), and the grants' walks their
// index. PostgreSQL plans such a read itself.

// sortedCacheKiB is the page cache of the copy. Its inserts land among the
// streams open at one time, a few megabytes; a bigger cache bought nothing
// measurable at a million events and costs its size in RSS.
const sortedCacheKiB = 4 * 1024

// sorted says whether a whole-log read of l goes through a sorted copy:
// on SQLite, unless the database file is in the page cache (walkResident),
// where the sorter's query and the index walk are cheaper. One Log chooses
// once, so that a rebuild's two reads and the counts its progress takes
// from the copies agree.
func (l Log) sorted() bool {
	if !l.sortScans() { // PostgreSQL, a write transaction, or WalkIndexes
		return false
	}
	if l.db.sortedReads || l.reads == nil {
		return true
	}
	l.reads.once.Do(func() { l.reads.sorted = residentShare(l.db.path) < walkResident })
	return l.reads.sorted
}

// sortScans says whether MethodStreams, when it does not copy, reads with
// SQLite's sorter (sortScan) rather than by walking events_method_stream:
// on SQLite outside a write transaction, unless Options.WalkIndexes. The
// grants' read still walks when the file is cached: a sort of the links
// joined with the events took 0.85-1.0 s at 200k events, the walk 0.74.
func (l Log) sortScans() bool {
	return l.db.engine != Postgres && l.tx == nil && l.db.path != "" && !l.db.walkIndexes
}

// readChoice is a Log's choice of how it reads a whole log.
type readChoice struct {
	once   sync.Once
	sorted bool
}

// walkResident is the share of the file's pages in the page cache from
// which a whole-log read does not copy (it sorts or walks, sortScans). At
// a million events the walk took 9.1 s with the file cached and 44 s
// without, the copy 9.8 and 11.6 s: if the cost of each grows with the
// share out of the cache, they are even at about 2 % out
// (docs/performance.md).
const walkResident = 0.98

// copyStep is one statement of a copy: a CREATE, a statement over the log
// up to maxSeq, or one over a range of seq run chunk by chunk.
type copyStep struct {
	sql  string
	args int // 0; 1: maxSeq; 2: a range (after, upTo], in chunks of sortedChunk
	// count has each chunk also count the events it read, while their
	// pages are in the cache (Log.Count would walk an index at random).
	count bool
	// rows, when set, names the tally the step's inserted rows are
	// recorded under (Log.CopiedRows).
	rows string
}

// The tallies of copyTally.
const (
	tallyEvents     = "events"
	tallyMethodRows = "method rows"
	tallyLinkRows   = "link rows"
)

// copyTally is what the sorted copies counted as they read, by maxSeq and
// name: the log's events, and the rows each copied. It keeps the tallies
// of the last tallyKeep maxSeqs, so that a verify's copies taking their
// turn between a rebuild's two do not wipe the rebuild's.
type copyTally struct {
	mu sync.Mutex
	n  map[int64]map[string]int64
}

const tallyKeep = 4

// record stores n under name for maxSeq.
func (t *copyTally) record(maxSeq int64, name string, n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[int64]map[string]int64{}
	}
	if t.n[maxSeq] == nil {
		if len(t.n) >= tallyKeep {
			oldest := maxSeq
			for k := range t.n {
				oldest = min(oldest, k)
			}
			delete(t.n, oldest)
		}
		t.n[maxSeq] = map[string]int64{}
	}
	t.n[maxSeq][name] = n
}

// get returns the tally name for maxSeq, if a copy recorded it.
func (t *copyTally) get(maxSeq int64, name string) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.n[maxSeq][name]
	return n, ok
}

// countChunk counts the events of a chunk.
const countChunk = `SELECT count(*) FROM main.events WHERE seq > ? AND seq <= ?`

// sortedChunk is the seqs one ranged copy statement reads: SQLite cannot
// always interrupt a statement when a context ends (the driver's interrupt
// is lost when it comes before the statement's first step), so a
// cancelled copy stops at the next chunk, a second or two at most.
var sortedChunk int64 = 1 << 18

// The copies: a method's events, and a grant's, in fold order. The grants'
// copy first copies the grant links keyed by seq, so that it too reads the
// events in seq order.
var (
	sortedMethods = []copyStep{
		{`CREATE TABLE temp.sorted_methods (method_stream INTEGER NOT NULL, ` + foldList + `,
			PRIMARY KEY (method_stream, occurred_at, created_at, event_id)) WITHOUT ROWID`, 0, false, ""},
		{`INSERT INTO temp.sorted_methods (method_stream, ` + foldList + `)
			SELECT method_stream, ` + foldList + ` FROM main.events NOT INDEXED
			WHERE seq > ? AND seq <= ? AND method_stream IS NOT NULL`, 2, true, tallyMethodRows},
	}
	sortedMethodsRead = `SELECT method_stream, ` + foldList + ` FROM temp.sorted_methods
		ORDER BY method_stream, occurred_at, created_at, event_id`

	sortedGrants = []copyStep{
		{`CREATE TABLE temp.sorted_links (seq INTEGER NOT NULL, grant_stream INTEGER NOT NULL,
			PRIMARY KEY (seq, grant_stream)) WITHOUT ROWID`, 0, false, ""},
		{`INSERT INTO temp.sorted_links SELECT seq, grant_stream FROM main.event_grants WHERE seq <= ?`, 1, false, ""},
		{`CREATE TABLE temp.sorted_grants (grant_stream INTEGER NOT NULL, ` + grantFoldList + `,
			PRIMARY KEY (grant_stream, occurred_at, created_at, event_id)) WITHOUT ROWID`, 0, false, ""},
		{`INSERT INTO temp.sorted_grants (grant_stream, ` + grantFoldList + `)
			SELECT l.grant_stream, ` + grantFoldListE + ` FROM main.events e NOT INDEXED CROSS JOIN temp.sorted_links l ON l.seq = e.seq
			WHERE e.seq > ? AND e.seq <= ?`, 2, false, tallyLinkRows},
	}
	sortedGrantsRead = `SELECT grant_stream, ` + grantFoldList + ` FROM temp.sorted_grants
		ORDER BY grant_stream, occurred_at, created_at, event_id`
)

// sortedLinks copies the grant links up to maxSeq for CheckLog, keyed in
// the order it reads them.
var sortedLinks = []copyStep{
	{`CREATE TABLE temp.check_links (seq INTEGER NOT NULL, grant_stream INTEGER NOT NULL, occurred_at, created_at, event_id,
		PRIMARY KEY (seq, grant_stream)) WITHOUT ROWID`, 0, false, ""},
	{`INSERT INTO temp.check_links SELECT seq, grant_stream, occurred_at, created_at, event_id
		FROM main.event_grants WHERE seq <= ?`, 1, false, ""},
}

const linkList = `seq, grant_stream, occurred_at, created_at, event_id`

// linkSource gives CheckLog the grant links in (seq, grant_stream) order.
type linkSource struct {
	rows   []*sql.Rows // read in turn
	closer []func()
}

// linkRows reads every grant link of l's snapshot in (seq, grant_stream)
// order. On SQLite, sorting them in the query would hold all of them in
// memory (every connection keeps temporary data in memory: 2 GB for ten
// million events), so the links up to the snapshot's last event come from
// a sorted copy on disk, like a fold's (sortedStreams), and only those
// beyond it, which no append makes, from the snapshot itself.
func (l Log) linkRows(ctx context.Context) (*linkSource, error) {
	src := &linkSource{}
	if !l.sorted() {
		rows, err := l.q.QueryContext(ctx, `SELECT `+linkList+` FROM event_grants ORDER BY seq, grant_stream`)
		if err != nil {
			return nil, err
		}
		src.add(rows)
		return src, nil
	}
	head, err := l.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	conn, done, err := l.copied(ctx, sortedLinks, head)
	if err != nil {
		return nil, err
	}
	src.closer = append(src.closer, done)
	copied, err := conn.QueryContext(ctx, `SELECT `+linkList+` FROM temp.check_links ORDER BY seq, grant_stream`)
	var beyond *sql.Rows
	if err == nil {
		src.add(copied)
		beyond, err = l.q.QueryContext(ctx, `SELECT `+linkList+` FROM event_grants WHERE seq > ? ORDER BY seq, grant_stream`, head)
	}
	if err != nil {
		src.close()
		return nil, err
	}
	src.add(beyond)
	return src, nil
}

func (s *linkSource) add(rows *sql.Rows) {
	s.rows = append(s.rows, rows)
	s.closer = append(s.closer, func() { rows.Close() })
}

// next returns the next link, nil after the last.
func (s *linkSource) next() (*link, error) {
	for len(s.rows) > 0 {
		rows := s.rows[0]
		if rows.Next() {
			var k link
			err := rows.Scan(&k.seq, &k.stream, &k.occurredAt, &k.createdAt, &k.eventID)
			return &k, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		s.rows = s.rows[1:]
	}
	return nil, nil
}

// close closes what the source opened, the last opened first.
func (s *linkSource) close() {
	for i := len(s.closer) - 1; i >= 0; i-- {
		s.closer[i]()
	}
	s.closer, s.rows = nil, nil
}

// sortedStreams copies the log up to maxSeq into a temporary database by
// steps, then calls fn with each stream's events read by query.
func (l Log) sortedStreams(ctx context.Context, steps []copyStep, query string, cols foldCols, maxSeq int64, fn func(stream int64, events []*domain.Event) error) error {
	conn, done, err := l.copied(ctx, steps, maxSeq)
	if err != nil {
		return err
	}
	defer done()
	return streamRows(ctx, conn, query, cols, nil, fn)
}

// copied opens a connection of its own to l's file and runs steps on it
// (sortedCopy) with maxSeq; done closes it, and with it the copy.
func (l Log) copied(ctx context.Context, steps []copyStep, maxSeq int64) (conn *sql.Conn, done func(), err error) {
	if conn, done, err = l.tempConn(ctx); err != nil {
		return nil, nil, err
	}
	if err := l.sortedCopy(ctx, conn, steps, maxSeq); err != nil {
		done()
		return nil, nil, err
	}
	return conn, done, nil
}

// tempConn opens a connection of its own to l's file that keeps its
// temporary data (a copy, a sort) in a file, not in memory as every other
// connection does (see driverName); a read-only connection may write it.
// done closes it.
func (l Log) tempConn(ctx context.Context) (conn *sql.Conn, done func(), err error) {
	pool, err := sql.Open(driverName, "file:"+url.PathEscape(l.db.path)+"?mode=ro&_busy_timeout=10000&_query_only=false&_cache_size=-2048")
	if err != nil {
		return nil, nil, fmt.Errorf("open the database for a sorted read: %w", err)
	}
	pool.SetMaxOpenConns(1)
	if conn, err = pool.Conn(ctx); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("open the database for a sorted read: %w", err)
	}
	done = func() {
		conn.Close()
		pool.Close()
	}
	for _, stmt := range []string{"PRAGMA temp_store = FILE", "PRAGMA temp.cache_size = -" + fmt.Sprint(sortedCacheKiB)} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			done()
			return nil, nil, fmt.Errorf("prepare a sorted read: %w", err)
		}
	}
	return conn, done, nil
}

// sortedMethodsScan reads the method events up to maxSeq in fold order with
// SQLite's sorter: the events table read in seq order, the rows sorted in
// runs that spill to the temporary file. With the file in the page cache it
// took 0.47-0.55 s at 200k events where the walk of events_method_stream,
// a lookup in events for each row, took 0.66 s.
var sortedMethodsScan = methodsQuery("main.events NOT INDEXED")

// sortScan calls fn with each method's events up to maxSeq, read with
// sortedMethodsScan on a connection of its own (tempConn).
func (l Log) sortScan(ctx context.Context, maxSeq int64, fn func(stream int64, events []*domain.Event) error) error {
	conn, done, err := l.tempConn(ctx)
	if err != nil {
		return err
	}
	defer done()
	return streamRows(ctx, conn, sortedMethodsScan, allFold, []any{maxSeq}, fn)
}

// sortedCopy runs steps on conn (tempConn), into its temporary database.
// One copy reads the events table at a time: two at once would have the
// disk seek between them, and the second finds in the cache what the first
// read.
func (l Log) sortedCopy(ctx context.Context, conn *sql.Conn, steps []copyStep, maxSeq int64) error {
	if err := l.db.copying.lock(ctx); err != nil {
		return fmt.Errorf("copy the log in fold order: %w", err)
	}
	defer l.db.copying.unlock()
	var rows int64 // inserted by the step
	exec := func(stmt string, args ...any) error {
		if err := ctx.Err(); err != nil { // the driver may not interrupt a statement not yet begun
			return err
		}
		sortedStepHook()
		res, err := conn.ExecContext(ctx, stmt, args...)
		if err == nil {
			var n int64
			n, err = res.RowsAffected()
			rows += n
		}
		return err
	}
	for _, step := range steps {
		var err error
		rows = 0
		switch step.args {
		case 0:
			err = exec(step.sql)
		case 1:
			err = exec(step.sql, maxSeq)
		default:
			var events int64
			for after := int64(0); after < maxSeq && err == nil; after += sortedChunk {
				upTo := min(after+sortedChunk, maxSeq)
				if err = exec(step.sql, after, upTo); err == nil && step.count {
					var n int64
					err = conn.QueryRowContext(ctx, countChunk, after, upTo).Scan(&n)
					events += n
				}
			}
			if err == nil && step.count {
				l.db.counted.record(maxSeq, tallyEvents, events)
			}
		}
		if err == nil && step.rows != "" {
			l.db.counted.record(maxSeq, step.rows, rows)
		}
		if err != nil {
			return fmt.Errorf("copy the log in fold order to a temporary database (in SQLITE_TMPDIR, TMPDIR or /var/tmp): %w", err)
		}
	}
	return nil
}

// sortedStepHook runs before each statement of a copy (tests count them).
var sortedStepHook = func() {}

// ctxMutex is a mutex whose lock gives up when a context ends. The zero
// value is unlocked.
type ctxMutex struct {
	once sync.Once
	ch   chan struct{}
}

func (m *ctxMutex) init() { m.once.Do(func() { m.ch = make(chan struct{}, 1) }) }

func (m *ctxMutex) lock(ctx context.Context) error {
	m.init()
	select {
	case m.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *ctxMutex) unlock() { <-m.ch }
