package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// result is what one run of amtrack printed, and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs amtrack in-process with args and stdin, as main does, in an
// empty environment, and returns its output and exit code.
func runCLI(tb testing.TB, stdin string, args ...string) result {
	tb.Helper()
	return runCLIWith(tb, Config{}, stdin, args...)
}

// runCLIWith is runCLI with the configuration cfg (and the test key of a
// PostgreSQL --db when cfg gives none: withTestKey).
func runCLIWith(tb testing.TB, cfg Config, stdin string, args ...string) result {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), withTestKey(tb, cfg, args), args, strings.NewReader(stdin), &stdout, &stderr)
	code := exitCode(err, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// tempDB returns a fresh database on the engine under test: the path of a
// file in a fresh temporary directory (not created), or the URL of a new
// PostgreSQL schema.
func tempDB(tb testing.TB) string {
	tb.Helper()
	return dbtest.Target(tb)
}

// writeFile writes content to a file named name in dir and returns its path.
func writeFile(tb testing.TB, dir, name, content string) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	require.NoError(tb, os.WriteFile(path, []byte(content), 0o644))
	return path
}

// summary is ingest's summary line.
func summary(appended, duplicates, rejected int) string {
	return fmt.Sprintf("appended %d, duplicates %d, rejected %d\n", appended, duplicates, rejected)
}

// stderrLines returns the non-empty lines of a run's stderr.
func stderrLines(r result) []string {
	var out []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// pretty returns a compact JSON object indented over many lines.
func pretty(tb testing.TB, compact, prefix string) string {
	tb.Helper()
	var b bytes.Buffer
	require.NoError(tb, json.Indent(&b, []byte(compact), prefix, "  "))
	return b.String()
}

// lineOf returns the 1-based line of the first occurrence of sub in text.
func lineOf(tb testing.TB, text, sub string) int {
	tb.Helper()
	i := strings.Index(text, sub)
	require.GreaterOrEqual(tb, i, 0, "%q not in text", sub)
	return strings.Count(text[:i], "\n") + 1
}

func TestIngestFormats(t *testing.T) {
	e1, e2, e3 := testutil.MethodEvent(1, "created", ""), testutil.MethodEvent(2, "created", ""), testutil.MethodEvent(3, "issued", `,"code":"4821"`)
	array := "[\n" + "  " + pretty(t, e1, "  ") + ",\n  " + pretty(t, e2, "  ") + ",\n  " + pretty(t, e3, "  ") + "\n]\n"

	tests := []struct {
		name  string
		files map[string]string // name => content, created in a temp dir
		stdin string
		args  []string // file names as given to ingest; "-" is stdin
		want  string   // stdout
	}{
		{"json lines", map[string]string{"a.jsonl": e1 + "\n" + e2 + "\n" + e3 + "\n"}, "", []string{"a.jsonl"}, summary(3, 0, 0)},
		{"json lines without final newline", map[string]string{"a.jsonl": e1 + "\n" + e2}, "", []string{"a.jsonl"}, summary(2, 0, 0)},
		{"blank lines skipped", map[string]string{"a.jsonl": e1 + "\n\n   \n" + e2 + "\n\t\n\n" + e3 + "\n\n"}, "", []string{"a.jsonl"}, summary(3, 0, 0)},
		{"blank lines first", map[string]string{"a.jsonl": "\n\n" + e1 + "\n" + e2 + "\n"}, "", []string{"a.jsonl"}, summary(2, 0, 0)},
		{"crlf line endings", map[string]string{"a.jsonl": e1 + "\r\n\r\n" + e2 + "\r\n" + e3 + "\r\n"}, "", []string{"a.jsonl"}, summary(3, 0, 0)},
		{"json array over many lines", map[string]string{"a.json": array}, "", []string{"a.json"}, summary(3, 0, 0)},
		{"json array with crlf", map[string]string{"a.json": strings.ReplaceAll(array, "\n", "\r\n")}, "", []string{"a.json"}, summary(3, 0, 0)},
		{"compact json array", map[string]string{"a.json": "[" + e1 + "," + e2 + "]"}, "", []string{"a.json"}, summary(2, 0, 0)},
		{"empty json array", map[string]string{"a.json": "[]\n"}, "", []string{"a.json"}, summary(0, 0, 0)},
		{"one pretty-printed object", map[string]string{"a.json": pretty(t, e3, "") + "\n"}, "", []string{"a.json"}, summary(1, 0, 0)},
		{"one pretty-printed object with crlf", map[string]string{"a.json": strings.ReplaceAll(pretty(t, e3, ""), "\n", "\r\n")}, "", []string{"a.json"}, summary(1, 0, 0)},
		{"empty file", map[string]string{"a.jsonl": ""}, "", []string{"a.jsonl"}, summary(0, 0, 0)},
		{"stdin", nil, e1 + "\n" + e2 + "\n", []string{"-"}, summary(2, 0, 0)},
		{"stdin array", nil, array, []string{"-"}, summary(3, 0, 0)},
		{
			"several files and stdin",
			map[string]string{"a.jsonl": e1 + "\n", "b.json": "[\n" + pretty(t, e2, "  ") + "\n]\n"},
			pretty(t, e3, ""),
			[]string{"a.jsonl", "b.json", "-"},
			summary(3, 0, 0),
		},
		{"the same event in several files", map[string]string{"a.jsonl": e1 + "\n", "b.json": pretty(t, e1, "")}, "", []string{"a.jsonl", "b.json"}, summary(1, 1, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeFile(t, dir, name, content)
			}
			args := []string{"ingest", "--db", tempDB(t)}
			for _, a := range tt.args {
				if a != "-" {
					a = filepath.Join(dir, a)
				}
				args = append(args, a)
			}
			got := runCLI(t, tt.stdin, args...)
			assert.Equal(t, tt.want, got.stdout)
			assert.Empty(t, got.stderr)
			assert.Equal(t, 0, got.code)
		})
	}
}

