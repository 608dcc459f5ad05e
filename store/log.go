package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/amtrack/amtrack/domain"
)

// Queryer is anything that runs queries: *sql.DB, *sql.Tx, *sql.Conn, *Tx
// and *Snapshot.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var (
	_ Queryer = (*sql.DB)(nil)
	_ Queryer = (*sql.Tx)(nil)
	_ Queryer = (*sql.Conn)(nil)
	_ Queryer = (*Tx)(nil)
	_ Queryer = (*Snapshot)(nil)
)

// Log reads the event log: through the readers (DB.Log), inside a write
// transaction (Tx.Log) or in one snapshot (Snapshot.Log). It is the only
// way other packages read the log's tables.
type Log struct {
	q  Queryer
	db *DB
	tx *Tx // when reading inside a write transaction
	// reads is how this Log (and its copies) reads a whole log, chosen
	// at its first whole-log read (sorted.go).
	reads *readChoice
}

// Log reads the log through the readers, each read in its own snapshot.
func (db *DB) Log() Log { return Log{q: db.read, db: db, reads: &readChoice{}} }

// Log reads the log inside tx, seeing what tx wrote.
func (tx *Tx) Log() Log { return Log{q: tx.Tx, db: tx.db, tx: tx} }

// Log reads the log as of the snapshot.
func (s *Snapshot) Log() Log { return Log{q: s, db: s.db, reads: &readChoice{}} }

// Head returns the highest seq in the log (0 when empty) and the number of
// events, read together. Errors: internal.
func (l Log) Head(ctx context.Context) (seq, count int64, err error) {
	err = l.q.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0), count(*) FROM events`).Scan(&seq, &count)
	if err != nil {
		return 0, 0, ended(ctx, fmt.Errorf("read log head: %w", err))
	}
	return seq, count, nil
}

// Count returns the number of events up to maxSeq. A sorted read of the
// methods (sorted.go) counts them as it copies, and Count then answers
// that; otherwise SQLite walks the smallest index that holds every event,
// which on a file out of the cache is random reads. Errors: internal.
func (l Log) Count(ctx context.Context, maxSeq int64) (int64, error) {
	if n, ok := l.db.counted.get(maxSeq, tallyEvents); ok {
		return n, nil
	}
	query := `SELECT count(*) FROM events WHERE seq <= ?`
	if l.db.engine != Postgres {
		query = `SELECT count(*) FROM events INDEXED BY events_event_id WHERE seq <= ?`
	}
	var n int64
	if err := l.q.QueryRowContext(ctx, query, maxSeq).Scan(&n); err != nil {
		return 0, ended(ctx, fmt.Errorf("count the log: %w", err))
	}
	return n, nil
}

// LastSeq returns the highest seq in the log (0 when empty): Head without
// the count, which walks the whole log. Errors: internal.
func (l Log) LastSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := l.q.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&seq); err != nil {
		return 0, ended(ctx, fmt.Errorf("read log head: %w", err))
	}
	return seq, nil
}

// Event returns the logged event with the given id. Errors: not_found.
func (l Log) Event(ctx context.Context, id domain.ID) (Record, error) {
	row := l.q.QueryRowContext(ctx, `SELECT `+recordList+` FROM events WHERE event_id = ?`, id[:])
	rec, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, notFound("event", id)
	}
	if err != nil {
		return Record{}, ended(ctx, fmt.Errorf("read event %s: %w", id, err))
	}
	recs := []Record{rec}
	if err := l.unseal(ctx, recs); err != nil {
		return Record{}, ended(ctx, err)
	}
	return recs[0], nil
}

// MaxScan is how many seqs of the log one Events call with an event type
// examines at most. The type filter has no index (one cost 8-10 % of ingest,
// measured), so a rare type would otherwise walk the whole log in one
// request: 32 such requests made an ordinary GET take 5 s instead of 2 ms.
const MaxScan = 10_000

// EventFilter selects and pages the log for Events.
type EventFilter struct {
	After     int64  // events with a greater seq
	EventType string // only events of this type, when not empty
	Limit     int    // at most this many records; 0: all
	// MaxBytes, when positive, stops the query after the record that brings
	// the payload bytes read to MaxBytes or more: a caller that got that
	// many bytes must assume more records follow.
	MaxBytes int
	// MaxScan bounds the seqs examined with an EventType (0: MaxScan).
	MaxScan int
	// Redacted says the caller wants the payloads without their codes:
	// the stored payloads are read as they are and sealed bytes are not
	// opened (no data key is read or used).
	Redacted bool
}

// EventPage is what Events read.
type EventPage struct {
	Records []Record
	// ScannedTo, when not zero, is the last seq examined: the scan bound
	// stopped the query before it found Limit records (or MaxBytes), and
	// the log goes on after ScannedTo, so the next page starts after it.
	ScannedTo int64
}

// Events returns logged events with seq > f.After in seq order, only those
// of f.EventType when it is not empty. With a type, it examines the seqs
// after f.After up to f.MaxScan of them: a page may hold fewer than
// f.Limit records, even none, with ScannedTo telling where to continue.
// Errors: internal only.
func (l Log) Events(ctx context.Context, f EventFilter) (EventPage, error) {
	limit := f.Limit
	if limit <= 0 {
		// No limit: the largest integer, which both engines take
		// (PostgreSQL refuses SQLite's LIMIT -1).
		limit = math.MaxInt64
	}
	if f.EventType == "" {
		recs, err := l.records(ctx, f.MaxBytes, f.Redacted, `SELECT `+recordList+
			` FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, f.After, limit)
		return EventPage{Records: recs}, err
	}
	scan := int64(f.MaxScan)
	if scan <= 0 {
		scan = MaxScan
	}
	end := f.After + scan
	if end < f.After { // overflow: the window reaches the end of any log
		end = math.MaxInt64
	}
	// The head is read first: the single writer commits seqs in order, so
	// every seq up to it is committed, and a window that ends before it is
	// complete whatever is appended meanwhile.
	head, err := l.LastSeq(ctx)
	if err != nil {
		return EventPage{}, fmt.Errorf("read events: %w", err)
	}
	// A range of the primary key: at most scan rows are examined.
	recs, err := l.records(ctx, f.MaxBytes, f.Redacted, `SELECT `+recordList+
		` FROM events WHERE seq > ? AND seq <= ? AND event_type = ? ORDER BY seq LIMIT ?`, f.After, end, f.EventType, limit)
	if err != nil {
		return EventPage{}, err
	}
	page := EventPage{Records: recs}
	if end < head && len(recs) < limit && (f.MaxBytes <= 0 || PayloadBytes(recs) < f.MaxBytes) {
		page.ScannedTo = end
	}
	return page, nil
}

