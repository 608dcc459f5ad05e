package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/store"
)

// Apply folds records just appended (in seq order) into the live read model,
// inside the append transaction tx, and moves the checkpoint. The fold is
// carried across every Apply of one transaction (an ingest appends many
// chunks in one): each call folds its records into the states in memory,
// and the rows are written once, just before the commit, so a method
// touched by many chunks is written once.
func (p *Projection) Apply(ctx context.Context, tx *store.Tx, recs []store.Record) error {
	if len(recs) == 0 {
		return nil
	}
	f := tx.Local(txFoldKey{}, func() any {
		if epoch := tx.ExternalEpoch(); epoch != p.cacheEpoch {
			p.cache.clear() // another process wrote since the cache was filled
			p.cacheEpoch = epoch
		}
		f := &txFold{a: newApplier(tx, live)}
		f.a.cache = &p.cache
		// Appends finish once begun: the final write does not stop halfway.
		wctx := context.WithoutCancel(ctx)
		tx.BeforeCommit(func() error {
			if err := f.a.write(wctx); err != nil {
				return fmt.Errorf("fold: %w", err)
			}
			return setMeta(wctx, tx, "checkpoint", f.last)
		})
		return f
	}).(*txFold)
	for _, rec := range recs {
		if err := f.a.add(ctx, rec.Event); err != nil {
			return fmt.Errorf("fold: %w", err)
		}
	}
	if err := f.a.fold(ctx); err != nil {
		return fmt.Errorf("fold: %w", err)
	}
	f.last = recs[len(recs)-1].Seq
	return nil
}

// txFoldKey keys a transaction's txFold (store.Tx.Local).
type txFoldKey struct{}

// txFold is the live fold of one write transaction.
type txFold struct {
	a    *applier
	last int64 // seq of the last record folded: the checkpoint
}

// tables names one set of read-model tables: the live ones or a rebuild's.
type tables struct {
	suffix string // "" for the live tables
	sql    map[string]string
}

var live = newTables("")

func newTables(suffix string) *tables {
	t := &tables{suffix: suffix, sql: map[string]string{}}
	r := strings.NewReplacer("@t", suffix)
	for name, q := range statements {
		t.sql[name] = r.Replace(q)
	}
	return t
}

