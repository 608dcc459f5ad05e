package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

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
	// Swap is how long the swap's transaction held the writer (appends
	// and webhooks waited that long): its last attempt, from its first
	// statement to its commit.
	Swap time.Duration
	// Hold is the longest the rebuild's other write transactions (a chunk
	// of rows, an index) held the writer, measured as Swap is.
	Hold time.Duration
}

// Progress is told how far a long operation has come: done of total (a
// rebuild's: events folded), total = done at the end.
type Progress func(done, total int64)

// RebuildStaleAfter is how long a rebuild's claim on the read model holds
// without a heartbeat. A running rebuild renews it every sixth of this; a
// claim older than this was left by a process that died (or stopped), and
// the next rebuild takes it over and drops its tables.
const RebuildStaleAfter = time.Minute

// ErrRebuildRunning is returned (wrapped, with the running rebuild's
// generation and start) by Rebuild when another rebuild, in this process or
// another, holds the claim on the read model. Its code is conflict.
var ErrRebuildRunning = domain.Errorf(domain.EConflict, "a rebuild is already running")

// errClaimLost is the cause of a rebuild stopped because another rebuild
// took its claim over (after its heartbeat went stale).
var errClaimLost = errors.New("another rebuild took this one's claim over (its heartbeat was older than " +
	RebuildStaleAfter.String() + "): run amtrack verify, and rebuild again if it fails")

// claimKeys are the projection_meta rows of a rebuild's claim: its
// generation, a random owner token, its start and its last heartbeat (Unix
// nanoseconds).
var claimKeys = []string{"rebuild_generation", "rebuild_owner", "rebuild_started", "rebuild_heartbeat"}

// claim is a rebuild's hold on a generation of tables.
type claim struct {
	gen   int64
	owner int64
}

