package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/amtrack/amtrack/domain"
)

// Sources of events (docs/log.md).
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

	// redacted is the Raw of preparedEvent without its codes, when Prepared
	// computed it (nil: the append computes it, on the writer).
	redacted      []byte
	preparedEvent *domain.Event
}

// Prepared returns p with the part of its append that needs no database
// done already: its payload without codes (domain.RedactPayload). A caller
// that parses on a goroutine of its own (a webhook's handler, ingest's
// reader) calls it there, so that the single writer does not. Appending p
// unprepared stores the same row. The event and its bytes must not change
// after Prepared; a Pending given another Event after it is redacted again
// by the append.
func Prepared(p Pending) Pending {
	p.redacted, p.preparedEvent = domain.RedactPayload(p.Event.Raw), p.Event
	return p
}

// redactedRaw is Prepared's redaction of p.Event.Raw, or nil when p was not
// prepared, or was prepared with another Event.
func (p Pending) redactedRaw() []byte {
	if p.preparedEvent != p.Event {
		return nil
	}
	return p.redacted
}

// Record is one row of the log.
type Record struct {
	Seq        int64
	ReceivedAt int64 // Unix nanoseconds
	Source     string
	MessageID  string
	Event      *domain.Event

	// sealed is the row's sealed bytes until Log.unseal opens them.
	sealed []byte
	// forgotten says unseal left the stored payload because the method's
	// codes were forgotten.
	forgotten bool
	// skip marks a candidate that insert must not write: it carries a code
	// of a method whose codes were forgotten.
	skip bool
	// stored and storedSealed are the payload and sealed columns as they
	// are in the row (the payload without codes, the sealed bytes as
	// received): what the hash chain covers, so that it verifies without
	// the key and after a method's key is forgotten.
	stored, storedSealed []byte
	// redacted is the Pending's redacted payload (nil: not computed yet).
	redacted []byte
}

// CodeForgotten reports whether rec's payload lost its codes because its
// access method's codes were forgotten (amtrack forget): read with the key,
// it is the stored payload without codes.
func (rec Record) CodeForgotten() bool { return rec.forgotten }

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
	head, err := tx.Log().LastSeq(ctx)
	if err != nil {
		return nil, nil, err
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
		cands = append(cands, Record{Seq: head, ReceivedAt: received, Source: p.Source, MessageID: p.MessageID, Event: p.Event,
			redacted: p.redactedRaw()})
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
	// Each appended event is chained to the one before, in this transaction.
	if err := tx.chain(ctx, appended); err != nil {
		return nil, nil, err
	}
	return outcomes, appended, nil
}

// Placeholders returns "(?, ?), (?, ?)" for rows of cols columns, or
// "?, ?" for one column.
func Placeholders(cols, rows int) string {
	one := "?" + strings.Repeat(", ?", cols-1)
	if cols == 1 {
		return one + strings.Repeat(", ?", rows-1)
	}
	return "(" + one + ")" + strings.Repeat(", ("+one+")", rows-1)
}

const (
	eventColumns = `seq, event_id, event_type, workspace_id, occurred_at, created_at, access_method_id,
		method_stream, access_grant_id, access_grant_ids, access_grant_keys, has_code, is_backup_code,
		access_grant_key, starts_at, ends_at, received_at, source, message_id, payload, sealed`
	nEventColumns = 21
	// insertRows is the number of rows per multi-row INSERT: fewer statements
	// and cgo calls per event.
	insertRows = 32
)

