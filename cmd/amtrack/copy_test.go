package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// copyLog is a log made for the copy tests, and the ids to query it with.
type copyLog struct {
	path    string
	methods []string // access method ids: with codes, forgotten, without
	grants  []string
}

// newCopyLog writes an SQLite log at path (its key file beside it) of n
// events of generate's stream: in batches, some as webhooks with message
// ids, every one with its own arrival time, each batch after the first
// with a retry of an event already stored (which leaves a seq gap); then
// one method's codes forgotten and a sync checkpoint.
func newCopyLog(t *testing.T, path string, n int) copyLog {
	t.Helper()
	ctx := context.Background()
	a, err := openAppOptions(ctx, path, store.Options{})
	require.NoError(t, err)
	defer a.Close()
	events := testutil.ParseAll(t, testutil.First(t, n, 11))
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	l := copyLog{path: path}
	seen := map[domain.ID]bool{}
	var forget domain.ID
	const batchSize = 400
	for start := 0; start < len(events); start += batchSize {
		var batch []store.Pending
		for i, e := range events[start:min(start+batchSize, len(events))] {
			p := store.Pending{Event: e, Source: store.SourceFile, ReceivedAt: at.Add(time.Duration(start+i) * time.Second)}
			if i%3 == 0 {
				p.Source, p.MessageID = store.SourceWebhook, fmt.Sprintf("msg_%d", start+i)
			}
			batch = append(batch, p)
			if i == 7 && start > 0 {
				batch = append(batch, store.Pending{Event: events[start-1], Source: store.SourceWebhook, MessageID: "retry"})
			}
			switch {
			case e.IsMethodEvent() && !seen[e.AccessMethodID] && len(l.methods) < 12:
				seen[e.AccessMethodID] = true
				l.methods = append(l.methods, e.AccessMethodID.String())
				if e.Code != nil && forget == (domain.ID{}) {
					forget = e.AccessMethodID
				}
			case e.IsGrantEvent() && !seen[e.AccessGrantID] && len(l.grants) < 8:
				seen[e.AccessGrantID] = true
				l.grants = append(l.grants, e.AccessGrantID.String())
			}
		}
		_, err := a.proj.Append(ctx, batch)
		require.NoError(t, err)
	}
	require.NotEqual(t, domain.ID{}, forget, "a method with a code among the first")
	_, err = a.db.Forget(ctx, []domain.ID{forget}, a.proj.Apply)
	require.NoError(t, err)
	require.NoError(t, a.db.SetSyncCheckpoint(ctx, "https://connect.getseam.com", at))
	return l
}

// copyTables are the log's rows a copy keeps as they are (the wrapped data
// keys are rewrapped under the target's key: only whether each is there).
// Two columns are read as text, as the engines type them differently:
// has_code is TEXT on SQLite (it was the code, before migration 0004) and
// BIGINT on PostgreSQL, holding 1 or NULL; and IS NULL is an integer on
// SQLite, a boolean on PostgreSQL.
var copyTables = []string{
	`SELECT seq, event_id, event_type, workspace_id, occurred_at, created_at, access_method_id, method_stream, access_grant_id,
		access_grant_ids, access_grant_keys, CAST(has_code AS TEXT), is_backup_code, access_grant_key, starts_at, ends_at,
		received_at, source, message_id, payload, sealed FROM events ORDER BY seq`,
	`SELECT seq, hash FROM event_chain ORDER BY seq`,
	`SELECT stream, kind, id FROM event_streams ORDER BY stream`,
	`SELECT grant_stream, occurred_at, created_at, event_id, seq FROM event_grants ORDER BY grant_stream, occurred_at, created_at, event_id`,
	`SELECT access_method_id, CASE WHEN wrapped IS NULL THEN 'forgotten' ELSE 'kept' END, created_at, forgotten_at FROM method_keys ORDER BY access_method_id`,
	`SELECT endpoint, checkpoint, updated_at FROM sync_state ORDER BY endpoint`,
}

