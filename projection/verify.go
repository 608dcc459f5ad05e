package projection

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/store"
)

// Verify folds the whole log again, in memory and as of one snapshot, and
// compares the result with the live read model, column by column. It returns
// the differences (at most maxDiffs), empty when the projection matches the
// log, with the log's own problems (VerifyWith) first. PIN codes never
// appear in the differences.
func (p *Projection) Verify(ctx context.Context, maxDiffs int) (Stats, []string, error) {
	r, err := p.VerifyWith(ctx, VerifyOptions{MaxDiffs: maxDiffs})
	return r.Stats, slices.Concat(r.LogProblems, r.Diffs), err
}

// VerifyOptions tune VerifyWith.
type VerifyOptions struct {
	MaxDiffs int              // at most this many differences and problems, in all
	Head     *store.ChainHead // when not nil, a head recorded earlier: the chain must have its hash at its seq
}

// Report is what VerifyWith found.
type Report struct {
	Stats
	// Head is the log's chain head (store.Snapshot.CheckLog).
	Head store.ChainHead
	// Backfill says from where the log was chained.
	Backfill store.Backfill
	// LogProblems are the log's own: its chain, its payloads against their
	// extracted columns, streams and links, its triggers, the recorded
	// head. Rebuilding does not mend them.
	LogProblems []string
	// Diffs are the read model's differences from the fold of the log.
	Diffs []string
}

// VerifyWith checks the log (store.Snapshot.CheckLog: the hash chain, each
// payload against its extracted columns, the streams and grant links, the
// append-only triggers, opts.Head), then folds it again and compares the
// result with the read model, all in one snapshot. PIN codes never appear
// in what it reports. Errors: internal.
func (p *Projection) VerifyWith(ctx context.Context, opts VerifyOptions) (Report, error) {
	var r Report
	err := p.db.View(ctx, func(snap *store.Snapshot) error {
		check, err := snap.CheckLog(ctx, opts.Head, opts.MaxDiffs)
		if err != nil {
			return err
		}
		r.Head, r.Backfill, r.LogProblems = check.Head, check.Backfill, check.Problems
		r.Stats, r.Diffs, err = p.verify(ctx, snap, opts.MaxDiffs-len(check.Problems))
		return err
	})
	if err != nil {
		return r, fmt.Errorf("verify: %w", err)
	}
	return r, nil
}

