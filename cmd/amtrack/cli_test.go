package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/testutil"
)

// inTempDir runs the test in a fresh working directory with no database,
// address or API key from the environment, so that a command that falls
// back to ./amtrack.db is seen doing it. It returns the directory.
func inTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

// dirNames returns the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, 0, len(entries))
	for _, en := range entries {
		names = append(names, en.Name())
	}
	return names
}

// TestFlagsAfterArguments: flags may come before, between or after the
// positional arguments; "--" ends the flags and "-" is an argument.
func TestFlagsAfterArguments(t *testing.T) {
	dir := inTempDir(t)
	db := tempDB(t)
	writeFile(t, dir, "events.jsonl", testutil.MethodEvent(1, "created", "")+"\n")
	writeFile(t, dir, "-dash.jsonl", testutil.MethodEvent(2, "created", "")+"\n")
	stdin := testutil.MethodEvent(3, "created", "") + "\n"

	// In order: the ingests fill named.db for the queries after them.
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string // a part of stdout
	}{
		{"ingest file then --db", []string{"ingest", "events.jsonl", "--db", db}, "", summary(1, 0, 0)},
		{"ingest - between flags", []string{"ingest", "--strict", "-", "--db", db}, stdin, summary(1, 0, 0)},
		{"ingest -- ends the flags", []string{"ingest", "--db", db, "--", "-dash.jsonl"}, "", summary(1, 0, 0)},
		{"ingest flag between files", []string{"ingest", "events.jsonl", "--db", db, "./-dash.jsonl"}, "", summary(0, 2, 0)},
		{"ingest flag=value last", []string{"ingest", "events.jsonl", "--db=" + db}, "", summary(0, 1, 0)},
		// "--" as a flag's value does not end the flags: --strict is a flag.
		{"ingest --db named --", []string{"ingest", "--db", "--", "events.jsonl", "--strict"}, "", summary(1, 0, 0)},
		{"show id then --db", []string{"show", testutil.MethodID(1), "--db", db}, "", testutil.MethodID(1)},
		{"show id between flags", []string{"show", "--reveal-codes", testutil.MethodID(3), "--db", db}, "", testutil.MethodID(3)},
		{"history id then --db", []string{"history", testutil.GrantID, "--db", db}, "", testutil.EventID(2)},
		{"verify", []string{"verify", "--db", db, "--max-diffs", "3"}, "", matchesLine(3, 3)},
		{"rebuild", []string{"rebuild", "--db", db}, "", "rebuilt 3 access methods"},
		{"generate", []string{"generate", "--methods", "1", "--seed", "3"}, "", `"event_id"`},
		{"version", []string{"version"}, "", "amtrack "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCLI(t, tt.stdin, tt.args...)
			assert.Equal(t, 0, got.code, got.stderr)
			assert.Contains(t, got.stdout, tt.want)
		})
	}
	assert.NoFileExists(t, filepath.Join(dir, "amtrack.db"), "only the named database is used")
}

// TestUnexpectedArguments: every command checks how many positional
// arguments it got, before it opens any database.
func TestUnexpectedArguments(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, dir, "a.db", "")
	id := testutil.MethodID(1)
	tests := []struct {
		name string
		args []string
		want string // the one-line error, after "amtrack: "
	}{
		{"ingest", []string{"ingest", "--strict"}, "ingest needs at least one FILE argument: amtrack ingest [flags] FILE..."},
		{"show none", []string{"show"}, "show needs an ACCESS_METHOD_ID argument: amtrack show [flags] ACCESS_METHOD_ID"},
		{"show two", []string{"show", id, id}, `show takes one ACCESS_METHOD_ID argument, got 2: ["` + id + `" "` + id + `"]`},
		{"show database", []string{"show", id, "a.db"}, `show takes one ACCESS_METHOD_ID argument, got 2: ["` + id + `" "a.db"]; did you mean --db a.db?`},
		{"history none", []string{"history", "--reveal-codes"}, "history needs a GRANT_ID argument: amtrack history [flags] GRANT_ID"},
		{"history two", []string{"history", testutil.GrantID, "x"}, `history takes one GRANT_ID argument, got 2: ["` + testutil.GrantID + `" "x"]`},
		{"verify database", []string{"verify", "a.db"}, "verify takes no arguments; did you mean --db a.db?"},
		{"verify database after a flag", []string{"verify", "--max-diffs", "2", "other.sqlite"}, "verify takes no arguments; did you mean --db other.sqlite?"},
		{"rebuild database", []string{"rebuild", "a.db"}, "rebuild takes no arguments; did you mean --db a.db?"},
		{"rebuild two", []string{"rebuild", "x", "y"}, `rebuild takes no arguments, got ["x" "y"]`},
		{"serve", []string{"serve", "extra"}, `serve takes no arguments, got ["extra"]`},
		{"serve database", []string{"serve", "--addr", "127.0.0.1:0", "a.db"}, "serve takes no arguments; did you mean --db a.db?"},
		{"demo", []string{"demo", "extra"}, `demo takes no arguments, got ["extra"]`},
		{"sync", []string{"sync", "--api-key", "k", "a.db"}, "sync takes no arguments; did you mean --db a.db?"},
		{"generate", []string{"generate", "5"}, `generate takes no arguments, got ["5"]`},
		{"generate after --", []string{"generate", "--", "--methods"}, `generate takes no arguments, got ["--methods"]`},
		{"version", []string{"version", "now"}, `version takes no arguments, got ["now"]`},
		{"backup none", []string{"backup", "--db", "a.db"}, "backup needs a DEST argument: amtrack backup [flags] DEST"},
		{"backup two", []string{"backup", "b.db", "c.db"}, `backup takes one DEST argument, got 2: ["b.db" "c.db"]; did you mean --db b.db?`},
		{"forget none", []string{"forget", "--db", "a.db"}, "forget needs ACCESS_METHOD_ID arguments or --deleted-before: amtrack forget [flags] [ACCESS_METHOD_ID...]"},
		{"rekey none", []string{"rekey", "--db", "a.db"}, "rekey needs a NEW_KEY_FILE argument: amtrack rekey [flags] NEW_KEY_FILE"},
		{"rekey two", []string{"rekey", "a.key", "b.key"}, `rekey takes one NEW_KEY_FILE argument, got 2: ["a.key" "b.key"]`},
		{"copy", []string{"copy", "--from", "a.db", "--to", "b.db", "x"}, `copy takes no arguments, got ["x"]`},
	}
	tested := map[string]bool{}
	for _, tt := range tests {
		tested[tt.args[0]] = true
		t.Run(tt.name, func(t *testing.T) {
			before := dirNames(t, dir)
			got := runCLI(t, "", tt.args...)
			assert.Equal(t, 2, got.code)
			assert.Empty(t, got.stdout)
			assert.Equal(t, "amtrack: "+tt.want+"\n", got.stderr)
			assert.Equal(t, before, dirNames(t, dir), "no database is created or touched")
		})
	}
	var names []string
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		assert.True(t, tested[name], "no row for command %s", name)
	}
}