// rejection is one expected line on ingest's stderr: "file:line: reason".
type rejection struct {
	line int
	msg  string // a part of the reason
}

// assertRejections checks that stderr holds exactly the rejections want, in
// order, each as "label:line: reason".
func assertRejections(t *testing.T, label string, got result, want []rejection) {
	t.Helper()
	lines := stderrLines(got)
	if !assert.Len(t, lines, len(want), "stderr:\n%s", got.stderr) {
		return
	}
	for i, w := range want {
		prefix := fmt.Sprintf("%s:%d: ", label, w.line)
		assert.True(t, strings.HasPrefix(lines[i], prefix), "stderr line %d: got %q, want prefix %q", i+1, lines[i], prefix)
		assert.Contains(t, lines[i], w.msg, "stderr line %d", i+1)
	}
}

func TestIngestRejections(t *testing.T) {
	good1, good2 := testutil.MethodEvent(1, "created", ""), testutil.MethodEvent(2, "created", "")
	badType := testutil.MethodEvent(3, "issued", `,"code":1234`)
	badTime := strings.Replace(testutil.MethodEvent(4, "created", ""), `"occurred_at":"2026-03-01T10:00:04.250Z"`, `"occurred_at":"2026-03-01 10:00:04"`, 1)
	require.NotEqual(t, testutil.MethodEvent(4, "created", ""), badTime)
	noZone := strings.Replace(testutil.MethodEvent(5, "created", ""), `"created_at":"2026-03-01T10:00:05.250Z"`, `"created_at":"2026-03-01T10:00:05.250"`, 1)
	require.NotEqual(t, testutil.MethodEvent(5, "created", ""), noZone)
	noMethod := strings.Replace(testutil.MethodEvent(6, "created", ""), `"access_method_id":"`+testutil.MethodID(6)+`",`, "", 1)
	badID := strings.Replace(testutil.MethodEvent(7, "created", ""), testutil.MethodID(7), "not-an-id", 1)
	nullType := strings.Replace(testutil.MethodEvent(8, "created", ""), `"event_type":"access_method.created"`, `"event_type":null`, 1)
	badBackup := testutil.MethodEvent(9, "issued", `,"code":"1234","is_backup_code":"yes"`)

	tests := []struct {
		name     string
		content  string
		appended int
		want     []rejection
	}{
		{
			"json lines",
			good1 + "\n\n" + badType + "\n" + "{not json\n" + badTime + "\n" + good2 + "\n" + "[1, 2]\n",
			2,
			[]rejection{
				{3, `access_method.issued: field "code": want string, got number`},
				{4, "not valid JSON"},
				{5, `field "occurred_at": "2026-03-01 10:00:04" is not an RFC 3339 time`},
				{7, "event must be a JSON object, got array"},
			},
		},
		{
			"json lines with crlf",
			good1 + "\r\n\r\n\r\n" + badType + "\r\n" + good2 + "\r\n",
			2,
			[]rejection{{4, `field "code": want string, got number`}},
		},
		{
			"every field rule",
			good1 + "\n" + noZone + "\n" + noMethod + "\n" + badID + "\n" + nullType + "\n" + badBackup + "\n",
			1,
			[]rejection{
				{2, `field "created_at": "2026-03-01T10:00:05.250" is not an RFC 3339 time`},
				{3, `access_method.created: field "access_method_id": is required`},
				{4, `field "access_method_id": "not-an-id" is not an id`},
				{5, `field "event_type": is required, got null`},
				{6, `field "is_backup_code": want boolean, got string`},
			},
		},
		{
			// docs/events.md: one bad event in a file does not stop the good ones,
			// also when the bad one is the first line.
			"malformed first line",
			"{\"event_id\": broken\n" + good1 + "\n" + good2 + "\n",
			2,
			[]rejection{{1, "not valid JSON"}},
		},
		{
			// The same, with JSON Lines that start with a blank line.
			"malformed line after leading blank line",
			"\n" + good1 + "\n" + "{not json\n" + good2 + "\n",
			2,
			[]rejection{{3, "not valid JSON"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "events.jsonl", tt.content)
			got := runCLI(t, "", "ingest", "--db", tempDB(t), path)
			assert.Equal(t, summary(tt.appended, 0, len(tt.want)), got.stdout)
			assertRejections(t, path, got, tt.want)
			assert.Equal(t, 1, got.code)
		})
	}
}

