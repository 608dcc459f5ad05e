package store_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	// logTableRef is SQL naming one of the log's tables as a table, or
	// reading the log head.
	logTableRef = regexp.MustCompile(`(?i)\b(from|join|into|update)\s+(events|event_grants|event_streams)\b|\bmax\s*\(\s*seq\s*\)`)
	// sqlClause tells SQL from prose ("the state folded from events that
	// occurred..."): a clause keyword or a placeholder.
	sqlClause = regexp.MustCompile(`(?i)\b(select|where|order\s+by|group\s+by|limit|values|on\s+conflict|returning)\b|\?`)
)

// logSQL reports whether a string literal's value is SQL on the log's tables.
func logSQL(s string) bool {
	m := logTableRef.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	return m[1] == "" || m[1] == strings.ToUpper(m[1]) || sqlClause.MatchString(s)
}

func TestLogSQL(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"SELECT seq FROM events WHERE seq > ?", true},
		{" FROM events WHERE method_stream = ?", true},
		{"FROM event_grants g JOIN events e ON e.seq = g.seq", true},
		{"INSERT INTO event_streams (kind, id) VALUES (?, ?)", true},
		{"select payload from events where event_id = ?", true},
		{"update events set source = ?", true},
		{"SELECT coalesce(max(seq), 0) FROM x", true},
		{"SELECT state FROM access_methods WHERE stream = ?", false},
		{"the state folded from events that occurred at or before this time", false},
		{"read events: %w", false},
		{"events", false},
		{`{"events":[]}`, false},
		{"DELETE FROM events_g2", false},
	} {
		assert.Equal(t, tc.want, logSQL(tc.s), "%q", tc.s)
	}
}

// TestLogTablesOwnedByStore walks the module's non-test sources: only
// package store writes SQL against the log's tables (events, event_grants,
// event_streams), so a change to the log's schema touches store alone.
func TestLogTablesOwnedByStore(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	fset := token.NewFileSet()
	var files int
	var found []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			name := d.Name()
			// bench/baseline is the raw-SQLite floor of the benchmarks: its
			// own program, with its own events table in its own file.
			if rel == "store" || rel == filepath.Join("bench", "baseline") || name == "testdata" || name == "vendor" || (rel != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_"))) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && logSQL(s) {
				pos := fset.Position(lit.Pos())
				rel, _ := filepath.Rel(root, pos.Filename)
				found = append(found, rel+":"+strconv.Itoa(pos.Line))
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, files, 10, "the walk found too few sources: is the module root %s?", root)
	assert.Empty(t, found, "SQL on the log's tables outside package store: ask store for it instead")
}