// TestUsageExitCodes: a mistake in a flag or an argument exits 2 with a
// one-line message, before any database is opened.
func TestUsageExitCodes(t *testing.T) {
	dir := inTempDir(t)
	id := testutil.MethodID(1)
	tests := []struct {
		name string
		args []string
		want string // a part of stderr
	}{
		{"show malformed id", []string{"show", "not-an-id"}, `ACCESS_METHOD_ID must be an id (hex 8-4-4-4-12), got "not-an-id"`},
		{"history malformed id", []string{"history", "booking-20688"}, `GRANT_ID must be an id (hex 8-4-4-4-12), got "booking-20688"`},
		{"show bad as-of", []string{"show", "--as-of", "yesterday", id}, "--as-of must be an RFC 3339 time"},
		{"serve addr without port", []string{"serve", "--addr", "nowhere"}, `--addr must be host:port, such as 127.0.0.1:8080, got "nowhere"`},
		{"serve addr port out of range", []string{"serve", "--addr", "127.0.0.1:99999"}, `--addr must be host:port, such as 127.0.0.1:8080, got "127.0.0.1:99999"`},
		{"serve addr port not a number", []string{"serve", "--addr", "127.0.0.1:http"}, `--addr must be host:port`},
		{"serve addr from the environment", []string{"serve"}, `--addr must be host:port`}, // AMTRACK_ADDR=localhost below
		{"demo addr", []string{"demo", "--addr", ":"}, `--addr must be host:port, such as 127.0.0.1:8080, got ":"`},
		{"serve bad duration", []string{"serve", "--sync-interval", "often"}, `invalid value "often" for flag -sync-interval`},
		{"serve negative interval", []string{"serve", "--sync-interval", "-5m"}, "--sync-interval must be positive"},
		{"serve commit batch", []string{"serve", "--commit-batch", "0"}, "--commit-batch must be at least 1"},
		{"sync bad time", []string{"sync", "--api-key", "k", "--since", "monday"}, "--since must be an RFC 3339 time"},
		{"sync bad duration", []string{"sync", "--api-key", "k", "--window", "1d"}, `invalid value "1d" for flag -window`},
		{"generate no methods", []string{"generate", "--methods", "0"}, "--methods must be at least 1, got 0"},
		{"generate negative methods", []string{"generate", "--methods", "-3"}, "--methods must be at least 1, got -3"},
		{"generate negative seed", []string{"generate", "--seed", "-1"}, `invalid value "-1" for flag -seed`},
		{"generate seed not a number", []string{"generate", "--seed", "x"}, `invalid value "x" for flag -seed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			if tt.name == "serve addr from the environment" {
				cfg.Addr = "localhost"
			}
			// The timeout only keeps a regression (serving) from hanging the test.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := exitCode(Run(ctx, cfg, tt.args, strings.NewReader(""), &stdout, &stderr), &stderr)
			assert.Equal(t, 2, code, stderr.String())
			assert.Empty(t, stdout.String())
			assert.Contains(t, stderr.String(), tt.want)
			assert.Empty(t, dirNames(t, dir), "no database is created")
		})
	}
}