func TestIngestArrayLineNumbers(t *testing.T) {
	good1, good2 := testutil.MethodEvent(1, "created", ""), testutil.MethodEvent(2, "created", "")
	badType := testutil.MethodEvent(3, "issued", `,"code":1234`)
	noMethod := strings.Replace(testutil.MethodEvent(4, "created", ""), `"access_method_id":"`+testutil.MethodID(4)+`",`, "", 1)
	content := "[\n  " + pretty(t, good1, "  ") + ",\n  " + pretty(t, badType, "  ") + ",\n\n  " +
		pretty(t, good2, "  ") + ",\n  " + pretty(t, noMethod, "  ") + "\n]\n"
	badLine := lineOf(t, content, testutil.EventID(3)) - 1 // the line of the element's "{"
	noMethodLine := lineOf(t, content, testutil.EventID(4)) - 1

	for _, tc := range []struct{ name, content string }{
		{"lf", content},
		{"crlf", strings.ReplaceAll(content, "\n", "\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "events.json", tc.content)
			got := runCLI(t, "", "ingest", "--db", tempDB(t), path)
			assert.Equal(t, summary(2, 0, 2), got.stdout)
			assertRejections(t, path, got, []rejection{
				{badLine, `access_method.issued: field "code": want string, got number`},
				{noMethodLine, `field "access_method_id": is required`},
			})
			assert.Equal(t, 1, got.code)
		})
	}

	t.Run("stdin", func(t *testing.T) {
		got := runCLI(t, content, "ingest", "--db", tempDB(t), "-")
		assert.Equal(t, summary(2, 0, 2), got.stdout)
		assertRejections(t, "stdin", got, []rejection{
			{badLine, `field "code": want string, got number`},
			{noMethodLine, `field "access_method_id": is required`},
		})
		assert.Equal(t, 1, got.code)
	})

	t.Run("one pretty-printed object", func(t *testing.T) {
		dir := t.TempDir()
		path := writeFile(t, dir, "event.json", "\n\n"+pretty(t, badType, "")+"\n")
		got := runCLI(t, "", "ingest", "--db", tempDB(t), path)
		assert.Equal(t, summary(0, 0, 1), got.stdout)
		assertRejections(t, path, got, []rejection{{3, `field "code": want string, got number`}})
		assert.Equal(t, 1, got.code)
	})
}

