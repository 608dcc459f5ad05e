package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/testutil"
)

// buildBinary builds amtrack into a temporary directory (the first cgo
// build of go-sqlite3 takes a minute or two).
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	bin := filepath.Join(t.TempDir(), "amtrack")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// exitStatus returns the exit code of a finished command.
func exitStatus(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return -1
}

func TestBinary(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	db := tempDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Clean environment for the child: no database or reveal setting inherited.
	env := append(os.Environ(), "AMTRACK_DB=", "AMTRACK_REVEAL_CODES=")
	env = append(env, keyEnv(t, db)...)

	run := func(stdin string, args ...string) (string, string, int) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), exitStatus(t, err)
	}

	// The expected count: the same stream generated in-process.
	gen := runCLI(t, "", "generate", "--methods", "300", "--seed", "5")
	require.Equal(t, 0, gen.code)
	events := strings.Count(gen.stdout, "\n")

	t.Run("generate | ingest -", func(t *testing.T) {
		g := exec.CommandContext(ctx, bin, "generate", "--methods", "300", "--seed", "5")
		in := exec.CommandContext(ctx, bin, "ingest", "--db", db, "-")
		g.Env, in.Env = env, env
		pipe, err := g.StdoutPipe()
		require.NoError(t, err)
		in.Stdin = pipe
		var gErr, out, inErr bytes.Buffer
		g.Stderr = &gErr
		in.Stdout, in.Stderr = &out, &inErr
		require.NoError(t, in.Start())
		require.NoError(t, g.Start())
		assert.Equal(t, 0, exitStatus(t, g.Wait()), gErr.String())
		assert.Equal(t, 0, exitStatus(t, in.Wait()), inErr.String())
		assert.Equal(t, summary(events, 0, 0), out.String())
		assert.Empty(t, inErr.String())
	})

	t.Run("shell pipe", func(t *testing.T) {
		sh, err := exec.LookPath("sh")
		if err != nil {
			t.Skip("no sh")
		}
		cmd := exec.CommandContext(ctx, sh, "-c", `"$0" generate --methods 300 --seed 5 | "$0" ingest --db "$1" -`, bin, db)
		cmd.Env = env
		out, err := cmd.Output()
		assert.Equal(t, 0, exitStatus(t, err))
		assert.Equal(t, summary(0, events, 0), string(out), "the second ingest of the same stream")
	})

	t.Run("verify", func(t *testing.T) {
		stdout, stderr, code := run("", "verify", "--db", db)
		assert.Equal(t, 0, code, stderr)
		assert.Equal(t, matchesLine(events, 300), verifyLine(t, stdout))
	})

	t.Run("AMTRACK_DB", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, bin, "verify")
		cmd.Env = append(env, "AMTRACK_DB="+db)
		out, err := cmd.Output()
		assert.Equal(t, 0, exitStatus(t, err))
		assert.Equal(t, matchesLine(events, 300), verifyLine(t, string(out)))
	})

	t.Run("rejections exit 1", func(t *testing.T) {
		stdout, stderr, code := run(testutil.MethodEvent(1, "created", "")+"\n"+testutil.MethodEvent(2, "issued", `,"code":1234`)+"\n",
			"ingest", "--db", db, "-")
		assert.Equal(t, 1, code)
		assert.Equal(t, summary(1, 0, 1), stdout)
		assert.Equal(t, `stdin:2: access_method.issued: field "code": want string, got number`+"\n", stderr)
	})

	t.Run("unknown command exits 2", func(t *testing.T) {
		stdout, stderr, code := run("", "frobnicate")
		assert.Equal(t, 2, code)
		assert.Empty(t, stdout)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
	})

	t.Run("missing file", func(t *testing.T) {
		stdout, stderr, code := run("", "ingest", "--db", db, filepath.Join(dir, "missing.jsonl"))
		assert.NotEqual(t, 0, code)
		assert.Empty(t, stdout)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
	})

	t.Run("SIGINT stops ingest -", func(t *testing.T) {
		db := tempDB(t)
		cmd := exec.CommandContext(ctx, bin, "ingest", "--db", db, "-")
		cmd.Env = append(env, keyEnv(t, db)...)
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		var stdout, stderr testutil.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Start())
		go testutil.WriteEndless(stdin) // until the pipe breaks
		done := make(chan struct{})
		var waitErr error
		go func() { waitErr = cmd.Wait(); close(done) }()
		waitForEvents(t, db, done)
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		<-done
		assert.Equal(t, 130, exitStatus(t, waitErr), stderr.String())
		assert.Equal(t, summary(countEvents(t, db), 0, 0), stdout.String(), "the summary of what was committed")
		assert.Equal(t, "amtrack: interrupted\n", stderr.String())
	})

	t.Run("version", func(t *testing.T) {
		stdout, _, code := run("", "version")
		assert.Equal(t, 0, code)
		assert.True(t, strings.HasPrefix(stdout, "amtrack "), stdout)
	})
}
