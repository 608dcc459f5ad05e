package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

var (
	scenarioDir = filepath.Join("..", "..", "testdata", "scenarios")
	goldenDir   = filepath.Join("..", "..", "testdata", "golden")
)

// goldenScenario is one hand-written event file under testdata/scenarios and
// what to print from it.
type goldenScenario struct {
	name    string
	methods []string // shown, in this order, into NAME.show.json
	grants  []string // histories, in this order, into NAME.history.json
	reveal  bool     // also NAME.reveal.show.json and NAME.reveal.history.json
	asOf    string   // also NAME.asof.show.json: show --as-of asOf
}

var goldenScenarios = []goldenScenario{
	{
		name:    "pin_code",
		methods: []string{"c3e7a9b1-5d2f-4a8c-9e6b-1f4d7a2c8e05"},
		grants:  []string{"4f8a2c1e-7b3d-4e9a-b5c6-d2e1f0a39b74"},
		reveal:  true,
	},
	{
		name:    "card",
		methods: []string{"e5b9d3f7-2a6c-4e8b-b1d4-7c3a9f5e2b68"},
		grants:  []string{"6a2d8f4b-1e9c-4b7d-a3f5-c8e2b6d04a91"},
	},
	{
		name:    "update",
		methods: []string{"b7d1f5a3-8e2c-4a6b-9d3f-e1c5a7b9d402"},
		grants:  []string{"9c4e1a7d-3f8b-4d2e-86a9-5b1f7c3e9d20"},
		asOf:    "2026-03-05T12:00:00Z", // revoked, then waiting for the card to be encoded
	},
	{
		name:    "grant_deleted",
		methods: []string{"a9c3e7b5-4d1f-4b2a-8c6e-f3b7d1a5c924", "d4f8b2a6-7c3e-4d9b-a1e5-2b6f8d4a7c31"},
		grants:  []string{"2e8b4d6f-9a1c-4f3e-b7d5-a4c8e2f6b019"},
		reveal:  true,
	},
	{
		name:    "backup_code",
		methods: []string{"f2a6c4e8-1b5d-4c9f-a7e3-d5b9f1c7a280"},
		grants:  []string{"7b1d5f9a-2c6e-4a8d-b3f7-e9c1a5d3f846"},
		asOf:    "2026-03-08T18:00:00+01:00", // 17:00Z: the backup code is out, the new code not yet
	},
	{
		name:    "delayed",
		methods: []string{"8e2c6a4f-3b7d-4f1a-b9c5-c7e1a3d5f618"},
		grants:  []string{"3d9f7b1c-5e2a-4c8f-9b6d-a1e5c3f7b952"},
		asOf:    "2026-03-09T14:05:00Z", // delayed and failed, not yet issued
	},
	{
		name:    "after_deleted",
		methods: []string{"9f3b7d5a-6e2c-4a1f-b8d4-c4a2e6f8b735"},
		grants:  []string{"5a7c9e1b-3d5f-4b8a-a6c2-f8d4b2e6a173", "1c5e9a3d-7f2b-4d6c-8e4a-b2d6f4a8c597"},
	},
}

// scenarioLines returns the non-blank lines of a scenario file.
func scenarioLines(tb testing.TB, name string) []string {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(scenarioDir, name+".jsonl"))
	require.NoError(tb, err)
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	require.NotEmpty(tb, lines)
	return lines
}

// scenarioCodes returns every PIN code the scenario's events carry.
func scenarioCodes(tb testing.TB, lines []string) []string {
	tb.Helper()
	var codes []string
	for _, l := range lines {
		var ev struct {
			Code *string `json:"code"`
		}
		require.NoError(tb, json.Unmarshal([]byte(l), &ev))
		if ev.Code != nil {
			codes = append(codes, *ev.Code)
		}
	}
	return codes
}

// receivedAtLine and seqLine match the per-arrival fields of a history item
// as printed (items are indented by 4 spaces, their fields by 6).
var (
	seqLine        = regexp.MustCompile(`(?m)^      "seq": \d+,$`)
	receivedAtLine = regexp.MustCompile(`(?m)^      "received_at": "[^"]*",$`)
)

