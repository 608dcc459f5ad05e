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
	"time"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/store"
)

// SchemaVersion is the version of the read model's shape and fold rules
// (2: a method's state holds no code, only code_event_id).
// Opening a database whose projection has another version rebuilds it.
const SchemaVersion = 2

//go:embed schema.sql
var schemaSQL string

// Projection is the read model over a store.DB.
type Projection struct {
	db    *store.DB
	cache stateCache
	// cacheEpoch is the writer's ExternalEpoch when cache was last known
	// good; read and written inside write transactions only.
	cacheEpoch uint64
}

var _ store.ApplyFunc = (*Projection)(nil).Apply

// Open returns the projection of db, creating or rebuilding it when it is
// missing or has another SchemaVersion (waiting for a rebuild another
// process is running).
func Open(ctx context.Context, db *store.DB) (*Projection, error) {
	p := &Projection{db: db}
	err := db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, db.DDL(`CREATE TABLE IF NOT EXISTS projection_meta (
			key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`))
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
			db.LockInSnapshots(liveTables...)
			return p, p.compact(ctx)
		}
		_, err = p.Rebuild(ctx, nil)
		if err == nil {
			db.LockInSnapshots(liveTables...)
			return p, p.compact(ctx)
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
	has, err := db.HasTable(ctx, "projection_meta")
	if err != nil {
		return nil, fmt.Errorf("open projection: %w", err)
	}
	var v int64
	if has {
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
	db.LockInSnapshots(liveTables...)
	return p, nil
}

// compact runs the compaction the store asks for once codes were sealed in
// old rows, after the rebuild that dropped the old read model (which held
// the codes in its states): then no page of the file holds them.
func (p *Projection) compact(ctx context.Context) error {
	if err := p.db.Compact(ctx); err != nil {
		return fmt.Errorf("open projection: %w", err)
	}
	return nil
}

// DB returns the underlying database.
func (p *Projection) DB() *store.DB { return p.db }

// Append appends a batch to the log and folds it, in one transaction.
func (p *Projection) Append(ctx context.Context, batch []store.Pending) ([]store.Outcome, error) {
	return p.db.Append(ctx, batch, p.Apply)
}

// meta reads an integer from projection_meta (0 when unset).
func (p *Projection) meta(ctx context.Context, q store.Queryer, key string) (int64, error) {
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

// storedGrant is how a grant summary is kept: the summary and its fold bookkeeping.
type storedGrant struct {
	Summary    *domain.AccessGrant `json:"summary"`
	StartsKey  *domain.Key         `json:"starts_key,omitempty"`
	EndsKey    *domain.Key         `json:"ends_key,omitempty"`
	DeletedKey *domain.Key         `json:"deleted_key,omitempty"`
}

// encodeGrant encodes g as the read model stores it (storedGrant), without
// its access methods, which are derived at query time (appendGrant).
func encodeGrant(g *domain.AccessGrant) []byte {
	return appendGrant(make([]byte, 0, 512), g)
}

func decodeGrant(b []byte) (*domain.AccessGrant, error) {
	var s storedGrant
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode grant summary: %w", err)
	}
	s.Summary.StartsKey, s.Summary.EndsKey, s.Summary.DeletedKey = s.StartsKey, s.EndsKey, s.DeletedKey
	return s.Summary, nil
}

// storedMethod is how a method's state is kept: the JSON show prints,
// with code always null (the code is never stored in the read model) and
// code_event_id naming the event whose sealed code is current.
type storedMethod struct {
	*domain.AccessMethod
	CodeEventID *domain.ID `json:"code_event_id,omitempty"`
}

// encodeMethod encodes s as the read model stores it (storedMethod).
func encodeMethod(s *domain.AccessMethod) []byte {
	c := *s
	c.Code, c.CodeRedacted = nil, false
	return appendMethod(make([]byte, 0, 1024), &c, s.CodeEventID)
}

// decodeMethod decodes a method row's state and last fold key. Errors:
// internal, naming the method, when the row is damaged.
func decodeMethod(state []byte, occ, created int64, eventID []byte) (*domain.AccessMethod, error) {
	var s domain.AccessMethod
	stored := storedMethod{AccessMethod: &s}
	if err := json.Unmarshal(state, &stored); err != nil {
		return nil, fmt.Errorf("decode access method state: %w", err)
	}
	s.CodeEventID = stored.CodeEventID
	id, ok := domain.IDFromBytes(eventID)
	if !ok {
		return nil, damagedID("access method "+s.AccessMethodID.String(), "last_event_id", len(eventID))
	}
	s.LastKey = domain.Key{OccurredAt: occ, CreatedAt: created, EventID: id}
	return &s, nil
}

// damagedID is the error for an id of the wrong size stored in the read
// model.
func damagedID(row, col string, n int) error {
	return domain.Errorf(domain.EInternal, "%s in the read model has a %s of %d bytes, not a 16-byte id: run amtrack verify, then amtrack rebuild",
		row, col, n)
}
