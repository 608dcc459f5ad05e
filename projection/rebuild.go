package projection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/store"
)

// liveTables are the read-model tables, as rebuild drops and renames them.
var liveTables = []string{"access_methods", "access_method_grants", "access_method_keys", "access_grants"}

// rebuildChunk is the number of rows a rebuild writes per write transaction:
// small enough that appends interleave with the rebuild.
const rebuildChunk = 5000

// Stats describes a rebuild or a verification.
type Stats struct {
	Seq     int64 // last seq folded
	Events  int64 // events in the log up to Seq
	Methods int64 // access methods
	Grants  int64 // grants
}

// Progress is told how many of total rows a long operation has processed.
type Progress func(done, total int64)

// Rebuild folds the whole log into new tables while the live ones keep
// serving (reads and appends go on), then, holding the writer, folds the
// events appended meanwhile into the new tables and swaps them in with one
// short transaction.
func (p *Projection) Rebuild(ctx context.Context, progress Progress) (Stats, error) {
	var stats Stats
	gen, err := p.meta(ctx, p.db.Reader(), "generation")
	if err != nil {
		return stats, err
	}
	gen++
	suffix := generationSuffix(gen)
	t := newTables(suffix)
	if err := p.createTables(ctx, suffix); err != nil {
		return stats, err
	}

	// Fold the log up to its current head into the new tables: methods and
	// grants in parallel (they are independent), each writing its rows in
	// short write transactions of its own.
	if err := p.db.Reader().QueryRowContext(ctx, `SELECT coalesce(max(seq), 0), count(*) FROM events`).Scan(&stats.Seq, &stats.Events); err != nil {
		return stats, fmt.Errorf("rebuild: %w", err)
	}
	prog, err := newRowProgress(ctx, p.db.Reader(), progress, stats.Seq)
	if err != nil {
		return stats, fmt.Errorf("rebuild: %w", err)
	}
	// One goroutine writes the chunks both folds produce; the folds encode.
	chunks := make(chan []func(*applier) error, 1)
	written := make(chan error, 1)
	go func() {
		var err error
		for c := range chunks {
			if err == nil {
				err = p.writeChunk(ctx, t, c)
			}
		}
		written <- err
	}()
	var wg sync.WaitGroup
	var methodsErr, grantsErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		w := &chunkWriter{out: chunks}
		stats.Methods, methodsErr = foldMethods(ctx, p.db.Reader(), stats.Seq, prog, func(stream int64, s *domain.AccessMethod) error {
			b, err := json.Marshal(s)
			w.add(func(a *applier) error { return a.saveMethodJSON(ctx, stream, s, b, false, true) })
			return err
		})
		w.flush()
	}()
	go func() {
		defer wg.Done()
		w := &chunkWriter{out: chunks}
		stats.Grants, grantsErr = foldGrants(ctx, p.db.Reader(), stats.Seq, prog, func(stream int64, g *domain.AccessGrant) error {
			b, err := encodeGrant(g)
			w.add(func(a *applier) error { return a.exec(ctx, "saveGrant", stream, g.AccessGrantID[:], b) })
			return err
		})
		w.flush()
	}()
	wg.Wait()
	close(chunks)
	if err := errors.Join(methodsErr, grantsErr, <-written); err != nil {
		return stats, fmt.Errorf("rebuild: %w", err)
	}

	// Catch up with what was appended meanwhile and swap, holding the writer.
	err = p.db.Update(ctx, func(tx *store.Tx) error {
		tail, err := tailRecords(ctx, tx, stats.Seq)
		if err != nil {
			return err
		}
		if err := newApplier(tx, t).apply(ctx, tail); err != nil {
			return err
		}
		if n := len(tail); n > 0 {
			stats.Seq = tail[n-1].Seq
			stats.Events += int64(n)
		}
		for _, name := range liveTables {
			if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+name); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `ALTER TABLE `+name+suffix+` RENAME TO `+name); err != nil {
				return err
			}
		}
		tx.OnCommit(p.cache.clear)
		for k, v := range map[string]int64{"generation": gen, "schema_version": SchemaVersion, "checkpoint": stats.Seq} {
			if err := setMeta(ctx, tx, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("rebuild: swap: %w", err)
	}
	return stats, nil
}

// createTables creates an empty set of read-model tables named with suffix,
// dropping leftovers of an interrupted rebuild.
func (p *Projection) createTables(ctx context.Context, suffix string) error {
	ddl := strings.NewReplacer("@t", suffix, "@g", suffix).Replace(schemaSQL)
	err := p.db.Update(ctx, func(tx *store.Tx) error {
		for _, name := range liveTables {
			if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+name+suffix); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, ddl)
		return err
	})
	if err != nil {
		return fmt.Errorf("rebuild: create tables: %w", err)
	}
	return nil
}

// chunkWriter groups rebuilt rows into chunks for the writer goroutine.
type chunkWriter struct {
	out     chan<- []func(*applier) error
	pending []func(*applier) error
}

func (w *chunkWriter) add(fn func(*applier) error) {
	w.pending = append(w.pending, fn)
	if len(w.pending) >= rebuildChunk {
		w.flush()
	}
}

func (w *chunkWriter) flush() {
	if len(w.pending) > 0 {
		w.out <- w.pending
		w.pending = nil
	}
}