// insert writes records (their seq already assigned) and their grant links
// with multi-row INSERTs, and reports which were inserted: a record whose
// event_id is already stored is skipped (its seq becomes a gap).
func (tx *Tx) insert(ctx context.Context, recs []Record) ([]bool, error) {
	inserted := make([]bool, len(recs))
	rows := make([]any, 0, insertRows*nEventColumns)
	chunkStart := 0
	skipped := false // a record of the chunk was skipped
	flush := func(end int) error {
		if len(rows) == 0 {
			return nil
		}
		n := len(rows) / nEventColumns
		q := `INSERT INTO events (` + eventColumns + `) VALUES ` + Placeholders(nEventColumns, n) +
			` ON CONFLICT (event_id) DO NOTHING`
		res, err := tx.ExecContext(ctx, q, rows...)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		rows, skipped = rows[:0], false
		chunk, done := recs[chunkStart:end], inserted[chunkStart:end]
		chunkStart = end
		if got, err := res.RowsAffected(); err != nil || got < int64(n) || skipped {
			if err := tx.markInserted(ctx, chunk, done); err != nil {
				return err
			}
		} else {
			for i := range done {
				done[i] = true
			}
		}
		return nil
	}
	// Method streams first: events reference them.
	var need []streamKey
	for i := range recs {
		if e := recs[i].Event; e.InMethodHistory() {
			need = append(need, streamKey{KindMethod, e.AccessMethodID})
		}
	}
	if err := tx.ensureStreams(ctx, need); err != nil {
		return nil, err
	}
	for i := range recs {
		rec := &recs[i]
		e := rec.Event
		var methodID, methodStream, grantID, grantIDs, keys, hasCode, isBackup, messageID any
		if e.InMethodHistory() {
			n, _ := tx.cachedStream(streamKey{KindMethod, e.AccessMethodID})
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
		if e.CarriesCode() {
			hasCode = 1
		}
		if e.IsBackupCode != nil {
			isBackup = *e.IsBackupCode
		}
		payload, sealed, err := tx.rowBytes(ctx, rec)
		if errors.Is(err, ErrCodesForgotten) {
			// Never sealed again: Append decides its outcome as for an
			// event not inserted.
			rec.skip, skipped = true, true
			continue
		}
		if err != nil {
			return nil, err
		}
		rec.stored, rec.storedSealed = payload, sealed
		if rec.MessageID != "" {
			messageID = rec.MessageID
		}
		rows = append(rows, rec.Seq, e.ID[:], e.Type, e.WorkspaceID[:], e.OccurredAt, e.CreatedAt, methodID,
			methodStream, grantID, grantIDs, keys, hasCode, isBackup, e.AccessGrantKey, e.StartsAt, e.EndsAt,
			rec.ReceivedAt, rec.Source, messageID, payload, sealed)
		if len(rows) == cap(rows) {
			if err := flush(i + 1); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(len(recs)); err != nil {
		return nil, err
	}
	// Links go after their events (foreign key on seq), to grant streams
	// created for the events inserted.
	need = need[:0]
	for i := range recs {
		if inserted[i] {
			for _, g := range recs[i].Event.GrantIDs() {
				need = append(need, streamKey{KindGrant, g})
			}
		}
	}
	if err := tx.ensureStreams(ctx, need); err != nil {
		return nil, err
	}
	var links []any
	for i := range recs {
		if !inserted[i] {
			continue
		}
		e := recs[i].Event
		for _, g := range e.GrantIDs() {
			gs, _ := tx.cachedStream(streamKey{KindGrant, g})
			links = append(links, gs, e.OccurredAt, e.CreatedAt, e.ID[:], recs[i].Seq)
		}
	}
	const linkCols = 5
	for start := 0; start < len(links); start += insertRows * linkCols {
		chunk := links[start:min(start+insertRows*linkCols, len(links))]
		q := `INSERT INTO event_grants (grant_stream, occurred_at, created_at, event_id, seq) VALUES ` +
			Placeholders(linkCols, len(chunk)/linkCols) + ` ON CONFLICT DO NOTHING`
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
	var payload, sealed, method []byte
	err := tx.QueryRowContext(ctx, `SELECT seq, payload, sealed, access_method_id FROM events WHERE event_id = ?`, e.ID[:]).
		Scan(&seq, &payload, &sealed, &method)
	if errors.Is(err, sql.ErrNoRows) { // skipped by insert: a code of a forgotten method
		return Outcome{Err: &domain.Error{Code: domain.EConflict, Field: "code", EventType: e.Type,
			Message: fmt.Sprintf("event %s carries a code of access method %s, whose codes were forgotten (amtrack forget): "+
				"it is not stored; send it without its code", e.ID, e.AccessMethodID)}}, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("read event %s: %w", e.ID, err)
	}
	if sealed != nil {
		m, _ := domain.IDFromBytes(method)
		raw, err := tx.Log().open(ctx, e.ID, m, sealed)
		switch {
		case errors.Is(err, ErrCodesForgotten):
			// Only the payload without codes is left to compare with.
			out := compare(seq, payload, &domain.Event{ID: e.ID, Type: e.Type, Raw: domain.RedactPayload(e.Raw)})
			return out, nil
		case err != nil:
			return Outcome{}, err
		}
		payload = raw
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