// Rebuild folds the whole log into new tables while the live ones keep
// serving (reads and appends go on), then, holding the writer, folds the
// events appended meanwhile into the new tables and swaps them in with one
// short transaction.
//
// A rebuild first claims a new generation in a write transaction (rows in
// projection_meta, created with its tables), so two rebuilds, in one
// process or two, never share tables: the second returns ErrRebuildRunning.
// The claim is renewed while the rebuild runs; one not renewed for
// RebuildStaleAfter (its process died) is taken over by the next rebuild.
// A rebuild that fails or is canceled drops its tables and its claim.
func (p *Projection) Rebuild(ctx context.Context, progress Progress) (Stats, error) {
	var stats Stats
	c, err := p.claim(ctx)
	if err != nil {
		return stats, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	heartbeatDone := make(chan struct{})
	go func() {
		defer close(heartbeatDone)
		p.heartbeat(ctx, c, cancel)
	}()
	stats, err = p.rebuild(ctx, c, progress)
	cancel(nil)
	<-heartbeatDone
	if err == nil {
		return stats, nil
	}
	if errors.Is(context.Cause(ctx), errClaimLost) {
		err = errClaimLost
	}
	// Drop this rebuild's tables and claim, even when ctx was canceled.
	if rerr := p.release(context.WithoutCancel(ctx), c); errors.Is(rerr, errClaimLost) {
		err = errClaimLost
	}
	return stats, fmt.Errorf("rebuild: %w", err)
}

// rebuild is Rebuild once the claim c is held.
func (p *Projection) rebuild(ctx context.Context, c claim, progress Progress) (Stats, error) {
	var stats Stats
	suffix := generationSuffix(c.gen)
	t := newTables(suffix)

	// Fold the log up to its current head into the new tables: methods and
	// grants in parallel (they are independent), one goroutine writing the
	// rows of all in short write transactions. The first error stops them
	// all.
	log := p.db.Log()
	var err error
	if stats.Seq, err = log.LastSeq(ctx); err != nil {
		return stats, err
	}
	prog, err := newRowProgress(ctx, log, progress, stats.Seq)
	if err != nil {
		return stats, err
	}
	// The grants' read is the longest of the fold's. Without a sorted copy
	// (the file in the cache, or PostgreSQL) it is split in two halves of
	// the stream numbers, read at once, so that both cores stay busy to the
	// end.
	reads := []grantRead{log.GrantStreams}
	if !log.SortedReads() {
		last, err := log.LastStream(ctx)
		if err != nil {
			return stats, err
		}
		reads = []grantRead{halfGrants(log, 0, last/2), halfGrants(log, last/2, math.MaxInt64)}
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	// One goroutine writes the chunks the folds produce; the folds encode.
	chunks := make(chan []rebuiltRow, 1)
	written := make(chan error, 1)
	go func() {
		var err error
		for c := range chunks {
			if err == nil {
				if err = p.writeChunk(ctx, t, c, &stats); err != nil {
					stop(err)
				}
			}
		}
		written <- err
	}()
	var wg sync.WaitGroup
	var methodsErr error
	// With sorted reads, the grants' fold begins once the methods' has read
	// its first method: each first copies the log from the disk in seq
	// order, and the methods' copy, which reads only the events table, goes
	// first so that the grants' finds it in the cache. Otherwise both begin
	// at once (the methods' sort takes a while before its first row).
	methodsRead := make(chan struct{})
	methodsBegun := sync.OnceFunc(func() { close(methodsRead) })
	if !log.SortedReads() {
		methodsBegun()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer methodsBegun()
		w := &chunkWriter{out: chunks}
		stats.Methods, methodsErr = foldMethods(ctx, log, stats.Seq, prog, func(stream int64, s *domain.AccessMethod) error {
			methodsBegun()
			w.add(rebuiltRow{stream: stream, method: s, state: encodeMethod(s)})
			return nil
		})
		if methodsErr != nil {
			stop(methodsErr)
		}
		w.flush()
	}()
	grants := make([]int64, len(reads))
	grantsErrs := make([]error, len(reads))
	wg.Add(len(reads) - 1)
	for i, read := range reads {
		go func() {
			defer wg.Done()
			select {
			case <-methodsRead:
			case <-ctx.Done():
				grantsErrs[i] = context.Cause(ctx)
				return
			}
			w := &chunkWriter{out: chunks}
			grants[i], grantsErrs[i] = foldGrants(ctx, read, stats.Seq, prog, func(stream int64, g *domain.AccessGrant) error {
				w.add(rebuiltRow{stream: stream, grant: g.AccessGrantID, state: encodeGrant(g)})
				return nil
			})
			if grantsErrs[i] != nil {
				stop(grantsErrs[i])
			}
			w.flush()
		}()
	}
	wg.Wait()
	close(chunks)
	for _, n := range grants {
		stats.Grants += n
	}
	if err := firstError(append(append([]error{methodsErr}, grantsErrs...), <-written)...); err != nil {
		return stats, err
	}
	// The new tables' secondary indexes, built once the rows are in: a
	// sorted build each, where rows inserted in stream order would put
	// random keys into indexes that already exist, and every chunk's commit
	// would write most of their pages again (2 s of a million-event
	// rebuild's 8, docs/performance.md).
	if err := p.buildIndexes(ctx, suffix, &stats); err != nil {
		return stats, err
	}
	// After the fold: a sorted read counted the events as it copied them,
	// and a count that walks an index must not hold a snapshot while the
	// fold writes (the WAL could not be checkpointed past it). A progress
	// that counted before the fold has the count already.
	if prog.events > 0 {
		stats.Events = prog.events
	} else if stats.Events, err = log.Count(ctx, stats.Seq); err != nil {
		return stats, err
	}

	// The swap drops the live tables holding the writer, and SQLite's DROP
	// TABLE reads each page it frees: read them first, holding nothing.
	// Only a speed-up: a read that fails (an index added by hand that
	// INDEXED BY cannot scan, say) leaves the pages to the DROP.
	if err := p.warmLive(ctx); err != nil && ctx.Err() != nil {
		return stats, err
	}
	prog.finish(stats.Events)
	// Catch up with what was appended meanwhile and swap, holding the writer.
	err = p.swap(ctx, func(tx *store.Tx) error {
		began := time.Now()
		tx.OnCommit(func() { stats.Swap = time.Since(began) })
		if err := lockLive(ctx, tx); err != nil {
			return err
		}
		if err := checkClaim(ctx, tx, c); err != nil {
			return err
		}
		tail, err := tx.Log().Tail(ctx, stats.Seq)
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
		// The DROPs read every page of the old tables: with the writer's
		// whole cache those pages were the rebuild's peak memory (a 200k
		// rebuild: 130-138 MB with it, 119-122 MB cut, alternated;
		// docs/performance.md). The tail above ran with the whole cache.
		if err := tx.CutCache(ctx); err != nil {
			return err
		}
		swapping(ctx, tx)
		for _, name := range liveTables {
			if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+name); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `ALTER TABLE `+name+suffix+` RENAME TO `+name); err != nil {
				return err
			}
		}
		tx.OnCommit(p.cache.clear)
		for k, v := range map[string]int64{"generation": c.gen, "schema_version": SchemaVersion, "checkpoint": stats.Seq} {
			if err := setMeta(ctx, tx, k, v); err != nil {
				return err
			}
		}
		return deleteClaim(ctx, tx)
	})
	if err != nil {
		return stats, fmt.Errorf("swap: %w", err)
	}
	return stats, nil
}