// verify is Verify of the read model in the snapshot snap.
func (p *Projection) verify(ctx context.Context, snap *store.Snapshot, maxDiffs int) (Stats, []string, error) {
	var stats Stats
	log := snap.Log()
	var err error
	if stats.Seq, err = log.LastSeq(ctx); err != nil {
		return stats, nil, err
	}
	var diffs []string
	diff := func(format string, args ...any) {
		if len(diffs) < maxDiffs {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	if cp, err := p.meta(ctx, snap, "checkpoint"); err != nil {
		return stats, nil, err
	} else if cp != stats.Seq {
		diff("checkpoint: projection at seq %d, log head at seq %d", cp, stats.Seq)
	}
	prog := &rowProgress{}

	// Expected rows come from the fold, live ones from the tables, both in
	// stream order.
	lists := `(SELECT json_group_array(lower(hex(access_grant_id)) ORDER BY access_grant_id)
			FROM access_method_grants WHERE access_method_id = m.access_method_id),
		(SELECT json_group_array(access_grant_key ORDER BY access_grant_key)
			FROM access_method_keys WHERE access_method_id = m.access_method_id)`
	if p.db.Engine() == store.Postgres {
		lists = `(SELECT coalesce(array_to_json(array_agg(encode(access_grant_id, 'hex') ORDER BY access_grant_id))::text, '[]')
			FROM access_method_grants WHERE access_method_id = m.access_method_id),
		(SELECT coalesce(array_to_json(array_agg(access_grant_key ORDER BY access_grant_key))::text, '[]')
			FROM access_method_keys WHERE access_method_id = m.access_method_id)`
	}
	methods, err := newLiveRows(ctx, snap, "access method", `SELECT m.stream, m.access_method_id, m.workspace_id,
		m.status, m.mode, m.is_issued, m.last_occurred_at, m.last_created_at, m.last_event_id,
		`+lists+`,
		m.state
		FROM access_methods m ORDER BY m.stream`)
	if err != nil {
		return stats, nil, err
	}
	// An open result set would keep the snapshot's end waiting forever.
	defer methods.close()
	stats.Methods, err = foldMethods(ctx, log, stats.Seq, prog, func(stream int64, s *domain.AccessMethod) error {
		return methods.match(stream, methodRow(s), s.AccessMethodID.String(), diff)
	})
	if err == nil {
		err = methods.rest(diff)
	}
	if err != nil {
		return stats, nil, err
	}

	grants, err := newLiveRows(ctx, snap, "access grant", `SELECT stream, access_grant_id, state FROM access_grants ORDER BY stream`)
	if err != nil {
		return stats, nil, err
	}
	defer grants.close()
	stats.Grants, err = foldGrants(ctx, log.GrantStreams, stats.Seq, prog, func(stream int64, g *domain.AccessGrant) error {
		return grants.match(stream, []string{hex.EncodeToString(g.AccessGrantID[:]), string(encodeGrant(g))}, g.AccessGrantID.String(), diff)
	})
	if err == nil {
		err = grants.rest(diff)
	}
	if err != nil {
		return stats, nil, err
	}
	// After the fold, which on SQLite counted the events as it copied them
	// (store.Log.Count).
	if stats.Events, err = log.Count(ctx, stats.Seq); err != nil {
		return stats, nil, err
	}
	return stats, diffs, nil
}

// methodColumns names the columns of a method row as verify compares them;
// the last one is the state JSON, compared field by field.
var methodColumns = []string{"access_method_id", "workspace_id", "status", "mode", "is_issued",
	"last_occurred_at", "last_created_at", "last_event_id", "grant links", "key links", "state"}

var grantColumns = []string{"access_grant_id", "state"}

// methodRow is the row the live tables should hold for s.
func methodRow(s *domain.AccessMethod) []string {
	b := encodeMethod(s)
	ids := make([]string, len(s.AccessGrantIDs))
	for i, id := range s.AccessGrantIDs {
		ids[i] = hex.EncodeToString(id[:])
	}
	g, _ := json.Marshal(ids)
	k, _ := json.Marshal(s.AccessGrantKeys)
	mode := ""
	if s.Mode != nil {
		mode = *s.Mode
	}
	return []string{hex.EncodeToString(s.AccessMethodID[:]), hex.EncodeToString(s.WorkspaceID[:]), s.Status, mode,
		strconv.FormatBool(s.IsIssued), strconv.FormatInt(s.LastKey.OccurredAt, 10), strconv.FormatInt(s.LastKey.CreatedAt, 10),
		hex.EncodeToString(s.LastKey.EventID[:]), string(g), string(k), string(b)}
}

// liveRows walks live rows alongside a fold in stream order. Its rows must
// be closed (close) on every path: a Scan into RawBytes holds the result
// set's lock until the next Next or Close, and a transaction's Rollback
// waits for it.
type liveRows struct {
	what    string
	columns []string
	rows    *sql.Rows
	ok      bool
	stream  int64
	values  []string
	err     error
}

func newLiveRows(ctx context.Context, q store.Queryer, what, query string) (*liveRows, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("read the projection's %s rows: %w", what, err)
	}
	cols := methodColumns
	if what == "access grant" {
		cols = grantColumns
	}
	l := &liveRows{what: what, columns: cols, rows: rows}
	l.next()
	if l.err != nil {
		l.close()
		return nil, l.err
	}
	return l, nil
}

// close closes the result set; it may be called more than once.
func (l *liveRows) close() { l.rows.Close() }

func (l *liveRows) next() {
	l.ok = l.rows.Next()
	if !l.ok {
		if err := l.rows.Err(); err != nil {
			l.err = fmt.Errorf("read the projection's %s rows: %w", l.what, err)
		}
		l.rows.Close()
		return
	}
	raw := make([]any, len(l.columns)+1)
	raw[0] = &l.stream
	vals := make([]sql.RawBytes, len(l.columns))
	for i := range vals {
		raw[i+1] = &vals[i]
	}
	if err := l.rows.Scan(raw...); err != nil {
		l.ok = false
		l.err = fmt.Errorf("read the projection's %s rows: %w", l.what, err)
		l.rows.Close()
		return
	}
	l.values = make([]string, len(vals))
	for i, v := range vals {
		switch name := l.columns[i]; {
		case name == "access_method_id" || name == "workspace_id" || name == "last_event_id" || name == "access_grant_id":
			l.values[i] = hex.EncodeToString(v)
		case name == "is_issued":
			l.values[i] = strconv.FormatBool(string(v) == "1")
		case name == "grant links" || name == "key links":
			l.values[i] = remarshal(string(v))
		default:
			l.values[i] = string(v)
		}
	}
}

// match compares the expected row of stream with the live rows.
func (l *liveRows) match(stream int64, want []string, id string, diff func(string, ...any)) error {
	for l.ok && l.stream < stream {
		diff("%s row (stream %d) that the log does not produce", l.what, l.stream)
		l.next()
	}
	if l.err != nil {
		return l.err
	}
	if !l.ok || l.stream != stream {
		diff("%s %s: missing from the projection", l.what, id)
		return nil
	}
	for i, name := range l.columns {
		if l.values[i] == want[i] {
			continue
		}
		if name == "state" {
			for _, f := range stateDiff(l.values[i], want[i]) {
				diff("%s %s: state.%s", l.what, id, f)
			}
			continue
		}
		diff("%s %s: %s: projection has %s, the log gives %s", l.what, id, name, l.values[i], want[i])
	}
	l.next()
	return l.err
}

func (l *liveRows) rest(diff func(string, ...any)) error {
	for l.ok {
		diff("%s row (stream %d) that the log does not produce", l.what, l.stream)
		l.next()
	}
	return l.err
}

// stateDiff lists the top-level fields in which two state JSONs differ, with
// both values, except a PIN code's.
func stateDiff(got, want string) []string {
	var g, w map[string]json.RawMessage
	if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return []string{"is not valid JSON in the projection"}
	}
	keys := map[string]bool{}
	for k := range g {
		keys[k] = true
	}
	for k := range w {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		if string(g[k]) == string(w[k]) {
			continue
		}
		if k == "code" {
			out = append(out, k+": differs (value redacted)")
			continue
		}
		out = append(out, fmt.Sprintf("%s: projection has %s, the log gives %s", k, orMissing(g[k]), orMissing(w[k])))
	}
	sort.Strings(out)
	return out
}

func orMissing(b json.RawMessage) string {
	if b == nil {
		return "nothing"
	}
	return string(b)
}

// remarshal re-encodes a JSON string array as encoding/json does, so arrays
// built by SQLite compare byte for byte with Go's.
func remarshal(s string) string {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