// Tail returns every logged event with seq > after, in seq order.
// Errors: internal.
func (l Log) Tail(ctx context.Context, after int64) ([]Record, error) {
	return l.records(ctx, 0, false, `SELECT `+recordList+` FROM events WHERE seq > ? ORDER BY seq`, after)
}

// PayloadBytes is the sum of the records' payload sizes: what MaxBytes (of
// EventFilter and HistoryFilter) bounds.
func PayloadBytes(recs []Record) int {
	n := 0
	for _, rec := range recs {
		n += len(rec.Event.Raw)
	}
	return n
}

// HistoryFilter narrows a method's or a grant's events (MethodEvents,
// GrantEvents).
type HistoryFilter struct {
	Since, Until *int64      // occurred_at bounds: since inclusive, until exclusive
	EventType    string      // only this type when not empty
	After        *domain.Key // the page cursor: events strictly after this key
	Limit        int         // 0: all
	MaxBytes     int         // when positive, stop after the event that brings the payload bytes to it (see EventFilter)
	Redacted     bool        // the payloads without codes are wanted: sealed bytes are not opened (see EventFilter)
}

// MethodEvents returns an access method's events (every access_method.*
// event naming it, folding or not) in fold order, narrowed by f. Errors:
// not_found when the method has no events at all.
func (l Log) MethodEvents(ctx context.Context, id domain.ID, f HistoryFilter) ([]Record, error) {
	stream, err := l.Stream(ctx, KindMethod, id)
	if err != nil {
		return nil, err
	}
	q, args := historyQuery(`SELECT `+recordList+` FROM events WHERE method_stream = ?`, stream, f, "", "")
	return l.records(ctx, f.MaxBytes, f.Redacted, q, args...)
}