// tableDDL creates the read model's tables (schema.sql without its
// indexes), indexDDL their secondary indexes, a statement each: a rebuild
// creates the indexes once it has written the rows.
var tableDDL, indexDDL = splitSchema(schemaSQL)

// splitSchema splits script, statements each ended by a semicolon at the
// end of a line, into the CREATE TABLE statements (with their comments)
// and the CREATE INDEX ones. It panics on any other statement, which
// TestSplitSchema would catch.
func splitSchema(script string) (tables string, indexes []string) {
	var b strings.Builder
	for _, stmt := range strings.SplitAfter(script, ";\n") {
		var code []string // the statement without its comment lines
		for _, line := range strings.Split(stmt, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "--") {
				code = append(code, line)
			}
		}
		switch sql := strings.TrimSuffix(strings.Join(code, " "), ";"); {
		case sql == "":
		case strings.HasPrefix(sql, "CREATE TABLE "):
			b.WriteString(stmt)
		case strings.HasPrefix(sql, "CREATE INDEX "), strings.HasPrefix(sql, "CREATE UNIQUE INDEX "):
			indexes = append(indexes, sql)
		default:
			panic("schema.sql: neither a table nor an index: " + sql)
		}
	}
	return b.String(), indexes
}

// buildIndexes creates the secondary indexes of the tables of suffix, each
// in a write transaction of its own (so appends and webhooks wait for one
// at a time) whose sort spills to disk, and records the longest hold in
// stats.
func (p *Projection) buildIndexes(ctx context.Context, suffix string, stats *Stats) error {
	r := strings.NewReplacer("@t", suffix, "@g", suffix)
	for _, ddl := range indexDDL {
		err := p.db.UpdateSpilling(ctx, func(tx *store.Tx) error {
			tx.OnCommit(holding(stats))
			_, err := tx.ExecContext(ctx, r.Replace(ddl))
			return err
		})
		if err != nil {
			return fmt.Errorf("index the new tables (on SQLite their sorts spill to SQLITE_TMPDIR, TMPDIR or /var/tmp): %w", err)
		}
	}
	return nil
}

// holding returns, for a write transaction that begins now, the OnCommit
// that records in stats.Hold how long it held the writer (the longest so
// far).
func holding(stats *Stats) func() {
	began := time.Now()
	return func() { stats.Hold = max(stats.Hold, time.Since(began)) }
}

// swapWait bounds how long a rebuild's swap waits for the snapshots that
// read the live tables to end (a verify of a large log reads them for
// minutes); swapTry is one attempt's wait for their locks.
const (
	swapWait  = 10 * time.Minute
	swapTry   = "100ms"
	swapPause = 200 * time.Millisecond
)

// swapping is called inside the swap's transaction just before its DROPs:
// a test's look at the writer as the swap runs.
var swapping = func(context.Context, *store.Tx) {}

