package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/store"
)

// AccessGrant returns the summary of a grant, with its access methods.
// Errors: not_found.
func (p *Projection) AccessGrant(ctx context.Context, id domain.ID) (*domain.AccessGrant, error) {
	var state []byte
	err := p.db.Reader().QueryRowContext(ctx, `SELECT state FROM access_grants WHERE access_grant_id = ?`, id[:]).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.Errorf(domain.ENotFound, "access grant %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read access grant %s: %w", id, err)
	}
	g, err := decodeGrant(state)
	if err != nil {
		return nil, err
	}
	rows, err := p.db.Reader().QueryContext(ctx, `SELECT m.access_method_id, m.status, m.is_issued
		FROM access_method_grants l JOIN access_methods m ON m.access_method_id = l.access_method_id
		WHERE l.access_grant_id = ? ORDER BY l.access_method_id`, id[:])
	if err != nil {
		return nil, fmt.Errorf("read access grant %s methods: %w", id, err)
	}
	defer rows.Close()
	g.AccessMethods = []domain.GrantMethod{}
	for rows.Next() {
		var m domain.GrantMethod
		var mid []byte
		if err := rows.Scan(&mid, &m.Status, &m.IsIssued); err != nil {
			return nil, fmt.Errorf("read access grant %s methods: %w", id, err)
		}
		m.AccessMethodID, _ = domain.IDFromBytes(mid)
		g.AccessMethods = append(g.AccessMethods, m)
	}
	return g, rows.Err()
}

// HistoryFilter narrows a grant's history.
type HistoryFilter struct {
	Since, Until *int64      // occurred_at bounds: since inclusive, until exclusive
	EventType    string      // only this type when not empty
	After        *domain.Key // the page cursor: events strictly after this key
	Limit        int         // 0: all
	MaxBytes     int         // when positive, stop after the event that brings the payload bytes to it (see EventFilter)
}

// GrantHistory returns a grant's events in fold order (SPEC §3.5).
// Errors: not_found when the grant has no events at all.
func (p *Projection) GrantHistory(ctx context.Context, id domain.ID, f HistoryFilter) ([]store.Record, error) {
	stream, err := store.LookupStream(ctx, p.db.Reader(), store.KindGrant, id)
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + store.RecordColumns("e.") + ` FROM event_grants g JOIN events e ON e.seq = g.seq WHERE g.grant_stream = ?`
	args := []any{stream}
	if f.Since != nil {
		q += ` AND g.occurred_at >= ?`
		args = append(args, *f.Since)
	}
	if f.Until != nil {
		q += ` AND g.occurred_at < ?`
		args = append(args, *f.Until)
	}
	if f.After != nil {
		q += ` AND (g.occurred_at, g.created_at, g.event_id) > (?, ?, ?)`
		args = append(args, f.After.OccurredAt, f.After.CreatedAt, f.After.EventID[:])
	}
	if f.EventType != "" {
		q += ` AND e.event_type = ?`
		args = append(args, f.EventType)
	}
	q += ` ORDER BY g.occurred_at, g.created_at, g.event_id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return p.queryRecords(ctx, f.MaxBytes, q, args...)
}
