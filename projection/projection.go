// Package projection is amtrack's read model: the state of every access
// method and the summary of every grant, folded from the log in the same
// transaction as the append, rebuildable and verifiable at any time.
package projection

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/store"
)

// SchemaVersion is the version of the read model's shape and fold rules.
// Opening a database whose projection has another version rebuilds it.
const SchemaVersion = 1

//go:embed schema.sql
var schemaSQL string

// Projection is the read model over a store.DB.
type Projection struct {
	db    *store.DB
	cache stateCache
}

var _ store.ApplyFunc = (*Projection)(nil).Apply

// Open returns the projection of db, creating or rebuilding it when it is
// missing or has another SchemaVersion (waiting for a rebuild another
// process is running).
func Open(ctx context.Context, db *store.DB) (*Projection, error) {
	p := &Projection{db: db}
	err := db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS projection_meta (
			key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open projection: %w", err)
	}
	// Another process opening the same stale database at the same time
	// (two commands started after an upgrade) may be rebuilding it: wait
	// for that rebuild, then check again.
	for {
		v, err := p.meta(ctx, db.Reader(), "schema_version")
		if err != nil {
			return nil, err
		}
		if v == SchemaVersion {
			return p, nil
		}
		_, err = p.Rebuild(ctx, nil)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, ErrRebuildRunning) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open projection: wait for the running rebuild: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// OpenReadOnly returns the projection of db (typically from
// store.OpenReadOnly) for queries only: it never creates or rebuilds the read
// model, and refuses, with an invalid_input error saying to run amtrack
// rebuild, a read model that is missing or has another SchemaVersion.
func OpenReadOnly(ctx context.Context, db *store.DB) (*Projection, error) {
	p := &Projection{db: db}
	var n int
	if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'projection_meta'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("open projection: %w", err)
	}
	var v int64
	if n > 0 {
		var err error
		if v, err = p.meta(ctx, db.Reader(), "schema_version"); err != nil {
			return nil, err
		}
	}
	if v != SchemaVersion {
		what := "has no read model"
		if v != 0 {
			what = fmt.Sprintf("has a read model of version %d, this amtrack reads version %d", v, SchemaVersion)
		}
		return nil, domain.Errorf(domain.EInvalid, "the database at %s %s: run amtrack rebuild --db %s (or serve or ingest) to build it",
			db.Path(), what, db.Path())
	}
	return p, nil
}

// DB returns the underlying database.
func (p *Projection) DB() *store.DB { return p.db }

// Append appends a batch to the log and folds it, in one transaction.
func (p *Projection) Append(ctx context.Context, batch []store.Pending) ([]store.Outcome, error) {
	return p.db.Append(ctx, batch, p.Apply)
}