// swap runs fn, the swap's write transaction, again while it finds the live
// tables locked by readers (PostgreSQL): each attempt waits at most swapTry
// for their locks, holding the writer lock, then lets writers and readers
// go on for swapPause. A reader that holds its lock while it waits for
// another of its own (a snapshot opening a cursor, store.Snapshot) would
// otherwise wait behind the swap's queued request, and the swap for it.
func (p *Projection) swap(ctx context.Context, fn func(tx *store.Tx) error) error {
	deadline := time.Now().Add(swapWait)
	for {
		err := p.db.Update(ctx, fn)
		if !store.IsLockTimeout(err) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the live tables were read without a pause for %s (a long verify or dump?): run rebuild again: %w", swapWait, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(swapPause):
		}
	}
}

// warmLive reads every page of the live tables and of their indexes
// (SQLite; nothing on PostgreSQL, whose DROP TABLE unlinks files), in a
// read snapshot, which holds no lock a writer waits for. The swap's DROP
// TABLE reads each page it frees; with the pages out of the cache those
// are random reads, made holding the writer: minutes at ten million events
// (docs/performance.md), with every append and webhook waiting. Read here,
// in tree order as the DROP reads them, they are in the operating
// system's cache when it runs. count(*) walks every page of the b-tree it
// counts (overflow pages aside, which the read model seldom has).
func (p *Projection) warmLive(ctx context.Context) error {
	if p.db.Engine() == store.Postgres {
		return nil
	}
	return p.db.View(ctx, func(s *store.Snapshot) error {
		reads, err := warmReads(ctx, s)
		if err != nil {
			return err
		}
		for _, r := range reads {
			var n int64
			if err := s.QueryRowContext(ctx, r.Query).Scan(&n); err != nil {
				return fmt.Errorf("read %s before the swap: %w", r.Btree, err)
			}
		}
		return nil
	})
}

// warmRead is a query that reads every page of one b-tree.
type warmRead struct{ Btree, Query string }

// warmReads returns warmLive's reads: one for each live table and each of
// their indexes (SQLite).
func warmReads(ctx context.Context, s *store.Snapshot) ([]warmRead, error) {
	args := make([]any, len(liveTables))
	for i, name := range liveTables {
		args[i] = name
	}
	rows, err := s.QueryContext(ctx, `SELECT type, name, tbl_name, coalesce((SELECT c.name FROM pragma_index_info(m.name) c WHERE c.seqno = 0), '')
		FROM sqlite_schema m WHERE type IN ('table', 'index') AND tbl_name IN (?`+strings.Repeat(", ?", len(liveTables)-1)+`)
		ORDER BY tbl_name, type DESC, name`, args...)
	if err != nil {
		return nil, fmt.Errorf("read the live tables' names: %w", err)
	}
	defer rows.Close()
	var reads []warmRead
	for rows.Next() {
		var kind, name, table, first string
		if err := rows.Scan(&kind, &name, &table, &first); err != nil {
			return nil, err
		}
		reads = append(reads, warmRead{name, `SELECT count(*) FROM ` + quoteName(table) + ` NOT INDEXED`})
		if kind == "index" {
			// A plain count(*) counts the smallest b-tree whatever INDEXED BY
			// says (a WITHOUT ROWID table's primary key, as large as its
			// index): a condition on the index's first column keeps it on
			// the index.
			reads[len(reads)-1].Query = `SELECT count(*) FROM ` + quoteName(table) + ` INDEXED BY ` + quoteName(name) + ` WHERE ` + quoteName(first) + ` IS NOT NULL`
		}
	}
	return reads, rows.Err()
}