// normalizeHistory checks a history's per-arrival fields (seq, received_at,
// source) and its fold order, then replaces seq and received_at, which
// depend on the arrival order and the clock, with placeholders.
func normalizeHistory(tb testing.TB, out string, start time.Time) string {
	tb.Helper()
	var h struct {
		Events []struct {
			Seq        int64           `json:"seq"`
			ReceivedAt string          `json:"received_at"`
			Source     string          `json:"source"`
			Event      json.RawMessage `json:"event"`
		} `json:"events"`
	}
	require.NoError(tb, json.Unmarshal([]byte(out), &h))
	require.NotEmpty(tb, h.Events)
	seqs := map[int64]bool{}
	var prev string
	for i, it := range h.Events {
		assert.Positive(tb, it.Seq)
		assert.False(tb, seqs[it.Seq], "seq %d twice", it.Seq)
		seqs[it.Seq] = true
		assert.Equal(tb, "file", it.Source)
		at, err := time.Parse(time.RFC3339Nano, it.ReceivedAt)
		if assert.NoError(tb, err) {
			assert.False(tb, at.Before(start.Add(-time.Second)), "received_at %s before the test started", it.ReceivedAt)
			assert.True(tb, strings.HasSuffix(it.ReceivedAt, "Z"), "received_at %s not in UTC", it.ReceivedAt)
		}
		// Fold order: (occurred_at, created_at, lowercase event_id).
		var ev struct {
			EventID    string `json:"event_id"`
			OccurredAt string `json:"occurred_at"`
			CreatedAt  string `json:"created_at"`
		}
		require.NoError(tb, json.Unmarshal(it.Event, &ev))
		occ, err1 := time.Parse(time.RFC3339Nano, ev.OccurredAt)
		created, err2 := time.Parse(time.RFC3339Nano, ev.CreatedAt)
		require.NoError(tb, err1)
		require.NoError(tb, err2)
		key := fmt.Sprintf("%020d %020d %s", occ.UnixNano(), created.UnixNano(), strings.ToLower(ev.EventID))
		if i > 0 {
			assert.Less(tb, prev, key, "history item %d out of fold order", i)
		}
		prev = key
	}
	require.Len(tb, seqLine.FindAllString(out, -1), len(h.Events))
	require.Len(tb, receivedAtLine.FindAllString(out, -1), len(h.Events))
	out = seqLine.ReplaceAllString(out, `      "seq": "<seq>",`)
	return receivedAtLine.ReplaceAllString(out, `      "received_at": "<received_at>",`)
}

// goldenOutputs ingests a scenario file into a fresh database and returns
// the printed outputs, by golden file name.
func goldenOutputs(t *testing.T, sc goldenScenario, path string, unique, duplicates int) map[string]string {
	t.Helper()
	start := time.Now()
	db := tempDB(t)
	got := runCLI(t, "", "ingest", "--db", db, path)
	require.Equal(t, 0, got.code, got.stderr)
	require.Equal(t, summary(unique, duplicates, 0), got.stdout)
	require.Empty(t, got.stderr)

	show := func(args ...string) string {
		var b strings.Builder
		for _, id := range sc.methods {
			r := runCLI(t, "", append(append([]string{"show", "--db", db}, args...), id)...)
			require.Equal(t, 0, r.code, "show %s: %s", id, r.stderr)
			require.Empty(t, r.stderr)
			b.WriteString(r.stdout)
		}
		return b.String()
	}
	history := func(args ...string) string {
		var b strings.Builder
		for _, id := range sc.grants {
			r := runCLI(t, "", append(append([]string{"history", "--db", db}, args...), id)...)
			require.Equal(t, 0, r.code, "history %s: %s", id, r.stderr)
			require.Empty(t, r.stderr)
			b.WriteString(normalizeHistory(t, r.stdout, start))
		}
		return b.String()
	}
	out := map[string]string{
		sc.name + ".show.json":    show(),
		sc.name + ".history.json": history(),
	}
	if sc.reveal {
		out[sc.name+".reveal.show.json"] = show("--reveal-codes")
		out[sc.name+".reveal.history.json"] = history("--reveal-codes")
	}
	if sc.asOf != "" {
		out[sc.name+".asof.show.json"] = show("--as-of", sc.asOf)
	}
	return out
}

