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
		var ok bool
		if m.AccessMethodID, ok = domain.IDFromBytes(mid); !ok {
			return nil, damagedID("access grant "+id.String(), "access_method_id of a method", len(mid))
		}
		g.AccessMethods = append(g.AccessMethods, m)
	}
	return g, rows.Err()
}

// HistoryFilter narrows a grant's history or a method's events: see
// store.HistoryFilter.
type HistoryFilter = store.HistoryFilter

// GrantHistory returns a grant's events in fold order (docs/fold.md).
// Errors: not_found when the grant has no events at all.
func (p *Projection) GrantHistory(ctx context.Context, id domain.ID, f HistoryFilter) ([]store.Record, error) {
	return p.db.Log().GrantEvents(ctx, id, f)
}