// GrantEvents returns a grant's events (every event naming it) in fold
// order, narrowed by f. Errors: not_found when the grant has no events at
// all.
func (l Log) GrantEvents(ctx context.Context, id domain.ID, f HistoryFilter) ([]Record, error) {
	stream, err := l.Stream(ctx, KindGrant, id)
	if err != nil {
		return nil, err
	}
	q, args := historyQuery(`SELECT `+recordListE+` FROM event_grants g JOIN events e ON e.seq = g.seq WHERE g.grant_stream = ?`,
		stream, f, "g.", "e.")
	return l.records(ctx, f.MaxBytes, f.Redacted, q, args...)
}

// historyQuery completes head, a select of one stream's rows with one
// placeholder for the stream number, with f's conditions, the fold order
// and f's limit. key is the alias of the table holding the fold key
// (occurred_at, created_at, event_id), typ the alias of events.
func historyQuery(head string, stream int64, f HistoryFilter, key, typ string) (string, []any) {
	var q strings.Builder
	q.WriteString(head)
	args := []any{stream}
	if f.Since != nil {
		q.WriteString(` AND ` + key + `occurred_at >= ?`)
		args = append(args, *f.Since)
	}
	if f.Until != nil {
		q.WriteString(` AND ` + key + `occurred_at < ?`)
		args = append(args, *f.Until)
	}
	if f.After != nil {
		q.WriteString(` AND (` + key + `occurred_at, ` + key + `created_at, ` + key + `event_id) > (?, ?, ?)`)
		args = append(args, f.After.OccurredAt, f.After.CreatedAt, f.After.EventID[:])
	}
	if f.EventType != "" {
		q.WriteString(` AND ` + typ + `event_type = ?`)
		args = append(args, f.EventType)
	}
	q.WriteString(` ORDER BY ` + key + `occurred_at, ` + key + `created_at, ` + key + `event_id`)
	if f.Limit > 0 {
		q.WriteString(` LIMIT ?`)
		args = append(args, f.Limit)
	}
	return q.String(), args
}

// records runs a query selecting recordList and scans its rows, stopping
// after the row that brings the payload bytes read to maxBytes or more
// (when maxBytes is positive), so that a page of large events holds a
// bounded amount of memory. Redacted leaves the stored payloads (without
// codes) as they are, unopened.
func (l Log) records(ctx context.Context, maxBytes int, redacted bool, query string, args ...any) ([]Record, error) {
	rows, err := l.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, ended(ctx, fmt.Errorf("read events: %w", err))
	}
	defer rows.Close()
	out := []Record{}
	n := 0
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, ended(ctx, fmt.Errorf("read events: %w", err))
		}
		out = append(out, rec)
		size := len(rec.Event.Raw)
		if !redacted {
			size = l.readSize(rec)
		}
		if n += size; maxBytes > 0 && n >= maxBytes {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, ended(ctx, fmt.Errorf("read events: %w", err))
	}
	rows.Close() // opening sealed bytes may read the data keys
	if redacted {
		return out, nil
	}
	if err := l.unseal(ctx, out); err != nil {
		return nil, ended(ctx, fmt.Errorf("read events: %w", err))
	}
	return out, nil
}

// Stream returns the stream number of an access method or grant (kind
// KindMethod or KindGrant). Errors: not_found when it has no events.
func (l Log) Stream(ctx context.Context, kind string, id domain.ID) (int64, error) {
	var n int64
	err := l.q.QueryRowContext(ctx, `SELECT stream FROM event_streams WHERE id = ? AND kind = ?`, id[:], kind).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound(kind, id)
	}
	if err != nil {
		return 0, ended(ctx, fmt.Errorf("%s %s stream: %w", kind, id, err))
	}
	return n, nil
}