var statements = map[string]string{
	"loadMethod": `SELECT state, last_occurred_at, last_created_at, last_event_id FROM access_methods@t WHERE stream = ?`,
	"saveMethod": `INSERT INTO access_methods@t (` + methodRowColumns + `) VALUES ` + store.Placeholders(methodCols, 1) + `
		ON CONFLICT (stream) DO UPDATE SET workspace_id = excluded.workspace_id, status = excluded.status,
		mode = excluded.mode, is_issued = excluded.is_issued, last_occurred_at = excluded.last_occurred_at,
		last_created_at = excluded.last_created_at, last_event_id = excluded.last_event_id, state = excluded.state`,
	"deleteGrantLinks": `DELETE FROM access_method_grants@t WHERE access_method_id = ?`,
	"deleteKeyLinks":   `DELETE FROM access_method_keys@t WHERE access_method_id = ?`,
	"linkGrant":        `INSERT INTO access_method_grants@t (access_grant_id, access_method_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
	"linkKey":          `INSERT INTO access_method_keys@t (access_grant_key, access_method_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
	"loadGrant":        `SELECT state FROM access_grants@t WHERE stream = ?`,
	"saveGrant": `INSERT INTO access_grants@t (stream, access_grant_id, state) VALUES (?, ?, ?)
		ON CONFLICT (stream) DO UPDATE SET state = excluded.state`,
	// A rebuild's writes into its new tables (the rows' placeholders follow).
	"insertMethods":    `INSERT INTO access_methods@t (` + methodRowColumns + `) VALUES `,
	"insertGrantLinks": `INSERT INTO access_method_grants@t (access_grant_id, access_method_id) VALUES `,
	"insertKeyLinks":   `INSERT INTO access_method_keys@t (access_grant_key, access_method_id) VALUES `,
	"insertGrants":     `INSERT INTO access_grants@t (stream, access_grant_id, state) VALUES `,
}

// methodRowColumns are an access_methods row's columns, in methodArgs'
// order; methodCols counts them.
const methodRowColumns = `stream, access_method_id, workspace_id, status, mode, is_issued,
	last_occurred_at, last_created_at, last_event_id, state`

var methodCols = strings.Count(methodRowColumns, ",") + 1

// methodArgs are the values of the access_methods row of s: stream, its
// columns and its encoded state.
func methodArgs(stream int64, s *domain.AccessMethod, state []byte) []any {
	return []any{stream, s.AccessMethodID[:], s.WorkspaceID[:], s.Status, s.Mode, s.IsIssued,
		s.LastKey.OccurredAt, s.LastKey.CreatedAt, s.LastKey.EventID[:], state}
}

// applier folds a batch of records into one set of tables inside a write
// transaction. Each method touched is loaded once, folded, and written once.
type applier struct {
	tx      *store.Tx
	t       *tables
	cache   *stateCache // nil: no cache (rebuild tables)
	methods map[domain.ID]*methodEntry
	grants  map[domain.ID]*grantEntry
}

type methodEntry struct {
	stream  int64
	state   *domain.AccessMethod // nil: no row yet
	pending []*domain.Event      // added, not yet folded into state
	linked  int                  // grant ids + keys already linked (from the cache), -1 unknown
	refold  bool                 // state was refolded from the log: its links are rewritten
}

type grantEntry struct {
	stream int64
	state  *domain.AccessGrant
}

func newApplier(tx *store.Tx, t *tables) *applier {
	return &applier{tx: tx, t: t,
		methods: map[domain.ID]*methodEntry{}, grants: map[domain.ID]*grantEntry{}}
}

// exec runs the named statement (compiled once per connection: the
// driver's statement cache).
func (a *applier) exec(ctx context.Context, name string, args ...any) error {
	ctx, err := a.tx.Short(ctx)
	if err != nil {
		return err
	}
	if _, err := a.tx.ExecContext(ctx, a.t.sql[name], args...); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// apply folds recs, writes the rows and the checkpoint (a rebuild's tail).
func (a *applier) apply(ctx context.Context, recs []store.Record) error {
	for _, rec := range recs {
		if err := a.add(ctx, rec.Event); err != nil {
			return err
		}
	}
	if err := a.fold(ctx); err != nil {
		return err
	}
	if err := a.write(ctx); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	return setMeta(ctx, a.tx, "checkpoint", recs[len(recs)-1].Seq)
}

// add queues one event for its method and folds it into its grants.
func (a *applier) add(ctx context.Context, e *domain.Event) error {
	if e.IsMethodEvent() && domain.Folds(e.Type) {
		m, err := a.method(ctx, e.AccessMethodID)
		if err != nil {
			return err
		}
		m.pending = append(m.pending, e)
	}
	for _, id := range e.GrantIDs() {
		g, err := a.grant(ctx, id)
		if err != nil {
			return err
		}
		g.state.Apply(e)
	}
	return nil
}

func (a *applier) method(ctx context.Context, id domain.ID) (*methodEntry, error) {
	if m, ok := a.methods[id]; ok {
		return m, nil
	}
	stream, err := a.tx.Stream(ctx, store.KindMethod, id)
	if err != nil {
		return nil, err
	}
	m := &methodEntry{stream: stream, linked: -1}
	if a.cache != nil {
		if m.state = a.cache.method(stream); m.state != nil {
			m.linked = len(m.state.AccessGrantIDs) + len(m.state.AccessGrantKeys)
			a.methods[id] = m
			return m, nil
		}
	}
	var state, eventID []byte
	var occ, created int64
	short, err := a.tx.Short(ctx)
	if err != nil {
		return nil, err
	}
	err = a.tx.QueryRowContext(short, a.t.sql["loadMethod"], stream).Scan(&state, &occ, &created, &eventID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("load access method %s: %w", id, err)
	default:
		if m.state, err = decodeMethod(state, occ, created, eventID); err != nil {
			return nil, err
		}
	}
	a.methods[id] = m
	return m, nil
}

func (a *applier) grant(ctx context.Context, id domain.ID) (*grantEntry, error) {
	if g, ok := a.grants[id]; ok {
		return g, nil
	}
	stream, err := a.tx.Stream(ctx, store.KindGrant, id)
	if err != nil {
		return nil, err
	}
	g := &grantEntry{stream: stream}
	if a.cache != nil {
		if g.state = a.cache.grant(stream); g.state != nil {
			a.grants[id] = g
			return g, nil
		}
	}
	var state []byte
	short, err := a.tx.Short(ctx)
	if err != nil {
		return nil, err
	}
	err = a.tx.QueryRowContext(short, a.t.sql["loadGrant"], stream).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		g.state = domain.NewAccessGrant(id)
	case err != nil:
		return nil, fmt.Errorf("load access grant %s: %w", id, err)
	default:
		if g.state, err = decodeGrant(state); err != nil {
			return nil, err
		}
	}
	a.grants[id] = g
	return g, nil
}

// fold folds each touched method's pending events into its state in
// memory: incrementally when they all sort after the last one folded, else
// from all its events in the log (which holds this transaction's rows).
func (a *applier) fold(ctx context.Context) error {
	for id, m := range a.methods {
		if len(m.pending) == 0 {
			continue
		}
		sort.Slice(m.pending, func(i, j int) bool { return m.pending[i].Key().Compare(m.pending[j].Key()) < 0 })
		if m.state != nil && m.pending[0].Key().Compare(m.state.LastKey) <= 0 {
			events, err := a.tx.Log().FoldEvents(ctx, m.stream, nil)
			if err != nil {
				return err
			}
			m.state, m.refold = domain.FoldAccessMethod(events), true
		} else {
			if m.state == nil {
				m.state = domain.NewAccessMethod(id, m.pending[0].WorkspaceID)
			}
			for _, e := range m.pending {
				m.state.Apply(e)
			}
		}
		m.pending = m.pending[:0]
	}
	return nil
}

// write writes the rows of every method and grant folded, and hands their
// states to the cache once the transaction commits.
func (a *applier) write(ctx context.Context) error {
	for _, m := range a.methods {
		// Links only grow between refolds: skip them when none were added.
		links := len(m.state.AccessGrantIDs) + len(m.state.AccessGrantKeys)
		if err := a.saveMethod(ctx, m.stream, m.state, m.refold, m.refold || links != m.linked); err != nil {
			return err
		}
	}
	for id, g := range a.grants {
		if err := a.exec(ctx, "saveGrant", g.stream, id[:], encodeGrant(g.state)); err != nil {
			return err
		}
	}
	if a.cache != nil {
		methods := make(map[int64]*domain.AccessMethod, len(a.methods))
		for _, m := range a.methods {
			methods[m.stream] = m.state
		}
		grants := make(map[int64]*domain.AccessGrant, len(a.grants))
		for _, g := range a.grants {
			grants[g.stream] = g.state
		}
		a.tx.OnCommit(func() { a.cache.put(methods, grants) })
	}
	return nil
}

// saveMethod writes a method's row and its grant and key links; relink
// first removes links a refold may have dropped, and link false skips
// writing the links (known to be there).
func (a *applier) saveMethod(ctx context.Context, stream int64, s *domain.AccessMethod, relink, link bool) error {
	id := s.AccessMethodID
	err := a.exec(ctx, "saveMethod", methodArgs(stream, s, encodeMethod(s))...)
	if err != nil {
		return err
	}
	if relink {
		if err := a.exec(ctx, "deleteGrantLinks", id[:]); err != nil {
			return err
		}
		if err := a.exec(ctx, "deleteKeyLinks", id[:]); err != nil {
			return err
		}
	}
	if !link {
		return nil
	}
	for _, g := range s.AccessGrantIDs {
		if err := a.exec(ctx, "linkGrant", g[:], id[:]); err != nil {
			return err
		}
	}
	for _, k := range s.AccessGrantKeys {
		if err := a.exec(ctx, "linkKey", k, id[:]); err != nil {
			return err
		}
	}
	return nil
}