// reversedFile writes lines in reverse order to a temporary file.
func reversedFile(tb testing.TB, name string, lines []string) string {
	tb.Helper()
	rev := make([]string, len(lines))
	for i, l := range lines {
		rev[len(lines)-1-i] = l
	}
	return writeFile(tb, tb.TempDir(), name+".reversed.jsonl", strings.Join(rev, "\n")+"\n")
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, sc := range goldenScenarios {
		t.Run(sc.name, func(t *testing.T) {
			lines := scenarioLines(t, sc.name)
			unique := map[string]bool{}
			for _, l := range lines {
				unique[l] = true
			}
			codes := scenarioCodes(t, lines)

			forward := goldenOutputs(t, sc, filepath.Join(scenarioDir, sc.name+".jsonl"), len(unique), len(lines)-len(unique))
			reversed := goldenOutputs(t, sc, reversedFile(t, sc.name, lines), len(unique), len(lines)-len(unique))

			names := make([]string, 0, len(forward))
			for name := range forward {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				path := filepath.Join(goldenDir, name)
				if *update {
					require.NoError(t, os.WriteFile(path, []byte(forward[name]), 0o644))
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "run go test ./cmd/amtrack -run Golden -update to create it")
				assert.Equal(t, string(want), forward[name], "%s, events in file order", name)
				assert.Equal(t, string(want), reversed[name], "%s, events in reverse order", name)

				// PIN codes are secrets (docs/api.md).
				if !strings.Contains(name, ".reveal.") {
					for _, code := range codes {
						assert.NotContains(t, forward[name], code, "%s leaks a PIN code", name)
						assert.NotContains(t, reversed[name], code, "%s leaks a PIN code", name)
					}
				}
			}
			if sc.reveal {
				require.NotEmpty(t, codes)
				assert.Contains(t, forward[sc.name+".reveal.show.json"], `"code": "`+codes[len(codes)-1]+`"`)
				for _, code := range codes {
					assert.Contains(t, forward[sc.name+".reveal.history.json"], code)
				}
			}
		})
	}
}

// TestGoldenFilesUsed fails on golden files that no scenario writes.
func TestGoldenFilesUsed(t *testing.T) {
	want := map[string]bool{}
	for _, sc := range goldenScenarios {
		want[sc.name+".show.json"] = true
		want[sc.name+".history.json"] = true
		if sc.reveal {
			want[sc.name+".reveal.show.json"] = true
			want[sc.name+".reveal.history.json"] = true
		}
		if sc.asOf != "" {
			want[sc.name+".asof.show.json"] = true
		}
	}
	entries, err := os.ReadDir(goldenDir)
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".show.json") || strings.HasSuffix(e.Name(), ".history.json") {
			assert.True(t, want[e.Name()], "golden file %s belongs to no scenario", e.Name())
		}
	}
}