// FoldEvents returns the events of method stream in fold order, without
// their payloads (the fold reads the extracted columns), only those with
// occurred_at <= *asOf when asOf is not nil. Errors: internal.
func (l Log) FoldEvents(ctx context.Context, stream int64, asOf *int64) ([]*domain.Event, error) {
	query := `SELECT ` + foldList + ` FROM events WHERE method_stream = ?`
	args := []any{stream}
	if asOf != nil {
		query += ` AND occurred_at <= ?`
		args = append(args, *asOf)
	}
	query += ` ORDER BY occurred_at, created_at, event_id`
	rows, err := l.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, ended(ctx, fmt.Errorf("read method events: %w", err))
	}
	defer rows.Close()
	var out []*domain.Event
	es := newEventScan(allFold, nil, nil, true)
	for rows.Next() {
		e, err := es.scan(rows)
		if err != nil {
			return nil, ended(ctx, fmt.Errorf("read method events: %w", err))
		}
		out = append(out, e)
	}
	return out, ended(ctx, rows.Err())
}

// StreamRows counts the rows MethodStreams and GrantStreams read up to
// maxSeq: the method events plus the grant links. Errors: internal.
func (l Log) StreamRows(ctx context.Context, maxSeq int64) (int64, error) {
	var n int64
	err := l.q.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM events WHERE method_stream IS NOT NULL AND seq <= ?)
		+ (SELECT count(*) FROM event_grants WHERE seq <= ?)`, maxSeq, maxSeq).Scan(&n)
	if err != nil {
		return 0, ended(ctx, fmt.Errorf("count the log: %w", err))
	}
	return n, nil
}

// SortedReads says whether MethodStreams and GrantStreams read through a
// sorted copy (SQLite), which counts the rows as it copies them: see
// CopiedRows.
func (l Log) SortedReads() bool { return l.sorted() }

// CopiedRows returns the rows that MethodStreams and GrantStreams up to
// maxSeq read (as StreamRows counts them) and the log's events up to
// maxSeq, once the sorted copies of both have counted them; ok is false
// before that, and always when the reads are not sorted.
func (l Log) CopiedRows(maxSeq int64) (rows, events int64, ok bool) {
	methods, ok1 := l.db.counted.get(maxSeq, tallyMethodRows)
	links, ok2 := l.db.counted.get(maxSeq, tallyLinkRows)
	events, ok3 := l.db.counted.get(maxSeq, tallyEvents)
	if !ok1 || !ok2 || !ok3 {
		return 0, 0, false
	}
	return methods + links, events, true
}

// MethodStreams calls fn with the events (seq <= maxSeq, without payloads)
// of every access method in turn, in stream order, each method's in fold
// order, one method in memory at a time: fn must not keep events, which
// the next call reuses. It returns fn's first error, with the context's
// first once ctx has ended.
func (l Log) MethodStreams(ctx context.Context, maxSeq int64, fn func(stream int64, events []*domain.Event) error) error {
	if l.sorted() {
		return ended(ctx, l.sortedStreams(ctx, sortedMethods, sortedMethodsRead, allFold, maxSeq, fn))
	}
	// Not copied: with SQLite's sorter (sortScans), else by walking the
	// index. (Two halves of the streams read at once, as the grants are,
	// cost a million-event rebuild 5 s more CPU and 2-4 s more time: each
	// half's sort scans the whole table.)
	if l.sortScans() {
		return ended(ctx, l.sortScan(ctx, maxSeq, fn))
	}
	return ended(ctx, streamRows(ctx, l.q, methodsWalk, allFold, []any{maxSeq}, fn))
}

// methodsWalk reads the method events up to a seq by the index
// events_method_stream.
var methodsWalk = methodsQuery("events")

// methodsQuery reads the method events up to a seq, in fold order, from
// table (events, or main.events NOT INDEXED).
func methodsQuery(table string) string {
	return `SELECT method_stream, ` + foldList + ` FROM ` + table + `
	WHERE method_stream IS NOT NULL AND seq <= ? ORDER BY method_stream, occurred_at, created_at, event_id`
}

// GrantStreams is MethodStreams for grants: it calls fn with each grant's
// id and its events (every event naming it) in fold order. The events hold
// only what a grant's fold reads (grantFoldColumns): no workspace, access
// method or code fields.
func (l Log) GrantStreams(ctx context.Context, maxSeq int64, fn func(stream int64, id domain.ID, events []*domain.Event) error) error {
	if l.sorted() {
		return ended(ctx, l.sortedStreams(ctx, sortedGrants, sortedGrantsRead, grantFold, maxSeq, l.withGrantID(ctx, fn)))
	}
	return l.GrantStreamsBetween(ctx, maxSeq, 0, math.MaxInt64, fn)
}

// withGrantID calls fn with each grant stream's id too.
func (l Log) withGrantID(ctx context.Context, fn func(stream int64, id domain.ID, events []*domain.Event) error) func(int64, []*domain.Event) error {
	return func(stream int64, events []*domain.Event) error {
		id, err := l.grantID(ctx, stream, events[0])
		if err != nil {
			return err
		}
		return fn(stream, id, events)
	}
}

// GrantStreamsBetween is GrantStreams for the grants whose stream number is
// in (after, upTo], read by walking the grants' index (never through a
// sorted copy), so that several of them may read parts of a log in the
// page cache at once.
func (l Log) GrantStreamsBetween(ctx context.Context, maxSeq, after, upTo int64, fn func(stream int64, id domain.ID, events []*domain.Event) error) error {
	return ended(ctx, streamRows(ctx, l.q, `SELECT g.grant_stream, `+grantFoldListE+`
		FROM event_grants g JOIN events e ON e.seq = g.seq WHERE g.grant_stream > ? AND g.grant_stream <= ? AND g.seq <= ?
		ORDER BY g.grant_stream, g.occurred_at, g.created_at, g.event_id`, grantFold, []any{after, upTo, maxSeq}, l.withGrantID(ctx, fn)))
}

// LastStream returns the highest stream number (0 when there is none).
// Errors: internal.
func (l Log) LastStream(ctx context.Context) (int64, error) {
	var n int64
	if err := l.q.QueryRowContext(ctx, `SELECT coalesce(max(stream), 0) FROM event_streams`).Scan(&n); err != nil {
		return 0, ended(ctx, fmt.Errorf("read the last stream: %w", err))
	}
	return n, nil
}

// streamRows runs query with args on q (rows of a stream number then the
// fold columns, ordered by stream) and calls fn with each stream's events.
func streamRows(ctx context.Context, q Queryer, query string, cols foldCols, args []any, fn func(stream int64, events []*domain.Event) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	current := int64(-1)
	var events []*domain.Event
	var stream int64
	es := newEventScan(cols, []any{&stream}, nil, true)
	for rows.Next() {
		e, err := es.scan(rows)
		if err != nil {
			return err
		}
		if stream != current && len(events) > 0 {
			if err := fn(current, events); err != nil {
				return err
			}
			events = events[:0]
		}
		current = stream
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(events) > 0 {
		return fn(current, events)
	}
	return nil
}

// grantID returns the id of grant stream, read off e (an event of its
// history) when e names a single grant, else looked up.
func (l Log) grantID(ctx context.Context, stream int64, e *domain.Event) (domain.ID, error) {
	if ids := e.GrantIDs(); len(ids) == 1 {
		return ids[0], nil
	}
	rows, err := l.q.QueryContext(ctx, `SELECT id FROM event_streams WHERE stream = ?`, stream)
	if err != nil {
		return domain.ID{}, fmt.Errorf("read grant stream: %w", err)
	}
	defer rows.Close()
	var b []byte
	if rows.Next() {
		if err := rows.Scan(&b); err != nil {
			return domain.ID{}, err
		}
	}
	if err := rows.Err(); err != nil {
		return domain.ID{}, fmt.Errorf("read grant stream: %w", err)
	}
	if len(b) == 0 {
		return domain.ID{}, fmt.Errorf("grant stream %d has no id", stream)
	}
	id, ok := domain.IDFromBytes(b)
	if !ok {
		return id, damagedID(fmt.Sprintf("grant stream %d", stream), "id", len(b))
	}
	return id, nil
}