func TestIngestSeveralFilesRejections(t *testing.T) {
	dir := t.TempDir()
	db := tempDB(t)
	a := writeFile(t, dir, "a.jsonl", testutil.MethodEvent(1, "created", "")+"\n"+"{bad\n")
	b := writeFile(t, dir, "b.jsonl", "\n"+testutil.MethodEvent(2, "issued", `,"code":1234`)+"\n")
	stdin := testutil.MethodEvent(3, "created", "") + "\n" + testutil.MethodEvent(4, "issued", `,"code":true`) + "\n"

	got := runCLI(t, stdin, "ingest", "--db", db, a, b, "-")
	assert.Equal(t, summary(2, 0, 3), got.stdout)
	lines := stderrLines(got)
	require.Len(t, lines, 3, got.stderr)
	assert.True(t, strings.HasPrefix(lines[0], a+":2: not valid JSON"), lines[0])
	assert.Equal(t, b+`:2: access_method.issued: field "code": want string, got number`, lines[1])
	assert.Equal(t, `stdin:2: access_method.issued: field "code": want string, got boolean`, lines[2])
	assert.Equal(t, 1, got.code)
}

func TestIngestUsage(t *testing.T) {
	dir := t.TempDir()
	db := tempDB(t)
	good := writeFile(t, dir, "good.jsonl", testutil.MethodEvent(1, "created", "")+"\n")

	t.Run("no file", func(t *testing.T) {
		got := runCLI(t, "", "ingest", "--db", db)
		assert.Equal(t, 2, got.code)
		assert.Empty(t, got.stdout)
		assert.Contains(t, got.stderr, "FILE")
	})
	t.Run("unknown flag", func(t *testing.T) {
		got := runCLI(t, "", "ingest", "--db", db, "--bogus", good)
		assert.Equal(t, 2, got.code)
		assert.Empty(t, got.stdout)
		assert.Contains(t, got.stderr, "bogus")
	})
	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(dir, "missing.jsonl")
		got := runCLI(t, "", "ingest", "--db", db, missing)
		assert.NotEqual(t, 0, got.code)
		assert.Empty(t, got.stdout)
		lines := stderrLines(got)
		require.Len(t, lines, 1, "want a one-line error, got:\n%s", got.stderr)
		assert.True(t, strings.HasPrefix(lines[0], "amtrack: "), lines[0])
		assert.Contains(t, lines[0], missing)
	})
	t.Run("help", func(t *testing.T) {
		got := runCLI(t, "", "ingest", "--help")
		assert.Equal(t, 0, got.code)
		assert.Contains(t, got.stderr, "-strict")
		assert.Contains(t, got.stderr, "usage: amtrack ingest")
	})
}

func TestIngestTwice(t *testing.T) {
	dir := t.TempDir()
	db := tempDB(t)
	content := testutil.MethodEvent(1, "created", "") + "\n" + testutil.MethodEvent(1, "issued", `,"code":1234`) + "\n" +
		testutil.MethodEvent(2, "created", "") + "\n" + testutil.MethodEvent(3, "issued", `,"code":"4821"`) + "\n"
	path := writeFile(t, dir, "events.jsonl", content)

	first := runCLI(t, "", "ingest", "--db", db, path)
	assert.Equal(t, summary(3, 0, 1), first.stdout)
	assert.Equal(t, 1, first.code)

	second := runCLI(t, "", "ingest", "--db", db, path)
	assert.Equal(t, summary(0, 3, 1), second.stdout)
	assertRejections(t, path, second, []rejection{{2, `field "code": want string, got number`}})
	assert.Equal(t, 1, second.code)

	// The same events re-encoded (key order and whitespace differ) are duplicates too.
	var events []map[string]any
	for _, l := range []string{testutil.MethodEvent(2, "created", ""), testutil.MethodEvent(3, "issued", `,"code":"4821"`)} {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		events = append(events, m)
	}
	reencoded, err := json.MarshalIndent(events, "", "    ") // encoding/json sorts keys
	require.NoError(t, err)
	third := runCLI(t, string(reencoded), "ingest", "--db", db, "-")
	assert.Equal(t, summary(0, 2, 0), third.stdout)
	assert.Empty(t, third.stderr)
	assert.Equal(t, 0, third.code)
}

