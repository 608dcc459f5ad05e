package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/testutil"
)

// TestBinaryDemo builds amtrack, starts demo on a free port, queries the
// commands it prints and stops it with SIGTERM: the exit is clean (code 0)
// and the temporary database is gone.
func TestBinaryDemo(t *testing.T) {
	bin := buildBinary(t)
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "AMTRACK_API_TOKEN=", "AMTRACK_REVEAL_CODES=", "AMTRACK_LOG_LEVEL=")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr testutil.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()

	// The first line says where; the next four are commands to try.
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out []string
	for len(out) < 5 {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "demo ended early: %v\n%s", out, stderr.String())
			out = append(out, l)
		case <-time.After(time.Minute):
			t.Fatalf("demo printed only %q in a minute; stderr: %s", out, stderr.String())
		}
	}
	m := servingLine.FindStringSubmatch(out[0])
	require.NotNil(t, m, out[0])
	base := m[1]
	assert.Regexp(t, `^serving demo data on http://127\.0\.0\.1:\d+, try:$`, out[0])
	for _, u := range demoCommands(t, strings.Join(out, "\n")) {
		status, body := testutil.Get(t, u, "")
		assert.Equal(t, 200, status, "%s: %s", u, body)
		if strings.Contains(u, "/metrics") {
			assert.Contains(t, body, "amtrack_http_requests_total")
		}
	}
	status, body := testutil.Get(t, base+"/readyz", "")
	assert.Equal(t, 200, status, body)
	status, body = testutil.Get(t, base+"/v1/access_methods/not-an-id", "")
	assert.Equal(t, 400, status)
	assert.Contains(t, body, `"type": "invalid_input"`)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err = cmd.Wait()
	assert.Equal(t, 0, exitStatus(t, err), "stderr: %s", stderr.String())
	assert.NotContains(t, stderr.String(), "level=ERROR")
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, entries, "the temporary database is removed")
}

// TestBinaryServe builds amtrack, serves an ingested database and stops it
// with SIGINT: a graceful shutdown, then exit 130 as for any interrupted
// command.
func TestBinaryServe(t *testing.T) {
	bin := buildBinary(t)
	db, _ := ingestGenerated(t, 20, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--db", db, "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "AMTRACK_API_TOKEN=", "AMTRACK_ADDR=", "AMTRACK_LOG_LEVEL=")
	cmd.Env = append(cmd.Env, keyEnv(t, db)...)
	var stdout, stderr testutil.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	var base string
	require.Eventually(t, func() bool {
		m := servingLine.FindStringSubmatch(stdout.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	}, time.Minute, 20*time.Millisecond, "stderr: %s", stderr.String())
	status, body := testutil.Get(t, base+"/v1/events?limit=2", "")
	assert.Equal(t, 200, status, body)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	assert.Equal(t, 130, exitStatus(t, cmd.Wait()), "stderr: %s", stderr.String())
	assert.NotContains(t, stderr.String(), "amtrack:", "a clean stop prints no error")
}
