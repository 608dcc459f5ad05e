package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/amtrack/amtrack/domain"
)

// Sources of events (SPEC §2.2).
const (
	SourceWebhook = "webhook"
	SourceFile    = "file"
	SourceSync    = "sync"
)

// Pending is an event on its way into the log.
type Pending struct {
	Event      *domain.Event
	Source     string
	MessageID  string    // the webhook message id, if any
	ReceivedAt time.Time // zero: now
}

// Record is one row of the log.
type Record struct {
	Seq        int64
	ReceivedAt int64 // Unix nanoseconds
	Source     string
	MessageID  string
	Event      *domain.Event
}

// Outcome is what became of one Pending: appended at Seq, a Duplicate of a
// stored event (Seq is the stored one's), or refused with Err (a conflict).
type Outcome struct {
	Seq       int64
	Duplicate bool
	Err       error
}

// ApplyFunc is called inside the append transaction with the records just
// appended, in seq order, so a read model can be updated atomically with the
// log. An error rolls the whole transaction back.
type ApplyFunc func(ctx context.Context, tx *Tx, appended []Record) error

// Append appends a batch of events in one transaction: each is appended,
// reported a duplicate (same event_id, same JSON value) or refused as a
// conflict (same event_id, different value; nothing changed). apply, if not
// nil, runs in the same transaction. On a returned error nothing is stored.
func (db *DB) Append(ctx context.Context, batch []Pending, apply ApplyFunc) ([]Outcome, error) {
	var outcomes []Outcome
	err := db.Update(ctx, func(tx *Tx) error {
		var appended []Record
		var err error
		outcomes, appended, err = tx.Append(ctx, batch)
		if err != nil {
			return err
		}
		if apply != nil && len(appended) > 0 {
			return apply(ctx, tx, appended)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("append events: %w", err)
	}
	return outcomes, nil
}

// Append appends events inside tx; see DB.Append.
func (tx *Tx) Append(ctx context.Context, batch []Pending) ([]Outcome, []Record, error) {
	var head int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&head); err != nil {
		return nil, nil, fmt.Errorf("read log head: %w", err)
	}
	// Candidates get the next seqs in arrival order; a second copy of an
	// event within the batch waits for the first one's outcome.
	now := time.Now().UnixNano()
	cands := make([]Record, 0, len(batch))
	candOf := make([]int, len(batch)) // batch index -> candidate index
	isCopy := make([]bool, len(batch))
	first := make(map[domain.ID]int, len(batch))
	for i, p := range batch {
		if j, ok := first[p.Event.ID]; ok {
			candOf[i], isCopy[i] = j, true
			continue
		}
		received := now
		if !p.ReceivedAt.IsZero() {
			received = p.ReceivedAt.UnixNano()
		}
		head++
		first[p.Event.ID] = len(cands)
		candOf[i] = len(cands)
		cands = append(cands, Record{Seq: head, ReceivedAt: received, Source: p.Source, MessageID: p.MessageID, Event: p.Event})
	}
	inserted, err := tx.insert(ctx, cands)
	if err != nil {
		return nil, nil, err
	}
	outcomes := make([]Outcome, len(batch))
	appended := make([]Record, 0, len(cands))
	for i, p := range batch {
		c := &cands[candOf[i]]
		switch {
		case !inserted[candOf[i]]: // an event with this id was already stored
			if outcomes[i], err = tx.compareStored(ctx, p.Event); err != nil {
				return nil, nil, err
			}
		case isCopy[i]:
			outcomes[i] = compare(c.Seq, c.Event.Raw, p.Event)
		default:
			outcomes[i] = Outcome{Seq: c.Seq}
			appended = append(appended, *c)
		}
	}
	return outcomes, appended, nil
}

// placeholders returns "(?, ?), (?, ?)" for rows of cols columns, or
// "?, ?" for one column.
func placeholders(cols, rows int) string {
	one := "?" + strings.Repeat(", ?", cols-1)
	if cols == 1 {
		return one + strings.Repeat(", ?", rows-1)
	}
	return "(" + one + ")" + strings.Repeat(", ("+one+")", rows-1)
}

const (
	eventColumns = `seq, event_id, event_type, workspace_id, occurred_at, created_at, access_method_id,
		method_stream, access_grant_id, access_grant_ids, access_grant_keys, code, is_backup_code,
		access_grant_key, starts_at, ends_at, received_at, source, message_id, payload`
	nEventColumns = 20
	// insertRows is the number of rows per multi-row INSERT: fewer statements
	// and cgo calls per event.
	insertRows = 32
)

// insert writes records (their seq already assigned) and their grant links
// with multi-row INSERTs, and reports which were inserted: a record whose
// event_id is already stored is skipped (its seq becomes a gap).
func (tx *Tx) insert(ctx context.Context, recs []Record) ([]bool, error) {
	inserted := make([]bool, len(recs))
	var links []any
	rows := make([]any, 0, insertRows*nEventColumns)
	chunkStart := 0
	flush := func(end int) error {
		if len(rows) == 0 {
			return nil
		}
		n := len(rows) / nEventColumns
		q := `INSERT INTO events (` + eventColumns + `) VALUES ` + placeholders(nEventColumns, n) +
			` ON CONFLICT (event_id) DO NOTHING`
		res, err := tx.ExecContext(ctx, q, rows...)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		rows = rows[:0]
		chunk, done := recs[chunkStart:end], inserted[chunkStart:end]
		chunkStart = end
		if got, err := res.RowsAffected(); err != nil || got < int64(n) {
			if err := tx.markInserted(ctx, chunk, done); err != nil {
				return err
			}
		} else {
			for i := range done {
				done[i] = true
			}
		}
		for i := range chunk {
			if !done[i] {
				continue
			}
			e := chunk[i].Event
			for _, g := range e.GrantIDs() {
				gs, err := tx.Stream(ctx, KindGrant, g)
				if err != nil {
					return err
				}
				links = append(links, gs, e.OccurredAt, e.CreatedAt, e.ID[:], chunk[i].Seq)
			}
		}
		return nil
	}
	for i := range recs {
		rec := &recs[i]
		e := rec.Event
		var methodID, methodStream, grantID, grantIDs, keys, isBackup, messageID any
		if e.IsMethodEvent() {
			n, err := tx.Stream(ctx, KindMethod, e.AccessMethodID)
			if err != nil {
				return nil, err
			}
			methodID, methodStream = e.AccessMethodID[:], n
			if len(e.AccessGrantIDs) > 0 {
				grantIDs = packIDs(e.AccessGrantIDs)
			}
			if len(e.AccessGrantKeys) > 0 {
				b, err := json.Marshal(e.AccessGrantKeys)
				if err != nil {
					return nil, fmt.Errorf("encode access_grant_keys: %w", err)
				}
				keys = string(b)
			}
		}
		if e.IsGrantEvent() {
			grantID = e.AccessGrantID[:]
		}
		if e.IsBackupCode != nil {
			isBackup = *e.IsBackupCode
		}
		if rec.MessageID != "" {
			messageID = rec.MessageID
		}
		rows = append(rows, rec.Seq, e.ID[:], e.Type, e.WorkspaceID[:], e.OccurredAt, e.CreatedAt, methodID,
			methodStream, grantID, grantIDs, keys, e.Code, isBackup, e.AccessGrantKey, e.StartsAt, e.EndsAt,
			rec.ReceivedAt, rec.Source, messageID, e.Raw)
		if len(rows) == cap(rows) {
			if err := flush(i + 1); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(len(recs)); err != nil {
		return nil, err
	}
	// Links go after their events (foreign key on seq).
	const linkCols = 5
	for start := 0; start < len(links); start += insertRows * linkCols {
		chunk := links[start:min(start+insertRows*linkCols, len(links))]
		q := `INSERT INTO event_grants (grant_stream, occurred_at, created_at, event_id, seq) VALUES ` +
			placeholders(linkCols, len(chunk)/linkCols) + ` ON CONFLICT DO NOTHING`
		if _, err := tx.ExecContext(ctx, q, chunk...); err != nil {
			return nil, fmt.Errorf("link events to grants: %w", err)
		}
	}
	return inserted, nil
}

// markInserted finds which records of a chunk an INSERT .. DO NOTHING kept.
func (tx *Tx) markInserted(ctx context.Context, chunk []Record, inserted []bool) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq FROM events WHERE seq BETWEEN ? AND ?`, chunk[0].Seq, chunk[len(chunk)-1].Seq)
	if err != nil {
		return fmt.Errorf("read inserted events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return fmt.Errorf("read inserted events: %w", err)
		}
		inserted[seq-chunk[0].Seq] = true
	}
	return rows.Err()
}

// compareStored decides between duplicate and conflict for an event whose
// id is already in the log.
func (tx *Tx) compareStored(ctx context.Context, e *domain.Event) (Outcome, error) {
	var seq int64
	var payload []byte
	err := tx.QueryRowContext(ctx, `SELECT seq, payload FROM events WHERE event_id = ?`, e.ID[:]).Scan(&seq, &payload)
	if err != nil {
		return Outcome{}, fmt.Errorf("read event %s: %w", e.ID, err)
	}
	return compare(seq, payload, e), nil
}

// compare is the outcome of e against the stored payload with e's id.
func compare(seq int64, payload []byte, e *domain.Event) Outcome {
	if domain.SameJSON(payload, e.Raw) {
		return Outcome{Seq: seq, Duplicate: true}
	}
	return Outcome{Seq: seq, Err: &domain.Error{Code: domain.EConflict, Field: "event_id", EventType: e.Type,
		Message: fmt.Sprintf("event %s is already stored (seq %d) with a different body; the stored event is kept", e.ID, seq)}}
}

func packIDs(ids []domain.ID) []byte {
	b := make([]byte, 0, 16*len(ids))
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

func unpackIDs(b []byte) []domain.ID {
	if len(b) == 0 {
		return nil
	}
	ids := make([]domain.ID, len(b)/16)
	for i := range ids {
		copy(ids[i][:], b[i*16:])
	}
	return ids
}

// foldColumns are the event fields the fold reads: everything but the raw
// payload and the arrival metadata, so a rebuild never decodes JSON.
var foldColumns = []string{"event_id", "event_type", "workspace_id", "occurred_at", "created_at",
	"access_method_id", "access_grant_id", "access_grant_ids", "access_grant_keys", "code", "is_backup_code",
	"access_grant_key", "starts_at", "ends_at"}

// recordColumns are a whole log row: seq, the fold columns, the rest.
var recordColumns = slices.Concat([]string{"seq"}, foldColumns, []string{"received_at", "source", "message_id", "payload"})

// FoldColumns returns the column list ScanEvent reads, each prefixed with
// alias (e.g. "e.").
func FoldColumns(alias string) string { return columnList(alias, foldColumns) }

// RecordColumns returns the column list ScanRecord reads, each prefixed
// with alias (e.g. "e.").
func RecordColumns(alias string) string { return columnList(alias, recordColumns) }

func columnList(alias string, cols []string) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(alias)
		b.WriteString(c)
	}
	return b.String()
}

// Scanner is *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// ScanRecord reads one row selected with RecordColumns, without decoding
// the JSON payload.
func ScanRecord(s Scanner) (Record, error) {
	var rec Record
	var messageID sql.NullString
	var raw []byte
	e, err := scanEvent(s, []any{&rec.Seq}, []any{&rec.ReceivedAt, &rec.Source, &messageID, &raw})
	if err != nil {
		return Record{}, err
	}
	e.Raw = raw
	rec.MessageID = messageID.String
	rec.Event = e
	return rec, nil
}

// ScanEvent reads the columns of lead (scanned into lead's pointers) then
// the FoldColumns of one row. The event has no Raw payload.
func ScanEvent(s Scanner, lead ...any) (*domain.Event, error) {
	return scanEvent(s, lead, nil)
}

func scanEvent(s Scanner, before, after []any) (*domain.Event, error) {
	var (
		e                                     domain.Event
		eventID, workspaceID, methodID, grant []byte
		grantIDs                              []byte
		keys, code, grantKey, starts, ends    sql.NullString
		isBackup                              sql.NullBool
	)
	dest := slices.Concat(before, []any{&eventID, &e.Type, &workspaceID, &e.OccurredAt, &e.CreatedAt, &methodID,
		&grant, &grantIDs, &keys, &code, &isBackup, &grantKey, &starts, &ends}, after)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	e.ID, _ = domain.IDFromBytes(eventID)
	e.WorkspaceID, _ = domain.IDFromBytes(workspaceID)
	e.AccessMethodID, _ = domain.IDFromBytes(methodID)
	e.AccessGrantID, _ = domain.IDFromBytes(grant)
	e.AccessGrantIDs = unpackIDs(grantIDs)
	if keys.Valid {
		var err error
		if e.AccessGrantKeys, err = decodeStrings(keys.String); err != nil {
			return nil, fmt.Errorf("event %s: decode access_grant_keys: %w", e.ID, err)
		}
	}
	e.Code = nullString(code)
	e.AccessGrantKey = nullString(grantKey)
	e.StartsAt = nullString(starts)
	e.EndsAt = nullString(ends)
	if isBackup.Valid {
		b := isBackup.Bool
		e.IsBackupCode = &b
	}
	return &e, nil
}

// decodeStrings decodes a JSON array of strings, splitting it directly when
// no string holds an escape (the common case, and the hot path of a rebuild).
func decodeStrings(s string) ([]string, error) {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' && !strings.ContainsRune(s, '\\') {
		body := s[1 : len(s)-1]
		if body == "" {
			return []string{}, nil
		}
		parts := strings.Split(body, `","`)
		if len(parts) > 0 && strings.HasPrefix(parts[0], `"`) && strings.HasSuffix(parts[len(parts)-1], `"`) {
			parts[0] = parts[0][1:]
			last := len(parts) - 1
			parts[last] = parts[last][:len(parts[last])-1]
			return parts, nil
		}
	}
	var out []string
	err := json.Unmarshal([]byte(s), &out)
	return out, err
}

func nullString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	v := s.String
	return &v
}

// Head returns the highest seq in the log (0 when empty) and the number of events.
func (db *DB) Head(ctx context.Context) (seq, count int64, err error) {
	err = db.read.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0), count(*) FROM events`).Scan(&seq, &count)
	if err != nil {
		return 0, 0, fmt.Errorf("read log head: %w", err)
	}
	return seq, count, nil
}

// Event returns the logged event with the given id. Errors: not_found.
func (db *DB) Event(ctx context.Context, id domain.ID) (Record, error) {
	row := db.read.QueryRowContext(ctx, `SELECT `+RecordColumns("")+` FROM events WHERE event_id = ?`, id[:])
	rec, err := ScanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, notFound("event", id)
	}
	if err != nil {
		return Record{}, fmt.Errorf("read event %s: %w", id, err)
	}
	return rec, nil
}

// Events returns up to limit events with seq > afterSeq in seq order,
// optionally only those of one event type.
func (db *DB) Events(ctx context.Context, afterSeq int64, eventType string, limit int) ([]Record, error) {
	q := `SELECT ` + RecordColumns("") + ` FROM events WHERE seq > ?`
	args := []any{afterSeq}
	if eventType != "" {
		q += ` AND event_type = ?`
		args = append(args, eventType)
	}
	q += ` ORDER BY seq LIMIT ?`
	args = append(args, limit)
	return QueryRecords(ctx, db.read, q, args...)
}

// Querier is *sql.DB, *sql.Tx or *sql.Conn.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// QueryRecords runs a query selecting RecordColumns and scans every row.
func QueryRecords(ctx context.Context, q Querier, query string, args ...any) ([]Record, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	out := []Record{}
	for rows.Next() {
		rec, err := ScanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}