// writeChunk writes one chunk of rebuilt rows in a short write transaction,
// so appends interleave with the rebuild.
func (p *Projection) writeChunk(ctx context.Context, t *tables, chunk []func(*applier) error) error {
	return p.db.Update(ctx, func(tx *store.Tx) error {
		a := newApplier(tx, t)
		for _, fn := range chunk {
			if err := fn(a); err != nil {
				return err
			}
		}
		return nil
	})
}

func tailRecords(ctx context.Context, q store.Querier, after int64) ([]store.Record, error) {
	return store.QueryRecords(ctx, q, `SELECT `+store.RecordColumns("")+` FROM events WHERE seq > ? ORDER BY seq`, after)
}

// rowProgress counts rows scanned by foldMethods and foldGrants.
type rowProgress struct {
	fn    Progress
	total int64
	mu    sync.Mutex
	done  int64
}

func newRowProgress(ctx context.Context, q queryRower, fn Progress, maxSeq int64) (*rowProgress, error) {
	rp := &rowProgress{fn: fn}
	if fn == nil {
		return rp, nil
	}
	err := q.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM events WHERE method_stream IS NOT NULL AND seq <= ?)
		+ (SELECT count(*) FROM event_grants WHERE seq <= ?)`, maxSeq, maxSeq).Scan(&rp.total)
	return rp, err
}

func (rp *rowProgress) step() {
	if rp.fn == nil {
		return
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.done++
	if rp.done%4096 == 0 || rp.done == rp.total {
		rp.fn(rp.done, rp.total)
	}
}

// foldMethods folds every access method from the log, as q sees it up to
// maxSeq, in stream order, calling fn with each state. It returns the number
// of methods.
func foldMethods(ctx context.Context, q store.Querier, maxSeq int64, prog *rowProgress, fn func(stream int64, s *domain.AccessMethod) error) (int64, error) {
	var n int64
	err := scanStreams(ctx, q, `SELECT method_stream, `+store.FoldColumns("")+` FROM events
		WHERE method_stream IS NOT NULL AND seq <= ? ORDER BY method_stream, occurred_at, created_at, event_id`, maxSeq, prog,
		func(stream int64, events []*domain.Event) error {
			s := domain.FoldAccessMethod(events)
			if s == nil { // only types that do not fold
				return nil
			}
			n++
			return fn(stream, s)
		})
	if err != nil {
		return n, fmt.Errorf("scan method events: %w", err)
	}
	return n, nil
}

// foldGrants folds every grant summary from the log up to maxSeq, in stream
// order. It returns the number of grants.
func foldGrants(ctx context.Context, q store.Querier, maxSeq int64, prog *rowProgress, fn func(stream int64, g *domain.AccessGrant) error) (int64, error) {
	var n int64
	err := scanStreams(ctx, q, `SELECT g.grant_stream, `+store.FoldColumns("e.")+`
		FROM event_grants g JOIN events e ON e.seq = g.seq WHERE g.seq <= ?
		ORDER BY g.grant_stream, g.occurred_at, g.created_at, g.event_id`, maxSeq, prog,
		func(stream int64, events []*domain.Event) error {
			id, err := eventGrantID(ctx, q, stream, events[0])
			if err != nil {
				return err
			}
			g := domain.NewAccessGrant(id)
			for _, e := range events {
				g.Apply(e)
			}
			n++
			return fn(stream, g)
		})
	if err != nil {
		return n, fmt.Errorf("scan grant events: %w", err)
	}
	return n, nil
}

// scanStreams runs query (rows of a stream number then the fold columns,
// ordered by stream) and calls fn with each stream's events, one stream in
// memory at a time.
func scanStreams(ctx context.Context, q store.Querier, query string, maxSeq int64, prog *rowProgress,
	fn func(stream int64, events []*domain.Event) error) error {
	rows, err := q.QueryContext(ctx, query, maxSeq)
	if err != nil {
		return err
	}
	defer rows.Close()
	current := int64(-1)
	var events []*domain.Event
	for rows.Next() {
		var stream int64
		e, err := store.ScanEvent(rows, &stream)
		if err != nil {
			return err
		}
		prog.step()
		if stream != current && len(events) > 0 {
			if err := fn(current, events); err != nil {
				return err
			}
			events = events[:0]
		}
		current = stream
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(events) > 0 {
		return fn(current, events)
	}
	return nil
}

// eventGrantID returns the id of grant stream, read off e (an event of its
// history) when e names a single grant, else looked up.
func eventGrantID(ctx context.Context, q store.Querier, stream int64, e *domain.Event) (domain.ID, error) {
	if ids := e.GrantIDs(); len(ids) == 1 {
		return ids[0], nil
	}
	return grantID(ctx, q, stream)
}

func grantID(ctx context.Context, q store.Querier, stream int64) (domain.ID, error) {
	rows, err := q.QueryContext(ctx, `SELECT id FROM event_streams WHERE stream = ?`, stream)
	if err != nil {
		return domain.ID{}, fmt.Errorf("read grant stream: %w", err)
	}
	defer rows.Close()
	var b []byte
	if rows.Next() {
		if err := rows.Scan(&b); err != nil {
			return domain.ID{}, err
		}
	}
	id, ok := domain.IDFromBytes(b)
	if !ok {
		return id, fmt.Errorf("grant stream %d has no id", stream)
	}
	return id, rows.Err()
}