// Apply folds records just appended (in seq order) into the live read model,
// inside the append transaction tx, and moves the checkpoint.
func (p *Projection) Apply(ctx context.Context, tx *store.Tx, recs []store.Record) error {
	if tx.ExternalChange() {
		p.cache.clear()
	}
	a := newApplier(tx, live)
	a.cache = &p.cache
	if err := a.apply(ctx, recs); err != nil {
		return fmt.Errorf("fold: %w", err)
	}
	return nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// meta reads an integer from projection_meta (0 when unset).
func (p *Projection) meta(ctx context.Context, q queryRower, key string) (int64, error) {
	var v int64
	err := q.QueryRowContext(ctx, `SELECT value FROM projection_meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read projection %s: %w", key, err)
	}
	return v, nil
}

func setMeta(ctx context.Context, tx *store.Tx, key string, v int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO projection_meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, v)
	if err != nil {
		return fmt.Errorf("write projection %s: %w", key, err)
	}
	return nil
}

// Checkpoint returns the last seq folded into the live read model.
func (p *Projection) Checkpoint(ctx context.Context) (int64, error) {
	return p.meta(ctx, p.db.Reader(), "checkpoint")
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
	"saveMethod": `INSERT INTO access_methods@t (stream, access_method_id, workspace_id, status, mode, is_issued,
		last_occurred_at, last_created_at, last_event_id, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (stream) DO UPDATE SET workspace_id = excluded.workspace_id, status = excluded.status,
		mode = excluded.mode, is_issued = excluded.is_issued, last_occurred_at = excluded.last_occurred_at,
		last_created_at = excluded.last_created_at, last_event_id = excluded.last_event_id, state = excluded.state`,
	"deleteGrantLinks": `DELETE FROM access_method_grants@t WHERE access_method_id = ?`,
	"deleteKeyLinks":   `DELETE FROM access_method_keys@t WHERE access_method_id = ?`,
	"linkGrant":        `INSERT OR IGNORE INTO access_method_grants@t (access_grant_id, access_method_id) VALUES (?, ?)`,
	"linkKey":          `INSERT OR IGNORE INTO access_method_keys@t (access_grant_key, access_method_id) VALUES (?, ?)`,
	"loadGrant":        `SELECT state FROM access_grants@t WHERE stream = ?`,
	"saveGrant": `INSERT INTO access_grants@t (stream, access_grant_id, state) VALUES (?, ?, ?)
		ON CONFLICT (stream) DO UPDATE SET state = excluded.state`,
}

// storedGrant is how a grant summary is kept: the summary and its fold bookkeeping.
type storedGrant struct {
	Summary    *domain.AccessGrant `json:"summary"`
	StartsKey  *domain.Key         `json:"starts_key,omitempty"`
	EndsKey    *domain.Key         `json:"ends_key,omitempty"`
	DeletedKey *domain.Key         `json:"deleted_key,omitempty"`
}

func encodeGrant(g *domain.AccessGrant) ([]byte, error) {
	methods := g.AccessMethods
	g.AccessMethods = []domain.GrantMethod{} // derived at query time
	b, err := json.Marshal(storedGrant{Summary: g, StartsKey: g.StartsKey, EndsKey: g.EndsKey, DeletedKey: g.DeletedKey})
	g.AccessMethods = methods
	return b, err
}

func decodeGrant(b []byte) (*domain.AccessGrant, error) {
	var s storedGrant
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode grant summary: %w", err)
	}
	s.Summary.StartsKey, s.Summary.EndsKey, s.Summary.DeletedKey = s.StartsKey, s.EndsKey, s.DeletedKey
	return s.Summary, nil
}

func decodeMethod(state []byte, occ, created int64, eventID []byte) (*domain.AccessMethod, error) {
	var s domain.AccessMethod
	if err := json.Unmarshal(state, &s); err != nil {
		return nil, fmt.Errorf("decode access method state: %w", err)
	}
	id, _ := domain.IDFromBytes(eventID)
	s.LastKey = domain.Key{OccurredAt: occ, CreatedAt: created, EventID: id}
	return &s, nil
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
	pending []*domain.Event
	linked  int // grant ids + keys already linked (from the cache), -1 unknown
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
	if _, err := a.tx.ExecContext(ctx, a.t.sql[name], args...); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// apply folds recs and writes the checkpoint.
func (a *applier) apply(ctx context.Context, recs []store.Record) error {
	for _, rec := range recs {
		if err := a.add(ctx, rec.Event); err != nil {
			return err
		}
	}
	if err := a.flush(ctx); err != nil {
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
	err = a.tx.QueryRowContext(ctx, a.t.sql["loadMethod"], stream).Scan(&state, &occ, &created, &eventID)
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
	err = a.tx.QueryRowContext(ctx, a.t.sql["loadGrant"], stream).Scan(&state)
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

// flush folds each touched method (incrementally when its new events all
// sort after the last one folded, else from all its events in the log) and
// writes methods and grants.
func (a *applier) flush(ctx context.Context) error {
	for id, m := range a.methods {
		sort.Slice(m.pending, func(i, j int) bool { return m.pending[i].Key().Compare(m.pending[j].Key()) < 0 })
		refold := m.state != nil && m.pending[0].Key().Compare(m.state.LastKey) <= 0
		if refold {
			events, err := methodEvents(ctx, a.tx, m.stream, nil)
			if err != nil {
				return err
			}
			m.state = domain.FoldAccessMethod(events)
		} else {
			if m.state == nil {
				m.state = domain.NewAccessMethod(id, m.pending[0].WorkspaceID)
			}
			for _, e := range m.pending {
				m.state.Apply(e)
			}
		}
		// Links only grow between refolds: skip them when none were added.
		links := len(m.state.AccessGrantIDs) + len(m.state.AccessGrantKeys)
		if err := a.saveMethod(ctx, m.stream, m.state, refold, refold || links != m.linked); err != nil {
			return err
		}
	}
	for id, g := range a.grants {
		b, err := encodeGrant(g.state)
		if err != nil {
			return err
		}
		if err := a.exec(ctx, "saveGrant", g.stream, id[:], b); err != nil {
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
// first removes links a refold may have dropped.
func (a *applier) saveMethod(ctx context.Context, stream int64, s *domain.AccessMethod, relink, link bool) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode access method state: %w", err)
	}
	return a.saveMethodJSON(ctx, stream, s, b, relink, link)
}

// saveMethodJSON is saveMethod with the state already encoded; link false
// skips writing the links (known to be there).
func (a *applier) saveMethodJSON(ctx context.Context, stream int64, s *domain.AccessMethod, b []byte, relink, link bool) error {
	id := s.AccessMethodID
	err := a.exec(ctx, "saveMethod", stream, id[:], s.WorkspaceID[:], s.Status, s.Mode, s.IsIssued,
		s.LastKey.OccurredAt, s.LastKey.CreatedAt, s.LastKey.EventID[:], b)
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

// methodEvents returns a method's events in fold order, only those with
// occurred_at <= *asOf when asOf is not nil.
func methodEvents(ctx context.Context, q store.Querier, stream int64, asOf *int64) ([]*domain.Event, error) {
	query := `SELECT ` + store.FoldColumns("") + ` FROM events WHERE method_stream = ?`
	args := []any{stream}
	if asOf != nil {
		query += ` AND occurred_at <= ?`
		args = append(args, *asOf)
	}
	query += ` ORDER BY occurred_at, created_at, event_id`
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read method events: %w", err)
	}
	defer rows.Close()
	var out []*domain.Event
	for rows.Next() {
		e, err := store.ScanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("read method events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// generationSuffix names a rebuild's tables.
func generationSuffix(gen int64) string { return "_g" + strconv.FormatInt(gen, 10) }
