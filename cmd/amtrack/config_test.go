package main

import (
	"math"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// environ is an environment for loadConfig.
type environ map[string]string

func (e environ) get(k string) string { return e[k] }

// TestLoadConfig: the environment is read in one place, into Config.
func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  environ
		want Config
	}{
		{name: "empty", env: environ{}, want: Config{}},
		{name: "every variable", env: environ{
			"AMTRACK_DB":           "a.db",
			"AMTRACK_ADDR":         ":9090",
			"AMTRACK_API_TOKEN":    " tok3n\n",
			"AMTRACK_REVEAL_CODES": "1",
			"AMTRACK_LOG_LEVEL":    "debug",
			"SEAM_WEBHOOK_SECRET":  " whsec_x ",
			"SEAM_API_KEY":         " seam_key ",
			"SEAM_ENDPOINT":        " http://127.0.0.1:1 ",
			"GOMEMLIMIT":           "1GiB",
			"GOGC":                 "200",
			"TMPDIR":               "/tmp/amtrack-test",
			"AMTRACK_KEY_FILE":     "/etc/amtrack/a.key",
			"AMTRACK_KEY":          " a2V5\n",
		}, want: Config{
			DB: "a.db", Addr: ":9090", APIToken: "tok3n", RevealCodes: true, LogLevel: "debug",
			WebhookSecret: "whsec_x", SeamAPIKey: "seam_key", SeamEndpoint: "http://127.0.0.1:1",
			MemoryLimitSet: true, GCPercentSet: true, TempDir: "/tmp/amtrack-test", KeyFile: "/etc/amtrack/a.key", Key: "a2V5",
		}},
		{name: "reveal codes only with 1", env: environ{"AMTRACK_REVEAL_CODES": "true"}, want: Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, loadConfig(tt.env.get))
		})
	}
}

// TestTuneGC checks that rebuild's and serve's collector settings yield to
// the user's $GOGC and $GOMEMLIMIT.
func TestTuneGC(t *testing.T) {
	percent := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	tests := []struct {
		name         string
		cfg          Config
		limit        int64
		wantPercent  int
		wantLimitSet bool
	}{
		{name: "both ours", limit: 48 << 20, wantPercent: gcPercent, wantLimitSet: true},
		{name: "no limit asked", limit: 0, wantPercent: gcPercent},
		{name: "GOGC set", cfg: Config{GCPercentSet: true}, limit: 48 << 20, wantPercent: 123, wantLimitSet: true},
		{name: "GOMEMLIMIT set", cfg: Config{MemoryLimitSet: true}, limit: 48 << 20, wantPercent: gcPercent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(123)
			debug.SetMemoryLimit(math.MaxInt64)
			tt.cfg.tuneGC(tt.limit)
			assert.Equal(t, tt.wantPercent, debug.SetGCPercent(123))
			want := int64(math.MaxInt64)
			if tt.wantLimitSet {
				want = tt.limit
			}
			assert.Equal(t, want, debug.SetMemoryLimit(-1))
		})
	}
	// The commands that tune it do so before their first fallible step
	// (here: a database that is not there, a sync without its API key).
	commands := []struct {
		args  []string
		limit int64
	}{
		{[]string{"rebuild", "--db", filepath.Join(t.TempDir(), "absent.db")}, 48 << 20},
		{[]string{"serve", "--sync-interval", "1m"}, math.MaxInt64},
	}
	for _, c := range commands {
		t.Run(c.args[0], func(t *testing.T) {
			debug.SetGCPercent(123)
			debug.SetMemoryLimit(math.MaxInt64)
			r := runCLIWith(t, Config{}, "", c.args...)
			require.NotEqual(t, 0, r.code, "the command fails after tuning: %s", r.stderr)
			assert.Equal(t, gcPercent, debug.SetGCPercent(123))
			assert.Equal(t, c.limit, debug.SetMemoryLimit(-1))
		})
	}
}
