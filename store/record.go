package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/amtrack/amtrack/domain"
)

// foldColumns are the event fields the fold reads (has_code says a code
// was carried, never which): everything but the raw
// payload and the arrival metadata, so a rebuild never decodes JSON.
var foldColumns = []string{"event_id", "event_type", "workspace_id", "occurred_at", "created_at",
	"access_method_id", "access_grant_id", "access_grant_ids", "access_grant_keys", "has_code", "is_backup_code",
	"access_grant_key", "starts_at", "ends_at"}

// methodOnlyColumns are the fold columns only an access method's fold
// reads; grantFoldColumns are the rest, all that a grant's reads (its
// events' order, type, grants, keys and times): four columns a row fewer
// for the driver to convert, a million times at a million events.
var (
	methodOnlyColumns = []string{"workspace_id", "access_method_id", "has_code", "is_backup_code"}
	grantFoldColumns  = slices.DeleteFunc(slices.Clone(foldColumns), func(c string) bool { return slices.Contains(methodOnlyColumns, c) })
)

// foldCols is the fold columns a read selects, for eventScan: every one
// (allFold), or only a grant's (grantFold).
type foldCols struct {
	names     []string
	grantOnly bool
}

var (
	allFold   = foldCols{foldColumns, false}
	grantFold = foldCols{grantFoldColumns, true}
)

// recordColumns are a whole log row: seq, the fold columns, the rest.
var recordColumns = slices.Concat([]string{"seq"}, foldColumns, []string{"received_at", "source", "message_id", "payload", "sealed"})

// The select lists of the log's reads: scanRecord reads the record lists,
// scanEvent and eventScan the fold lists (after any lead columns). They
// are built once.
var (
	recordList     = columnList("", recordColumns)
	recordListE    = columnList("e.", recordColumns)
	foldList       = columnList("", foldColumns)
	grantFoldList  = columnList("", grantFoldColumns)
	grantFoldListE = columnList("e.", grantFoldColumns)
)

// columnList joins cols, each prefixed with alias (e.g. "e.").
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

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanRecord reads one row selected with recordList, without decoding the
// JSON payload.
func scanRecord(s scanner) (Record, error) {
	rec, _, err := scanRecordAfter(s)
	return rec, err
}

// scanRecordAfter reads one row selected with the columns of lead (scanned
// into its pointers) then recordList, and also returns the message id as
// stored (NULL or not).
func scanRecordAfter(s scanner, lead ...any) (Record, sql.NullString, error) {
	var rec Record
	var messageID sql.NullString
	var raw []byte
	e, err := scanEvent(s, append(lead, &rec.Seq), []any{&rec.ReceivedAt, &rec.Source, &messageID, &raw, &rec.sealed})
	if err != nil {
		var damaged *domain.Error
		if errors.As(err, &damaged) {
			return Record{}, messageID, fmt.Errorf("seq %d: %w", rec.Seq, err)
		}
		return Record{}, messageID, err
	}
	e.Raw = raw
	rec.stored, rec.storedSealed = raw, rec.sealed
	rec.MessageID = messageID.String
	rec.Event = e
	return rec, messageID, nil
}

// scanEvent reads the columns of before (scanned into its pointers), the
// foldList columns of one row, then the columns of after. The event has no
// Raw payload. A stored id that is not 16 bytes is an internal error naming
// the event and the column.
func scanEvent(s scanner, before, after []any) (*domain.Event, error) {
	return newEventScan(allFold, before, after, false).scan(s)
}

// eventScan holds the destinations of scanEvent's columns, so that a loop
// over many rows (a rebuild reads every event) allocates them once, not
// once a row.
type eventScan struct {
	dest                                  []any
	grantOnly                             bool // the columns are grantFold's
	typ                                   string
	occurred, created                     int64
	eventID, workspaceID, methodID, grant []byte
	grantIDs                              []byte
	keys, code, grantKey, starts, ends    sql.NullString
	isBackup                              sql.NullBool
}