// tableRows returns the rows of query on the database target (a file or
// a URL), each column as the driver gives it.
func tableRows(t *testing.T, target, query string) [][]any {
	t.Helper()
	db, err := store.OpenReadOnly(context.Background(), target)
	require.NoError(t, err)
	defer db.Close()
	return dbtest.Rows(t, db.Reader(), query)
}

// requireSameRows fails t unless the databases want and got hold the same
// rows in every copyTables query.
func requireSameRows(t *testing.T, want, got string) {
	t.Helper()
	for _, q := range copyTables {
		w := tableRows(t, want, q)
		require.NotEmpty(t, w, q)
		require.Equal(t, w, tableRows(t, got, q), "%s: %s", got, q)
	}
}

// queried is what the read commands print about a log.
type queried map[string]string

// queryAll runs show and history (redacted and revealed) for every id of l,
// and verify, on the database db with the configuration cfg.
func queryAll(t *testing.T, cfg Config, db string, l copyLog) queried {
	t.Helper()
	out := queried{}
	run := func(args ...string) {
		r := runCLIWith(t, cfg, "", args...)
		require.Equal(t, 0, r.code, "%s: %s", strings.Join(args, " "), r.stderr)
		out[strings.Join(args[3:], " ")+" "+args[0]] = r.stdout
	}
	for _, id := range l.methods {
		run("show", "--db", db, id)
		run("show", "--db", db, id, "--reveal-codes")
	}
	for _, id := range l.grants {
		run("history", "--db", db, id)
		run("history", "--db", db, id, "--reveal-codes")
	}
	run("verify", "--db", db)
	return out
}

// copyOut runs amtrack copy with cfg and args, requiring success.
func copyOut(t *testing.T, cfg Config, args ...string) string {
	t.Helper()
	r := runCLIWith(t, cfg, "", append([]string{"copy"}, args...)...)
	require.Equal(t, 0, r.code, "copy %s: %s%s", strings.Join(args, " "), r.stdout, r.stderr)
	return r.stdout
}

// logHeadLines are the heads copy prints; both must be the same.
var logHeadLines = regexp.MustCompile(`(?m)^source log head (\d+:[0-9a-f]{64})\ntarget log head (\d+:[0-9a-f]{64})$`)

// requireSameHeads fails t unless copy's output names one head twice, and
// returns it.
func requireSameHeads(t *testing.T, out string) string {
	t.Helper()
	m := logHeadLines.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	require.Equal(t, m[1], m[2], out)
	assert.Contains(t, out, "verify: projection matches the log", out)
	assert.Contains(t, out, "log head "+m[1]+"\n", "verify names the source's head")
	return m[1]
}

// TestCopySQLiteToPostgresToSQLite copies a log from SQLite to PostgreSQL
// (under another key) and back to SQLite (under a third): every row of the
// log is the same in all three, the data keys rewrapped, and show, history
// and verify print the same bytes, codes revealed or not.
func TestCopySQLiteToPostgresToSQLite(t *testing.T) {
	base := dbtest.PostgresURL(t)
	dir := t.TempDir()
	l := newCopyLog(t, filepath.Join(dir, "orig.db"), 1500)
	pg := dbtest.NewSchema(t, base)
	pgCfg := Config{KeyFile: filepath.Join(dir, "pg.key")} // created by the copy
	final := filepath.Join(dir, "final.db")

	out := copyOut(t, pgCfg, "--from", l.path, "--to", pg)
	assert.Regexp(t, `(?m)^copied 1501 events \(head seq \d+\) from .*orig\.db to postgres://`, out)
	assert.Regexp(t, `(?m)^data keys: \d+, rewrapped from key id [0-9a-f]+ to key id [0-9a-f]+$`, out)
	head := requireSameHeads(t, out)
	requireSameRows(t, l.path, pg)

	out = copyOut(t, Config{}, "--from", pg, "--to", final, "--from-key-file", pgCfg.KeyFile)
	assert.Regexp(t, `(?m)^data keys: \d+, rewrapped`, out)
	assert.Equal(t, head, requireSameHeads(t, out))
	requireSameRows(t, l.path, final)

	want := queryAll(t, Config{}, l.path, l)
	assert.Contains(t, want[l.methods[0]+" --reveal-codes show"]+want[l.methods[1]+" --reveal-codes show"], `"code": "`, "codes are revealed")
	assert.Contains(t, strings.Join(mapValues(want), ""), `"code_forgotten": true`, "a forgotten code is among them")
	assert.Equal(t, want, queryAll(t, pgCfg, pg, l), "PostgreSQL")
	assert.Equal(t, want, queryAll(t, Config{}, final, l), "the SQLite copy of the copy")
}

