package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDamagedDatabaseCommands runs verify, show, history and rebuild on
// randomly damaged copies of a database: every command ends, and a failure
// is one line that names the damage.
func TestDamagedDatabaseCommands(t *testing.T) {
	dbtest.SQLiteOnly(t, "damages the pages of a database file")
	clean, _ := ingestGenerated(t, 300, 31)
	method := aliveCodeMethod(t, clean)
	grant := queryString(t, clean, `SELECT json_extract(state, '$.access_grant_ids[0]') FROM access_methods
		WHERE json_array_length(state, '$.access_grant_ids') > 0 ORDER BY stream LIMIT 1`)
	b, err := os.ReadFile(clean)
	require.NoError(t, err)
	_, err = os.Stat(clean + "-wal")
	require.ErrorIs(t, err, os.ErrNotExist, "the WAL is checkpointed into the file")
	const page = 4096
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 5))
			damaged := append([]byte(nil), b...)
			for range 1 + rng.IntN(3) {
				p := 1 + rng.IntN(len(b)/page-1)
				for i := p * page; i < (p+1)*page; i++ {
					damaged[i] = byte(rng.Uint32())
				}
			}
			for _, args := range [][]string{{"verify"}, {"show", method}, {"history", grant}, {"rebuild"}, {"verify"}} {
				path := filepath.Join(t.TempDir(), "damaged.db")
				require.NoError(t, os.WriteFile(path, damaged, 0o644))
				done := make(chan result, 1)
				go func() { done <- runCLI(t, "", append([]string{args[0], "--db", path}, args[1:]...)...) }()
				select {
				case got := <-done:
					if got.code != 0 && got.code != 1 {
						t.Errorf("%s: exit code %d", args[0], got.code)
					}
					if got.code == 1 && args[0] != "verify" {
						assert.Len(t, stderrLines(got), 1, "%s: want a one-line error, got:\n%s", args[0], got.stderr)
					}
				case <-time.After(60 * time.Second):
					buf := make([]byte, 1<<20)
					t.Fatalf("%s hung on a damaged database:\n%s", args[0], buf[:runtime.Stack(buf, true)])
				}
			}
		})
	}
}