// newEventScan returns the destinations of before, the columns of cols
// (with grantFold, the events carry only what a grant's fold reads) and
// after. A loop over *sql.Rows passes loop: the id columns are then scanned
// as sql.RawBytes, the driver's own bytes, which scan copies into the event
// before the next row (each copy made by database/sql was one allocation
// an id: 1.4 of a rebuild's 9.1 million at 200k events). A *sql.Row
// refuses RawBytes.
func newEventScan(cols foldCols, before, after []any, loop bool) *eventScan {
	es := &eventScan{grantOnly: cols.grantOnly}
	es.dest = make([]any, 0, len(before)+len(cols.names)+len(after))
	es.dest = append(es.dest, before...)
	for _, c := range cols.names {
		es.dest = append(es.dest, es.field(c, loop))
	}
	es.dest = append(es.dest, after...)
	return es
}

// field returns the destination of fold column col.
func (es *eventScan) field(col string, loop bool) any {
	id := func(b *[]byte) any {
		if loop {
			return (*sql.RawBytes)(b)
		}
		return b
	}
	switch col {
	case "event_id":
		return id(&es.eventID)
	case "event_type":
		return &es.typ
	case "workspace_id":
		return id(&es.workspaceID)
	case "occurred_at":
		return &es.occurred
	case "created_at":
		return &es.created
	case "access_method_id":
		return id(&es.methodID)
	case "access_grant_id":
		return id(&es.grant)
	case "access_grant_ids":
		return id(&es.grantIDs)
	case "access_grant_keys":
		return &es.keys
	case "has_code":
		return &es.code
	case "is_backup_code":
		return &es.isBackup
	case "access_grant_key":
		return &es.grantKey
	case "starts_at":
		return &es.starts
	case "ends_at":
		return &es.ends
	}
	panic("store: no fold column " + col)
}

// scan reads one row into a new event (see scanEvent).
func (es *eventScan) scan(s scanner) (*domain.Event, error) {
	if err := s.Scan(es.dest...); err != nil {
		return nil, err
	}
	e := &domain.Event{Type: es.typ, OccurredAt: es.occurred, CreatedAt: es.created}
	var ok bool
	if e.ID, ok = domain.IDFromBytes(es.eventID); !ok {
		return nil, damagedID("an event", "event_id", len(es.eventID))
	}
	var err error
	if !es.grantOnly {
		if e.WorkspaceID, err = storedID(e, "workspace_id", es.workspaceID, false); err != nil {
			return nil, err
		}
		if e.AccessMethodID, err = storedID(e, "access_method_id", es.methodID, true); err != nil {
			return nil, err
		}
		// The code's value is sealed (rows written before codes were
		// sealed hold it in clear here, until their first writing open
		// seals them).
		e.CodeSealed = es.code.Valid
		if es.isBackup.Valid {
			b := es.isBackup.Bool
			e.IsBackupCode = &b
		}
	}
	if e.AccessGrantID, err = storedID(e, "access_grant_id", es.grant, true); err != nil {
		return nil, err
	}
	if e.AccessGrantIDs, ok = unpackIDs(es.grantIDs); !ok {
		return nil, damagedID("event "+e.ID.String(), "access_grant_ids", len(es.grantIDs))
	}
	if es.keys.Valid {
		if e.AccessGrantKeys, err = decodeStrings(es.keys.String); err != nil {
			return nil, fmt.Errorf("event %s: decode access_grant_keys: %w", e.ID, err)
		}
	}
	e.AccessGrantKey = nullString(es.grantKey)
	e.StartsAt = nullString(es.starts)
	e.EndsAt = nullString(es.ends)
	return e, nil
}

// storedID decodes the id column col of e's row; a NULL (in a nullable
// column) is the zero id.
func storedID(e *domain.Event, col string, b []byte, nullable bool) (domain.ID, error) {
	if b == nil && nullable {
		return domain.ID{}, nil
	}
	id, ok := domain.IDFromBytes(b)
	if !ok {
		return id, damagedID("event "+e.ID.String(), col, len(b))
	}
	return id, nil
}

// damagedID is the error for a stored id of the wrong size.
func damagedID(row, col string, n int) error {
	return domain.Errorf(domain.EInternal, "%s in the log has a %s of %d bytes, not 16-byte ids: the database is damaged, restore it from a backup",
		row, col, n)
}

// unpackIDs splits packed 16-byte ids; ok is false when b is not a whole
// number of them.
func unpackIDs(b []byte) (ids []domain.ID, ok bool) {
	if len(b) == 0 {
		return nil, true
	}
	if len(b)%16 != 0 {
		return nil, false
	}
	ids = make([]domain.ID, len(b)/16)
	for i := range ids {
		copy(ids[i][:], b[i*16:])
	}
	return ids, true
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