// mapValues returns m's values.
func mapValues(m queried) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestCopySQLiteToSQLite: a copy under the same key (AMTRACK_KEY_FILE names
// the source's) keeps the data keys as they are; one into a new file with
// its own key rewraps them; either way the rows and the read commands'
// outputs are the source's. A second copy into a complete copy only
// rebuilds and verifies it.
func TestCopySQLiteToSQLite(t *testing.T) {
	dir := t.TempDir()
	l := newCopyLog(t, filepath.Join(dir, "orig.db"), 1200)
	want := queryAll(t, Config{}, l.path, l)

	same := filepath.Join(dir, "same.db")
	sameCfg := Config{KeyFile: store.KeyPath(l.path)}
	out := copyOut(t, sameCfg, "--from", l.path, "--to", same)
	assert.Regexp(t, `(?m)^data keys: \d+, as they were \(both open with key id [0-9a-f]+\)$`, out)
	head := requireSameHeads(t, out)
	requireSameRows(t, l.path, same)
	assert.NoFileExists(t, store.KeyPath(same), "the key of AMTRACK_KEY_FILE, none beside")
	assert.Equal(t, want, queryAll(t, sameCfg, same, l))

	own := filepath.Join(dir, "own.db")
	out = copyOut(t, Config{}, "--from", l.path, "--to", own)
	assert.Regexp(t, `(?m)^data keys: \d+, rewrapped`, out)
	assert.Equal(t, head, requireSameHeads(t, out))
	assert.FileExists(t, store.KeyPath(own))
	requireSameRows(t, l.path, own)
	assert.Equal(t, want, queryAll(t, Config{}, own, l))

	out = copyOut(t, Config{}, "--from", l.path, "--to", own)
	assert.Contains(t, out, "own.db already holds this copy of "+l.path+" (head seq ")
	assert.NotContains(t, out, "copied ")
	assert.Equal(t, head, requireSameHeads(t, out))
}

// TestCopyResumesAfterInterruptedRebuild: a copy that committed but was
// stopped before its read model was rebuilt (as Ctrl-C then leaves it) is
// found complete by the next copy, which rebuilds and verifies it.
func TestCopyResumesAfterInterruptedRebuild(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := newCopyLog(t, filepath.Join(dir, "orig.db"), 600)
	dst := filepath.Join(dir, "dst.db")
	src, err := store.OpenReadOnly(ctx, l.path)
	require.NoError(t, err)
	a, err := openAppOptions(ctx, dst, store.Options{})
	require.NoError(t, err)
	_, err = store.Copy(ctx, src, a.db, nil)
	require.NoError(t, err)
	require.NoError(t, a.Close())
	require.NoError(t, src.Close())
	r := runCLI(t, "", "verify", "--db", dst)
	require.Equal(t, 1, r.code, "the read model is not built yet: %s", r.stdout)

	out := copyOut(t, Config{}, "--from", l.path, "--to", dst)
	assert.Contains(t, out, "already holds this copy")
	requireSameHeads(t, out)
	assert.Equal(t, queryAll(t, Config{}, l.path, l), queryAll(t, Config{}, dst, l))
}

// TestCopyRefuses: copy refuses, saying why and changing nothing, a
// missing flag, the source as its own target (however spelled), a target
// that holds other events or an older copy, a missing source, and a source
// whose data keys it cannot rewrap without its key, which it then takes
// from --from-key-file.
func TestCopyRefuses(t *testing.T) {
	dir := t.TempDir()
	l := newCopyLog(t, filepath.Join(dir, "orig.db"), 300)
	other := filepath.Join(dir, "other.db")
	require.Equal(t, 0, runCLI(t, testutil.MethodEvent(1, "created", "")+"\n", "ingest", "--db", other, "-").code)
	link := filepath.Join(dir, "link.db")
	require.NoError(t, os.Symlink(l.path, link))
	// A copy the source has grown past since.
	older := filepath.Join(dir, "older.db")
	copyOut(t, Config{}, "--from", l.path, "--to", older)
	require.Equal(t, 0, runCLI(t, testutil.MethodEvent(2, "created", "")+"\n", "ingest", "--db", l.path, "-").code)

	tests := []struct {
		name string
		cfg  Config
		args []string
		code int
		msg  string
	}{
		{"no --to", Config{}, []string{"--from", l.path}, 2, "copy needs --from SRC and --to DST"},
		{"no --from", Config{}, []string{"--to", filepath.Join(dir, "new.db")}, 2, "copy needs --from SRC and --to DST"},
		{"an argument", Config{}, []string{"--from", l.path, "--to", filepath.Join(dir, "new.db"), "x.db"}, 2, "copy takes no arguments"},
		{"itself", Config{}, []string{"--from", l.path, "--to", l.path}, 1, "are the same database"},
		{"itself, spelled otherwise", Config{}, []string{"--from", l.path, "--to", filepath.Join(dir, ".", "..", filepath.Base(dir), "orig.db")}, 1, "are the same database"},
		{"itself, through a link", Config{}, []string{"--from", link, "--to", l.path}, 1, "are the same database"},
		{"another log", Config{}, []string{"--from", l.path, "--to", other}, 1, "already holds 1 events (up to seq 1) that are not a copy of"},
		{"an older copy", Config{}, []string{"--from", l.path, "--to", older}, 1, "already holds the first"},
		{"no source", Config{}, []string{"--from", filepath.Join(dir, "missing.db"), "--to", filepath.Join(dir, "new.db")}, 1, "no database at"},
		{"a missing --from-key-file", Config{}, []string{"--from", l.path, "--to", filepath.Join(dir, "new.db"), "--from-key-file", filepath.Join(dir, "missing.key")}, 1, "--from-key-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := dbFiles(t, dir)
			r := runCLIWith(t, tt.cfg, "", append([]string{"copy"}, tt.args...)...)
			assert.Equal(t, tt.code, r.code, "%s%s", r.stdout, r.stderr)
			assert.Contains(t, r.stderr, tt.msg)
			assert.Equal(t, before, dbFiles(t, dir), "no file made or removed")
		})
	}
	assert.Equal(t, [][]any{{int64(1), int64(1)}}, tableRows(t, other, `SELECT max(seq), count(*) FROM events`), "the other log is as it was")

	// Without its key file, the source's data keys cannot be rewrapped for
	// a new target: refused, and the new file goes; --from-key-file gives it.
	key := store.KeyPath(l.path)
	moved := filepath.Join(dir, "moved.key")
	require.NoError(t, os.Rename(key, moved))
	before := dbFiles(t, dir)
	dst := filepath.Join(dir, "dst.db")
	r := runCLI(t, "", "copy", "--from", l.path, "--to", dst)
	assert.Equal(t, 1, r.code, r.stdout)
	assert.Contains(t, r.stderr, "which needs the key of "+l.path+": give it (amtrack copy --from-key-file)")
	assert.Equal(t, before, dbFiles(t, dir), "the new target and its key file are removed")
	out := copyOut(t, Config{}, "--from", l.path, "--to", dst, "--from-key-file", moved)
	assert.Contains(t, out, "rewrapped")
	requireSameHeads(t, out)
}

