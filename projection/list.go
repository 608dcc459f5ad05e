package projection

import (
	"context"
	"fmt"
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
	return p.db.Log().MethodEvents(ctx, id, f)
}

// MaxScan is how many seqs of the log one Events call with an event type
// examines at most: store.MaxScan.
const MaxScan = store.MaxScan

// EventFilter selects and pages the log for Events: see store.EventFilter.
type EventFilter = store.EventFilter

// EventPage is what Events read: see store.EventPage.
type EventPage = store.EventPage

// Events returns logged events with seq > f.After in seq order, only those
// of f.EventType when it is not empty. With a type, it examines the seqs
// after f.After up to f.MaxScan of them: a page may hold fewer than
// f.Limit records, even none, with ScannedTo telling where to continue.
// Errors: internal only.
func (p *Projection) Events(ctx context.Context, f EventFilter) (EventPage, error) {
	return p.db.Log().Events(ctx, f)
}

// PayloadBytes is the sum of the records' payload sizes: what MaxBytes (of
// EventFilter and HistoryFilter) bounds.
func PayloadBytes(recs []store.Record) int { return store.PayloadBytes(recs) }

// LogHead returns the log's chain head: the last seq and its hash, which
// covers every event up to it (seq 0 and the zero hash for an empty log).
// Errors: internal.
func (p *Projection) LogHead(ctx context.Context) (store.ChainHead, error) {
	return p.db.Log().ChainHead(ctx)
}

// Event returns one logged event by its event_id. Errors: not_found.
func (p *Projection) Event(ctx context.Context, id domain.ID) (store.Record, error) {
	return p.db.Log().Event(ctx, id)
}

// Lag is how far the read model is behind the log.
type Lag struct {
	LogSeq        int64 // the highest seq in the log (0 when empty)
	ProjectionSeq int64 // the last seq folded into the read model
}

// CaughtUp reports whether every logged event is folded.
func (l Lag) CaughtUp() bool { return l.ProjectionSeq >= l.LogSeq }

// Lag reads the log head and the projection checkpoint in one snapshot, so
// the two are consistent with each other. Errors:
// internal (the database is unreachable).
func (p *Projection) Lag(ctx context.Context) (Lag, error) {
	var l Lag
	err := p.db.View(ctx, func(s *store.Snapshot) error {
		var err error
		if l.LogSeq, err = s.Log().LastSeq(ctx); err != nil {
			return err
		}
		l.ProjectionSeq, err = p.meta(ctx, s, "checkpoint")
		return err
	})
	if err != nil {
		return Lag{}, fmt.Errorf("read projection lag: %w", err)
	}
	return l, nil
}
