package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHistoryRedactsEscapedCode: history redacts a PIN code whose name is
// spelled with escapes, nested or repeated, and --reveal-codes prints it.
func TestHistoryRedactsEscapedCode(t *testing.T) {
	t.Parallel()
	const grant, code = "4f8a2c1e-7b3d-4e9a-b5c6-d2e1f0a39b74", "739164"
	in, err := os.ReadFile(filepath.Join(scenarioDir, "pin_code.jsonl"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(in)), "\n")
	for i, l := range lines {
		if strings.Contains(l, `"code":"`+code+`"`) {
			l = strings.Replace(l, `"code":`, `"\u0063od\u0045":`, 1)
			lines[i] = strings.TrimSuffix(l, "}") + `,"extra":[{"Code":"` + code + `"}],"c\u006Fde":"` + code + `"}`
		}
	}
	file := writeFile(t, t.TempDir(), "escaped.jsonl", strings.Join(lines, "\n")+"\n")
	db := tempDB(t)
	got := runCLI(t, "", "ingest", "--db", db, file)
	require.Equal(t, 0, got.code, got.stderr)

	h := runCLI(t, "", "history", "--db", db, grant)
	require.Equal(t, 0, h.code, h.stderr)
	assert.NotContains(t, h.stdout, code)
	var hist struct {
		Events []struct {
			Event map[string]any `json:"event"`
		} `json:"events"`
	}
	require.NoError(t, json.Unmarshal([]byte(h.stdout), &hist))
	var redacted int
	for _, it := range hist.Events {
		for k := range it.Event {
			assert.False(t, strings.EqualFold(k, "code"), "member %q in %v", k, it.Event)
		}
		if it.Event["code_redacted"] == true {
			redacted++
			assert.Equal(t, []any{map[string]any{"code_redacted": true}}, it.Event["extra"])
		}
	}
	assert.Positive(t, redacted)

	assert.Contains(t, runCLI(t, "", "history", "--db", db, "--reveal-codes", grant).stdout, code)
}