// dbFiles returns the names in dir but the WAL files, which opening a
// source read only may leave (as any read command does).
func dbFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, n := range dirNames(t, dir) {
		if !strings.HasSuffix(n, "-wal") && !strings.HasSuffix(n, "-shm") {
			out = append(out, n)
		}
	}
	return out
}

// TestCopyRefusesPostgresItself: a PostgreSQL schema is its own target
// however its URL spells it; and a schema with another log is refused.
func TestCopyRefusesPostgresItself(t *testing.T) {
	base := dbtest.PostgresURL(t)
	dir := t.TempDir()
	l := newCopyLog(t, filepath.Join(dir, "orig.db"), 100)
	cfg := Config{KeyFile: filepath.Join(dir, "pg.key")}
	pg := dbtest.NewSchema(t, base)
	copyOut(t, cfg, "--from", l.path, "--to", pg)
	respelled := strings.Replace(strings.Replace(pg, "postgres://", "postgresql://", 1), "127.0.0.1", "localhost", 1) + "&application_name=other"
	r := runCLIWith(t, cfg, "", "copy", "--from", pg, "--to", respelled)
	assert.Equal(t, 1, r.code, r.stdout)
	assert.Contains(t, r.stderr, "are the same database")

	other := filepath.Join(dir, "other.db")
	require.Equal(t, 0, runCLI(t, testutil.MethodEvent(1, "created", "")+"\n", "ingest", "--db", other, "-").code)
	r = runCLIWith(t, cfg, "", "copy", "--from", other, "--to", pg)
	assert.Equal(t, 1, r.code, r.stdout)
	assert.Contains(t, r.stderr, "that are not a copy of")
}