func TestIngestConflict(t *testing.T) {
	dir := t.TempDir()
	db := tempDB(t)
	stored := testutil.MethodEvent(1, "issued", `,"code":"4821"`)
	conflicting := testutil.MethodEvent(1, "issued", `,"code":"9067"`)

	got := runCLI(t, stored+"\n", "ingest", "--db", db, "-")
	require.Equal(t, summary(1, 0, 0), got.stdout, got.stderr)

	path := writeFile(t, dir, "conflict.jsonl", testutil.MethodEvent(2, "created", "")+"\n"+conflicting+"\n")
	got = runCLI(t, "", "ingest", "--db", db, path)
	assert.Equal(t, summary(1, 0, 1), got.stdout)
	assertRejections(t, path, got, []rejection{{2, "different body"}})
	assert.Contains(t, got.stderr, testutil.EventID(1))
	assert.Equal(t, 1, got.code)

	// The stored event is untouched: its code is still the first one.
	show := runCLI(t, "", "show", "--db", db, "--reveal-codes", testutil.MethodID(1))
	require.Equal(t, 0, show.code, show.stderr)
	var out struct {
		AccessMethod struct {
			Code      string `json:"code"`
			Version   int    `json:"version"`
			LastEvent struct {
				EventID string `json:"event_id"`
			} `json:"last_event"`
		} `json:"access_method"`
	}
	require.NoError(t, json.Unmarshal([]byte(show.stdout), &out))
	assert.Equal(t, "4821", out.AccessMethod.Code)
	assert.Equal(t, 1, out.AccessMethod.Version)
	assert.Equal(t, testutil.EventID(1), out.AccessMethod.LastEvent.EventID)

	t.Run("within one file", func(t *testing.T) {
		dir := t.TempDir()
		path := writeFile(t, dir, "events.jsonl", stored+"\n"+stored+"\n"+conflicting+"\n")
		got := runCLI(t, "", "ingest", "--db", tempDB(t), path)
		assert.Equal(t, summary(1, 1, 1), got.stdout)
		assertRejections(t, path, got, []rejection{{3, "different body"}})
		assert.Equal(t, 1, got.code)
	})
}

// paddedEvent returns an event line of exactly size bytes, padded with an
// unknown field.
func paddedEvent(tb testing.TB, n, size int) string {
	tb.Helper()
	base := testutil.MethodEvent(n, "created", `,"padding":""`)
	pad := size - len(base)
	require.GreaterOrEqual(tb, pad, 0)
	ev := strings.Replace(base, `"padding":""`, `"padding":"`+strings.Repeat("x", pad)+`"`, 1)
	require.Len(tb, ev, size)
	return ev
}

func TestIngestLineOverOneMiB(t *testing.T) {
	const mib = 1 << 20
	dir := t.TempDir()
	db := tempDB(t)

	content := testutil.MethodEvent(1, "created", "") + "\n" +
		paddedEvent(t, 2, mib+1) + "\n" +
		testutil.MethodEvent(3, "created", "") + "\n" +
		paddedEvent(t, 4, 3*mib) + "\n" +
		testutil.MethodEvent(5, "created", "") + "\n"
	path := writeFile(t, dir, "big.jsonl", content)
	got := runCLI(t, "", "ingest", "--db", db, path)
	assert.Equal(t, summary(3, 0, 2), got.stdout)
	assertRejections(t, path, got, []rejection{{2, "1 MiB"}, {4, "1 MiB"}})
	assert.Equal(t, 1, got.code)
	for _, n := range []int{1, 3, 5} {
		assert.Equal(t, 0, runCLI(t, "", "show", "--db", db, testutil.MethodID(n)).code, "method %d", n)
	}
	assert.Equal(t, 1, runCLI(t, "", "show", "--db", db, testutil.MethodID(2)).code)

	t.Run("first line", func(t *testing.T) {
		dir := t.TempDir()
		path := writeFile(t, dir, "big.jsonl", paddedEvent(t, 2, 2*mib)+"\n"+testutil.MethodEvent(3, "created", "")+"\n")
		got := runCLI(t, "", "ingest", "--db", tempDB(t), path)
		assert.Equal(t, summary(1, 0, 1), got.stdout)
		assertRejections(t, path, got, []rejection{{1, "1 MiB"}})
	})

	t.Run("exactly 1 MiB is accepted", func(t *testing.T) {
		dir := t.TempDir()
		path := writeFile(t, dir, "edge.jsonl", paddedEvent(t, 1, mib)+"\n"+paddedEvent(t, 2, mib)+"\r\n"+testutil.MethodEvent(3, "created", "")+"\n")
		got := runCLI(t, "", "ingest", "--db", tempDB(t), path)
		assert.Equal(t, summary(3, 0, 0), got.stdout)
		assert.Empty(t, got.stderr)
		assert.Equal(t, 0, got.code)
	})
}

