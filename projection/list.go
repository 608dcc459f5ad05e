package projection

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/store"
)

// MethodFilter selects and pages access methods for ListAccessMethods. The
// zero value selects every access method.
type MethodFilter struct {
	AccessGrantID  *domain.ID // methods whose state lists this grant
	AccessGrantKey string     // methods whose state lists this grant key, when not empty
	WorkspaceID    *domain.ID
	Status         string // one of the domain.Status* values, when not empty
	Mode           string // domain.ModeCard or domain.ModeCode, when not empty
	IsIssued       *bool
	After          *domain.ID // the page cursor: methods with a greater id
	Limit          int        // 0: all
}

// ListAccessMethods returns the current state of the access methods that
// match f, ordered by access_method_id. Errors: internal only (an empty
// list when nothing matches).
func (p *Projection) ListAccessMethods(ctx context.Context, f MethodFilter) ([]*domain.AccessMethod, error) {
	// A grant or key filter drives the query from its link table, whose
	// primary key gives the methods of one grant (or key) in id order.
	var q strings.Builder
	var args []any
	var where []string
	idCol := "m.access_method_id"
	q.WriteString(`SELECT m.state, m.last_occurred_at, m.last_created_at, m.last_event_id FROM `)
	switch {
	case f.AccessGrantID != nil:
		q.WriteString(`access_method_grants l JOIN access_methods m ON m.access_method_id = l.access_method_id`)
		where = append(where, `l.access_grant_id = ?`)
		args = append(args, f.AccessGrantID[:])
		idCol = "l.access_method_id"
		if f.AccessGrantKey != "" {
			where = append(where, `EXISTS (SELECT 1 FROM access_method_keys k
				WHERE k.access_grant_key = ? AND k.access_method_id = l.access_method_id)`)
			args = append(args, f.AccessGrantKey)
		}
	case f.AccessGrantKey != "":
		q.WriteString(`access_method_keys l JOIN access_methods m ON m.access_method_id = l.access_method_id`)
		where = append(where, `l.access_grant_key = ?`)
		args = append(args, f.AccessGrantKey)
		idCol = "l.access_method_id"
	default:
		q.WriteString(`access_methods m`)
	}
	if f.WorkspaceID != nil {
		where = append(where, `m.workspace_id = ?`)
		args = append(args, f.WorkspaceID[:])
	}
	if f.Status != "" {
		where = append(where, `m.status = ?`)
		args = append(args, f.Status)
	}
	if f.Mode != "" {
		where = append(where, `m.mode = ?`)
		args = append(args, f.Mode)
	}
	if f.IsIssued != nil {
		where = append(where, `m.is_issued = ?`)
		args = append(args, *f.IsIssued)
	}
	if f.After != nil {
		where = append(where, idCol+` > ?`)
		args = append(args, f.After[:])
	}
	if len(where) > 0 {
		q.WriteString(` WHERE ` + strings.Join(where, ` AND `))
	}
	q.WriteString(` ORDER BY ` + idCol)
	if f.Limit > 0 {
		q.WriteString(` LIMIT ?`) // bound, so every limit shares one cached statement
		args = append(args, f.Limit)
	}

	rows, err := p.db.Reader().QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("list access methods: %w", err)
	}
	defer rows.Close()
	out := []*domain.AccessMethod{}
	for rows.Next() {
		var state, eventID []byte
		var occ, created int64
		if err := rows.Scan(&state, &occ, &created, &eventID); err != nil {
			return nil, fmt.Errorf("list access methods: %w", err)
		}
		s, err := decodeMethod(state, occ, created, eventID)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list access methods: %w", err)
	}
	return out, nil
}