// accessMethodOf decodes show's output.
func accessMethodOf(tb testing.TB, out string) map[string]any {
	tb.Helper()
	var v struct {
		AccessMethod map[string]any `json:"access_method"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	require.NoError(tb, dec.Decode(&v), out)
	require.NotNil(tb, v.AccessMethod, out)
	return v.AccessMethod
}

func TestShowRevealCodesEnv(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	got := runCLI(t, "", "ingest", "--db", db, filepath.Join(scenarioDir, "pin_code.jsonl"))
	require.Equal(t, 0, got.code, got.stderr)
	const id, code = "c3e7a9b1-5d2f-4a8c-9e6b-1f4d7a2c8e05", "739164"

	redacted := accessMethodOf(t, runCLI(t, "", "show", "--db", db, id).stdout)
	assert.Nil(t, redacted["code"])
	assert.Equal(t, true, redacted["code_redacted"])

	reveal := loadConfig(environ{"AMTRACK_REVEAL_CODES": "1"}.get)
	revealed := accessMethodOf(t, runCLIWith(t, reveal, "", "show", "--db", db, id).stdout)
	assert.Equal(t, code, revealed["code"])
	assert.Equal(t, false, revealed["code_redacted"])
	assert.Contains(t, runCLIWith(t, reveal, "", "history", "--db", db, "4f8a2c1e-7b3d-4e9a-b5c6-d2e1f0a39b74").stdout, code)
}

func TestShowAndHistoryErrors(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	got := runCLI(t, "", "ingest", "--db", db, filepath.Join(scenarioDir, "update.jsonl"))
	require.Equal(t, 0, got.code, got.stderr)
	const method = "b7d1f5a3-8e2c-4a6b-9d3f-e1c5a7b9d402"

	tests := []struct {
		name string
		args []string
		code int
		msg  string // part of the one-line error
	}{
		{"unknown method", []string{"show", "--db", db, "00000000-0000-4000-8000-000000000000"}, 1, "not found"},
		{"malformed method id", []string{"show", "--db", db, "not-an-id"}, 2, "not-an-id"},
		{"no method id", []string{"show", "--db", db}, 2, "ACCESS_METHOD_ID"},
		{"two method ids", []string{"show", "--db", db, method, method}, 2, "ACCESS_METHOD_ID"},
		{"bad as-of", []string{"show", "--db", db, "--as-of", "yesterday", method}, 2, "--as-of"},
		{"as-of without zone", []string{"show", "--db", db, "--as-of", "2026-03-05T12:00:00", method}, 2, "--as-of"},
		{"as-of before the first event", []string{"show", "--db", db, "--as-of", "2026-03-01T00:00:00Z", method}, 1, "no events at or before"},
		{"malformed grant id", []string{"history", "--db", db, "booking-20688"}, 2, "booking-20688"},
		{"no grant id", []string{"history", "--db", db}, 2, "GRANT_ID"},
		{"unknown flag", []string{"history", "--db", db, "--bogus", method}, 2, "bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCLI(t, "", tt.args...)
			assert.Equal(t, tt.code, got.code)
			assert.Empty(t, got.stdout)
			assert.Contains(t, got.stderr, tt.msg)
			if tt.msg != "bogus" { // flag errors also print the usage
				assert.Len(t, stderrLines(got), 1, "want a one-line error, got:\n%s", got.stderr)
			}
		})
	}
}

// TestShowMatchesHistory cross-checks the golden outputs: the method's
// last_event and version agree with its events in the grant history.
func TestShowMatchesHistory(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	got := runCLI(t, "", "ingest", "--db", db, filepath.Join(scenarioDir, "delayed.jsonl"))
	require.Equal(t, 0, got.code, got.stderr)
	m := accessMethodOf(t, runCLI(t, "", "show", "--db", db, "8e2c6a4f-3b7d-4f1a-b9c5-c7e1a3d5f618").stdout)

	h := runCLI(t, "", "history", "--db", db, "3d9f7b1c-5e2a-4c8f-9b6d-a1e5c3f7b952")
	require.Equal(t, 0, h.code, h.stderr)
	var hist struct {
		Events []struct {
			Event map[string]any `json:"event"`
		} `json:"events"`
	}
	require.NoError(t, json.NewDecoder(bytes.NewReader([]byte(h.stdout))).Decode(&hist))
	var methodEvents []map[string]any
	for _, it := range hist.Events {
		if strings.HasPrefix(it.Event["event_type"].(string), "access_method.") {
			methodEvents = append(methodEvents, it.Event)
		}
	}
	require.NotEmpty(t, methodEvents)
	last := methodEvents[len(methodEvents)-1]
	assert.Equal(t, float64(len(methodEvents)), m["version"])
	assert.Equal(t, map[string]any{
		"event_id":    last["event_id"],
		"event_type":  last["event_type"],
		"occurred_at": "2026-03-09T14:11:36.904512Z",
	}, m["last_event"])
	assert.Equal(t, true, last["code_redacted"])
	assert.NotContains(t, last, "code")
}

// TestIDsCaseInsensitive: ids on the command line are case-insensitive and
// printed lowercase (docs/log.md).
func TestIDsCaseInsensitive(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	got := runCLI(t, "", "ingest", "--db", db, filepath.Join(scenarioDir, "grant_deleted.jsonl"))
	require.Equal(t, 0, got.code, got.stderr)
	const method, grant = "d4f8b2a6-7c3e-4d9b-a1e5-2b6f8d4a7c31", "2e8b4d6f-9a1c-4f3e-b7d5-a4c8e2f6b019"

	lower := runCLI(t, "", "show", "--db", db, method)
	upper := runCLI(t, "", "show", "--db", db, strings.ToUpper(method))
	require.Equal(t, 0, lower.code, lower.stderr)
	assert.Equal(t, lower, upper)
	assert.Equal(t, "c2e4a6b8-9f1d-4c3e-a5b7-e8f1a3c5d794",
		accessMethodOf(t, lower.stdout)["last_event"].(map[string]any)["event_id"], "event ids print lowercase")

	lower = runCLI(t, "", "history", "--db", db, grant)
	upper = runCLI(t, "", "history", "--db", db, strings.ToUpper(grant))
	require.Equal(t, 0, lower.code, lower.stderr)
	assert.Equal(t, lower, upper)
}