func TestIngestStrict(t *testing.T) {
	dir := t.TempDir()
	db := tempDB(t)
	content := testutil.MethodEvent(1, "created", "") + "\n" + testutil.MethodEvent(2, "issued", `,"code":1234`) + "\n" +
		testutil.MethodEvent(3, "created", "") + "\n" + testutil.MethodEvent(4, "issued", `,"code":"4821"`) + "\n"
	path := writeFile(t, dir, "events.jsonl", content)

	got := runCLI(t, "", "ingest", "--db", db, "--strict", path)
	assert.Equal(t, summary(0, 0, 1), got.stdout)
	assert.Contains(t, got.stderr, path+`:2: access_method.issued: field "code": want string, got number`)
	assert.Equal(t, 1, got.code)
	for _, n := range []int{1, 3, 4} {
		show := runCLI(t, "", "show", "--db", db, testutil.MethodID(n))
		assert.Equal(t, 1, show.code, "method %d must not have been appended", n)
		assert.Contains(t, show.stderr, "not found")
	}

	// Without --strict, the good lines all go in (none was appended before).
	got = runCLI(t, "", "ingest", "--db", db, path)
	assert.Equal(t, summary(3, 0, 1), got.stdout)
	assert.Equal(t, 1, got.code)

	t.Run("conflict", func(t *testing.T) {
		// A conflict with the log also rolls back a strict ingest.
		path := writeFile(t, t.TempDir(), "conflict.jsonl",
			testutil.MethodEvent(5, "created", "")+"\n"+testutil.MethodEvent(4, "issued", `,"code":"9067"`)+"\n")
		got := runCLI(t, "", "ingest", "--db", db, "--strict", path)
		assert.Equal(t, summary(0, 0, 1), got.stdout)
		assert.Contains(t, got.stderr, path+":2: ")
		assert.Contains(t, got.stderr, "different body")
		assert.Equal(t, 1, got.code)
		assert.Equal(t, 1, runCLI(t, "", "show", "--db", db, testutil.MethodID(5)).code)
	})

	t.Run("all good", func(t *testing.T) {
		path := writeFile(t, t.TempDir(), "good.jsonl", testutil.MethodEvent(6, "created", "")+"\n"+testutil.MethodEvent(1, "created", "")+"\n")
		got := runCLI(t, "", "ingest", "--db", db, "--strict", path)
		assert.Equal(t, summary(1, 1, 0), got.stdout)
		assert.Empty(t, got.stderr)
		assert.Equal(t, 0, got.code)
	})
}

// TestIngestByteOrderMark: the reader skips a UTF-8 byte order mark when it
// sniffs the format; whatever it makes of the first line, one bad line must
// not stop the good ones (docs/events.md).
func TestIngestByteOrderMark(t *testing.T) {
	dir := t.TempDir()
	db := tempDB(t)
	path := writeFile(t, dir, "bom.jsonl", "\xef\xbb\xbf"+testutil.MethodEvent(1, "created", "")+"\n"+testutil.MethodEvent(2, "created", "")+"\n")
	got := runCLI(t, "", "ingest", "--db", db, path)
	assert.Contains(t, []string{summary(2, 0, 0), summary(1, 0, 1)}, got.stdout, got.stderr)
	assert.Equal(t, 0, runCLI(t, "", "show", "--db", db, testutil.MethodID(2)).code, "the second line must be appended")
}

// TestIngestStopsReadingWhenAppendFails feeds ingest an endless stdin and
// makes every append fail (a trigger on the log): ingest must stop reading,
// print what it committed (nothing), return the append's error and not hang
// parsing input it will never append.
func TestIngestStopsReadingWhenAppendFails(t *testing.T) {
	db := tempDB(t)
	require.Equal(t, 0, runCLI(t, "", "ingest", "--db", db, "-").code)
	failAppends(t, db, 0)

	pr, pw := io.Pipe()
	go testutil.WriteEndless(pw) // generated events, for ever (until ingest's end closes the pipe)
	var stdout, stderr bytes.Buffer
	args := []string{"ingest", "--db", db, "-"}
	err := Run(context.Background(), withTestKey(t, Config{}, args), args, pr, &stdout, &stderr)
	pr.CloseWithError(io.ErrClosedPipe)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "injected failure")
	assert.Equal(t, summary(0, 0, 0), stdout.String(), "the summary of what was committed: nothing")
}