// TestCopyInterruptedBinary sends SIGINT to the real binary at several
// moments of a copy: it exits 130 (0 when it had finished), saying what to
// do, and the same command run again completes the copy, whatever the
// moment was.
func TestCopyInterruptedBinary(t *testing.T) {
	bin := buildBinary(t) // skips under -short
	dir := t.TempDir()
	src := filepath.Join(dir, "orig.db")
	env := append(os.Environ(), "AMTRACK_KEY_FILE=", "AMTRACK_KEY=", "AMTRACK_DB=")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", strings.Join(args, " "), out)
		return string(out)
	}
	// The binary writes the log: the race detector would slow the test's own appends.
	events := filepath.Join(dir, "events.jsonl")
	require.NoError(t, os.WriteFile(events, []byte(run("generate", "--methods", "1500", "--seed", "3")), 0o644))
	run("ingest", "--db", src, events)
	seen := map[string]int{}
	for i, delay := range []time.Duration{100 * time.Millisecond, 400 * time.Millisecond, 900 * time.Millisecond, 1600 * time.Millisecond} {
		dst := filepath.Join(dir, fmt.Sprintf("dst%d.db", i))
		cmd := exec.Command(bin, "copy", "--from", src, "--to", dst)
		cmd.Env = env
		var stdout, stderr testutil.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Start())
		time.Sleep(delay)
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		code := exitStatus(t, cmd.Wait())
		phase := "finished"
		switch {
		case code == 0:
		case strings.Contains(stderr.String(), "interrupted before the copy committed"):
			phase = "copying"
			assert.NoFileExists(t, dst, "a new target that got no events is removed")
		case strings.Contains(stderr.String(), "interrupted after the copy committed"):
			phase = "rebuilding"
		default:
			phase = "opening"
		}
		if code != 0 {
			assert.Equal(t, 130, code, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
		}
		seen[phase]++
		t.Logf("SIGINT after %v: %s (exit %d): %s", delay, phase, code, strings.TrimSpace(stderr.String()))
		// The same chain head as the source's: the same bytes in every row.
		requireSameHeads(t, run("copy", "--from", src, "--to", dst))
	}
	t.Logf("interrupted while: %v", seen)
}