// quoteName quotes an SQL identifier.
func quoteName(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// lockLive takes, on PostgreSQL, the ACCESS EXCLUSIVE locks the swap's
// DROP needs, first and waiting at most swapTry (store.IsLockTimeout then),
// so that a swap never sits queued in front of readers for long. Nothing
// on SQLite, whose readers keep their own snapshot's tables.
func lockLive(ctx context.Context, tx *store.Tx) error {
	if tx.Engine() != store.Postgres {
		return nil
	}
	var present []string // none before the first rebuild
	for _, name := range liveTables {
		var reg sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT to_regclass(?)::text`, name).Scan(&reg); err != nil {
			return err
		}
		if reg.Valid {
			present = append(present, name)
		}
	}
	if len(present) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '`+swapTry+`'`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `LOCK TABLE `+strings.Join(present, ", ")+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `RESET lock_timeout`)
	return err
}

// firstError returns the first error that is not a cancellation caused by
// another of errs (the one that stopped the rest), else the first one.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

// claim takes a new generation for a rebuild and creates its empty tables,
// in one write transaction. It returns ErrRebuildRunning when a claim with
// a recent heartbeat is there, and takes a stale one over, dropping its
// tables.
func (p *Projection) claim(ctx context.Context) (claim, error) {
	var c claim
	err := p.db.Update(ctx, func(tx *store.Tx) error {
		m, err := readMeta(ctx, tx, append([]string{"generation"}, claimKeys...)...)
		if err != nil {
			return err
		}
		now := time.Now()
		if old, ok := m["rebuild_generation"]; ok {
			if beat := time.Unix(0, m["rebuild_heartbeat"]); now.Sub(beat) < RebuildStaleAfter {
				return fmt.Errorf("%w (generation %d since %s): wait for it to finish, or if its process is gone, run rebuild again once its claim is %s old",
					ErrRebuildRunning, old, time.Unix(0, m["rebuild_started"]).UTC().Format(time.RFC3339), RebuildStaleAfter)
			}
			if err := dropTables(ctx, tx, generationSuffix(old)); err != nil {
				return err
			}
		}
		// A generation is never used twice, so a rebuild that lost its
		// claim cannot write into its successor's tables.
		c = claim{gen: max(m["generation"], m["rebuild_generation"]) + 1, owner: rand.Int64()}
		suffix := generationSuffix(c.gen)
		if err := dropTables(ctx, tx, suffix); err != nil { // leftovers of an older amtrack's rebuild
			return err
		}
		if _, err := tx.ExecContext(ctx, p.db.DDL(strings.NewReplacer("@t", suffix, "@g", suffix).Replace(tableDDL))); err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
		for k, v := range map[string]int64{"rebuild_generation": c.gen, "rebuild_owner": c.owner,
			"rebuild_started": now.UnixNano(), "rebuild_heartbeat": now.UnixNano()} {
			if err := setMeta(ctx, tx, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrRebuildRunning) {
		return c, err
	}
	if err != nil {
		return c, fmt.Errorf("rebuild: claim: %w", err)
	}
	return c, nil
}

// heartbeat renews c until ctx ends, and cancels the rebuild with
// errClaimLost when another rebuild has taken the claim over. A renewal
// that fails otherwise (the writer busy) is tried again at the next tick.
func (p *Projection) heartbeat(ctx context.Context, c claim, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(RebuildStaleAfter / 6)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := p.db.Update(ctx, func(tx *store.Tx) error {
			if err := checkClaim(ctx, tx, c); err != nil {
				return err
			}
			return setMeta(ctx, tx, "rebuild_heartbeat", time.Now().UnixNano())
		})
		if errors.Is(err, errClaimLost) {
			cancel(errClaimLost)
			return
		}
	}
}

// release drops the tables and the claim of a rebuild that failed. It
// returns errClaimLost, touching nothing, when c is no longer the claim.
func (p *Projection) release(ctx context.Context, c claim) error {
	return p.db.Update(ctx, func(tx *store.Tx) error {
		if err := checkClaim(ctx, tx, c); err != nil {
			return err
		}
		if err := dropTables(ctx, tx, generationSuffix(c.gen)); err != nil {
			return err
		}
		return deleteClaim(ctx, tx)
	})
}

// checkClaim returns errClaimLost unless c is the claim recorded in tx.
func checkClaim(ctx context.Context, tx *store.Tx, c claim) error {
	m, err := readMeta(ctx, tx, "rebuild_generation", "rebuild_owner")
	if err != nil {
		return err
	}
	if m["rebuild_generation"] != c.gen || m["rebuild_owner"] != c.owner {
		return errClaimLost
	}
	return nil
}

func deleteClaim(ctx context.Context, tx *store.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM projection_meta WHERE key IN (?, ?, ?, ?)`,
		claimKeys[0], claimKeys[1], claimKeys[2], claimKeys[3])
	if err != nil {
		return fmt.Errorf("delete rebuild claim: %w", err)
	}
	return nil
}

// dropTables drops the read-model tables named with suffix, if there.
func dropTables(ctx context.Context, tx *store.Tx, suffix string) error {
	for _, name := range liveTables {
		if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+name+suffix); err != nil {
			return fmt.Errorf("drop %s: %w", name+suffix, err)
		}
	}
	return nil
}

// readMeta reads the projection_meta rows named keys (absent ones are
// missing from the map).
func readMeta(ctx context.Context, tx *store.Tx, keys ...string) (map[string]int64, error) {
	m := map[string]int64{}
	for _, k := range keys {
		var v int64
		err := tx.QueryRowContext(ctx, `SELECT value FROM projection_meta WHERE key = ?`, k).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read projection %s: %w", k, err)
		}
		m[k] = v
	}
	return m, nil
}

// rebuiltRow is one row a rebuild's fold made: an access method's state
// (with its grant and key links) or a grant's summary, encoded.
type rebuiltRow struct {
	stream int64
	method *domain.AccessMethod // nil for a grant
	grant  domain.ID
	state  []byte
}

// chunkWriter groups rebuilt rows into chunks for the writer goroutine.
type chunkWriter struct {
	out     chan<- []rebuiltRow
	pending []rebuiltRow
}

func (w *chunkWriter) add(r rebuiltRow) {
	w.pending = append(w.pending, r)
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
// so appends interleave with the rebuild, and records its hold in stats.
// The rebuild's tables are new and each stream comes once, so the rows go
// in with multi-row INSERTs: a statement per row cost more than the row
// did.
func (p *Projection) writeChunk(ctx context.Context, t *tables, chunk []rebuiltRow, stats *Stats) error {
	return p.db.Update(ctx, func(tx *store.Tx) error {
		tx.OnCommit(holding(stats))
		methods := &rowInsert{tx: tx, sql: t.sql["insertMethods"], cols: methodCols}
		grantLinks := &rowInsert{tx: tx, sql: t.sql["insertGrantLinks"], cols: 2, tail: ` ON CONFLICT DO NOTHING`}
		keyLinks := &rowInsert{tx: tx, sql: t.sql["insertKeyLinks"], cols: 2, tail: ` ON CONFLICT DO NOTHING`}
		grants := &rowInsert{tx: tx, sql: t.sql["insertGrants"], cols: 3}
		for _, r := range chunk {
			s := r.method
			if s == nil {
				if err := grants.add(ctx, r.stream, r.grant[:], r.state); err != nil {
					return err
				}
				continue
			}
			if err := methods.add(ctx, methodArgs(r.stream, s, r.state)...); err != nil {
				return err
			}
			for _, g := range s.AccessGrantIDs {
				if err := grantLinks.add(ctx, g[:], s.AccessMethodID[:]); err != nil {
					return err
				}
			}
			for _, k := range s.AccessGrantKeys {
				if err := keyLinks.add(ctx, k, s.AccessMethodID[:]); err != nil {
					return err
				}
			}
		}
		for _, ins := range []*rowInsert{methods, grantLinks, keyLinks, grants} {
			if err := ins.flush(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// rebuildInsertRows is the most rows of one of writeChunk's INSERTs.
const rebuildInsertRows = 64

// rowInsert collects the rows of a multi-row INSERT: sql, then the rows'
// placeholders, then tail.
type rowInsert struct {
	tx        *store.Tx
	sql, tail string
	cols      int
	args      []any
}

// add adds a row of cols values, running the statement once it holds
// rebuildInsertRows rows.
func (ins *rowInsert) add(ctx context.Context, row ...any) error {
	ins.args = append(ins.args, row...)
	if len(ins.args) >= ins.cols*rebuildInsertRows {
		return ins.flush(ctx)
	}
	return nil
}

// flush runs the statement with the rows added since the last one.
func (ins *rowInsert) flush(ctx context.Context) error {
	if len(ins.args) == 0 {
		return nil
	}
	ctx, err := ins.tx.Short(ctx)
	if err != nil {
		return err
	}
	q := ins.sql + store.Placeholders(ins.cols, len(ins.args)/ins.cols) + ins.tail
	if _, err := ins.tx.ExecContext(ctx, q, ins.args...); err != nil {
		return fmt.Errorf("write the rebuilt rows: %w", err)
	}
	ins.args = ins.args[:0]
	return nil
}

// rowProgress counts the rows foldMethods and foldGrants read, and tells
// fn the events they come to: each event is read once for its access method
// and once for each grant it names, so the rows are scaled onto the log's
// events. With sorted reads (SQLite) the copies count both as they read,
// and fn hears nothing until both copies are done: counting first would
// walk indexes at random, minutes on a large file out of the cache.
type rowProgress struct {
	fn     Progress
	log    store.Log
	maxSeq int64
	mu     sync.Mutex
	done   int64
	rows   int64 // 0 until known
	events int64
}

func newRowProgress(ctx context.Context, log store.Log, fn Progress, maxSeq int64) (*rowProgress, error) {
	rp := &rowProgress{fn: fn, log: log, maxSeq: maxSeq}
	if fn == nil || log.SortedReads() {
		return rp, nil
	}
	var err error
	if rp.rows, err = log.StreamRows(ctx, maxSeq); err != nil {
		return nil, err
	}
	rp.events, err = log.Count(ctx, maxSeq)
	return rp, err
}

// finish tells fn that all events were folded, unless step did: with
// sorted reads the total may become known only after the last step (a log
// without grant links, whose grants' fold has no rows).
func (rp *rowProgress) finish(events int64) {
	if rp.fn == nil {
		return
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.rows == 0 || rp.done != rp.rows {
		rp.fn(events, events)
	}
}

// step counts n rows, telling fn every 4096 rows and at the last one, once
// the total is known.
func (rp *rowProgress) step(n int) {
	if rp.fn == nil {
		return
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.rows == 0 {
		rp.rows, rp.events, _ = rp.log.CopiedRows(rp.maxSeq)
	}
	for range n {
		rp.done++
		if rp.rows > 0 && (rp.done%4096 == 0 || rp.done == rp.rows) {
			rp.fn(rp.done*rp.events/rp.rows, rp.events)
		}
	}
}

// foldMethods folds every access method from log, as it reads up to
// maxSeq, in stream order, calling fn with each state. It returns the number
// of methods.
func foldMethods(ctx context.Context, log store.Log, maxSeq int64, prog *rowProgress, fn func(stream int64, s *domain.AccessMethod) error) (int64, error) {
	var n int64
	err := log.MethodStreams(ctx, maxSeq, func(stream int64, events []*domain.Event) error {
		prog.step(len(events))
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

// grantRead reads grant streams: Log.GrantStreams, or a part of them.
type grantRead func(ctx context.Context, maxSeq int64, fn func(stream int64, id domain.ID, events []*domain.Event) error) error

// halfGrants reads the grants of log whose stream is in (after, upTo].
func halfGrants(log store.Log, after, upTo int64) grantRead {
	return func(ctx context.Context, maxSeq int64, fn func(stream int64, id domain.ID, events []*domain.Event) error) error {
		return log.GrantStreamsBetween(ctx, maxSeq, after, upTo, fn)
	}
}

// foldGrants folds every grant summary that read gives up to maxSeq, in
// stream order. It returns the number of grants.
func foldGrants(ctx context.Context, read grantRead, maxSeq int64, prog *rowProgress, fn func(stream int64, g *domain.AccessGrant) error) (int64, error) {
	var n int64
	err := read(ctx, maxSeq, func(stream int64, id domain.ID, events []*domain.Event) error {
		prog.step(len(events))
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

// generationSuffix names a rebuild's tables.
func generationSuffix(gen int64) string { return "_g" + strconv.FormatInt(gen, 10) }