// MethodEvents returns an access method's events (every access_method.*
// event naming it, folding or not) in fold order, narrowed by f as
// GrantHistory narrows a grant's. Errors: not_found when the method has no
// events at all.
func (p *Projection) MethodEvents(ctx context.Context, id domain.ID, f HistoryFilter) ([]store.Record, error) {
	stream, err := store.LookupStream(ctx, p.db.Reader(), store.KindMethod, id)
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + store.RecordColumns("") + ` FROM events WHERE method_stream = ?`
	args := []any{stream}
	if f.Since != nil {
		q += ` AND occurred_at >= ?`
		args = append(args, *f.Since)
	}
	if f.Until != nil {
		q += ` AND occurred_at < ?`
		args = append(args, *f.Until)
	}
	if f.After != nil {
		q += ` AND (occurred_at, created_at, event_id) > (?, ?, ?)`
		args = append(args, f.After.OccurredAt, f.After.CreatedAt, f.After.EventID[:])
	}
	if f.EventType != "" {
		q += ` AND event_type = ?`
		args = append(args, f.EventType)
	}
	q += ` ORDER BY occurred_at, created_at, event_id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return p.queryRecords(ctx, f.MaxBytes, q, args...)
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
}

// EventPage is what Events read.
type EventPage struct {
	Records []store.Record
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
func (p *Projection) Events(ctx context.Context, f EventFilter) (EventPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	if f.EventType == "" {
		recs, err := p.queryRecords(ctx, f.MaxBytes, `SELECT `+store.RecordColumns("")+
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
	var head int64
	if err := p.db.Reader().QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&head); err != nil {
		return EventPage{}, fmt.Errorf("read events: %w", err)
	}
	// A range of the primary key: at most scan rows are examined.
	recs, err := p.queryRecords(ctx, f.MaxBytes, `SELECT `+store.RecordColumns("")+
		` FROM events WHERE seq > ? AND seq <= ? AND event_type = ? ORDER BY seq LIMIT ?`, f.After, end, f.EventType, limit)
	if err != nil {
		return EventPage{}, err
	}
	page := EventPage{Records: recs}
	if end < head && (limit < 0 || len(recs) < limit) && (f.MaxBytes <= 0 || PayloadBytes(recs) < f.MaxBytes) {
		page.ScannedTo = end
	}
	return page, nil
}

// queryRecords runs a query selecting store.RecordColumns on the readers and
// scans its rows, stopping after the row that brings the payload bytes read
// to maxBytes or more (when maxBytes is positive), so that a page of large
// events holds a bounded amount of memory.
func (p *Projection) queryRecords(ctx context.Context, maxBytes int, query string, args ...any) ([]store.Record, error) {
	rows, err := p.db.Reader().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	out := []store.Record{}
	n := 0
	for rows.Next() {
		rec, err := store.ScanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		out = append(out, rec)
		if n += len(rec.Event.Raw); maxBytes > 0 && n >= maxBytes {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// PayloadBytes is the sum of the records' payload sizes: what MaxBytes (of
// EventFilter and HistoryFilter) bounds.
func PayloadBytes(recs []store.Record) int {
	n := 0
	for _, rec := range recs {
		n += len(rec.Event.Raw)
	}
	return n
}

// Event returns one logged event by its event_id. Errors: not_found.
func (p *Projection) Event(ctx context.Context, id domain.ID) (store.Record, error) {
	return p.db.Event(ctx, id)
}

// Lag is how far the read model is behind the log.
type Lag struct {
	LogSeq        int64 // the highest seq in the log (0 when empty)
	ProjectionSeq int64 // the last seq folded into the read model
}

// CaughtUp reports whether every logged event is folded.
func (l Lag) CaughtUp() bool { return l.ProjectionSeq >= l.LogSeq }

// Lag reads the log head and the projection checkpoint in one snapshot (a
// single statement), so the two are consistent with each other. Errors:
// internal (the database is unreachable).
func (p *Projection) Lag(ctx context.Context) (Lag, error) {
	var l Lag
	err := p.db.Reader().QueryRowContext(ctx, `SELECT
		(SELECT coalesce(max(seq), 0) FROM events),
		coalesce((SELECT value FROM projection_meta WHERE key = 'checkpoint'), 0)`).Scan(&l.LogSeq, &l.ProjectionSeq)
	if err != nil {
		return Lag{}, fmt.Errorf("read projection lag: %w", err)
	}
	return l, nil
}
