package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/testutil"
)

// terminal replays out as a terminal shows it: "\r" goes back to the start
// of the line, where what follows overwrites it, and "\n" ends the line. It
// returns the ended lines (trailing blanks trimmed), each state the current
// line had when a "\r" went back over it (the bar's draws), and the line
// left at the end.
func terminal(out string) (lines, draws []string, last string) {
	var cur []rune
	col := 0
	for _, r := range out {
		switch r {
		case '\r':
			if s := strings.TrimRight(string(cur), " "); s != "" {
				draws = append(draws, s)
			}
			col = 0
		case '\n':
			lines = append(lines, strings.TrimRight(string(cur), " "))
			cur, col = nil, 0
		default:
			if col < len(cur) {
				cur[col] = r
			} else {
				cur = append(cur, r)
			}
			col++
		}
	}
	return lines, draws, strings.TrimRight(string(cur), " ")
}

func TestTerminal(t *testing.T) {
	lines, draws, last := terminal("\rbar 1\r     \rrejected\n\rbar 2\r     \r")
	assert.Equal(t, []string{"rejected"}, lines)
	assert.Equal(t, []string{"bar 1", "bar 2"}, draws)
	assert.Empty(t, last)
}

// TestIngestProgressBar draws ingest's bar on a fake terminal that is also
// its stderr: the rejections appear whole, each on its own line, and the
// bar counts events, not bytes.
func TestIngestProgressBar(t *testing.T) {
	good1, good2 := testutil.MethodEvent(1, "created", ""), testutil.MethodEvent(2, "created", "")
	badType := testutil.MethodEvent(3, "issued", `,"code":1234`)
	for _, batch := range []int{ingestBatch, 1} {
		t.Run(fmt.Sprintf("batches of %d", batch), func(t *testing.T) {
			setIngestBatch(t, batch)
			path := writeFile(t, t.TempDir(), "events.jsonl", good1+"\n{not json\n"+good2+"\n"+badType+"\n")
			term, stdout := &testutil.Buffer{}, &testutil.Buffer{}
			args := []string{"--db", tempDB(t), path}
			e := &env{cfg: withTestKey(t, Config{}, append([]string{"ingest"}, args...)), stdin: strings.NewReader(""), stdout: stdout, stderr: term, bars: term}
			err := runIngest(context.Background(), e, args)
			assert.Equal(t, 1, exitCode(err, term))
			assert.Equal(t, summary(2, 0, 2), stdout.String())

			lines, draws, last := terminal(term.String())
			require.Len(t, lines, 2, "%q", term.String())
			assert.True(t, strings.HasPrefix(lines[0], path+":2: not valid JSON"), lines[0])
			assert.Equal(t, path+`:4: access_method.issued: field "code": want string, got number`, lines[1])
			assert.Empty(t, last, "the bar is cleared at the end")
			require.NotEmpty(t, draws)
			// Drawn again after the last rejection, when all 4 were read.
			assert.Contains(t, draws[len(draws)-1], path+": 4 events")
			for _, d := range draws {
				assert.NotContains(t, d, " B", "the bar counts events, not bytes")
			}
		})
	}
}

// TestRebuildProgressBar: rebuild's line says it reads the log until the
// rebuild knows its total, then its bar counts the log's events.
func TestRebuildProgressBar(t *testing.T) {
	db, events := ingestGenerated(t, 30, 4)
	term, stdout := &testutil.Buffer{}, &testutil.Buffer{}
	e := &env{cfg: withTestKey(t, Config{}, []string{"rebuild", "--db", db}), stdout: stdout, stderr: term, bars: term}
	require.NoError(t, runRebuild(context.Background(), e, []string{"--db", db}))
	assert.Contains(t, stdout.String(), fmt.Sprintf("from %d events", events))

	lines, draws, last := terminal(term.String())
	assert.Empty(t, lines)
	assert.Empty(t, last, "the bar is cleared at the end")
	require.NotEmpty(t, draws)
	assert.Equal(t, "rebuild: reading the log", draws[0])
	assert.Contains(t, draws[len(draws)-1], fmt.Sprintf("(%d/%d, ", events, events))
	assert.Contains(t, draws[len(draws)-1], "events/s")
}
