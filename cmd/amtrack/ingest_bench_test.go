package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/generate"
)

// BenchmarkIngest is `amtrack ingest FILE` on b.N generated events into a
// fresh database, timed whole: read, parse, append and fold, as a user runs
// it. The physical baseline is store's BenchmarkRawInsert:
//
//	go test ./store ./cmd/amtrack -run XXX -bench 'RawInsert|Ingest' -benchtime 1000000x
func BenchmarkIngest(b *testing.B) {
	dir := b.TempDir()
	file := filepath.Join(dir, "events.jsonl")
	f, err := os.Create(file)
	require.NoError(b, err)
	w := bufio.NewWriter(f)
	n := 0
	errEnough := errors.New("enough")
	err = generate.Stream(generate.Options{Methods: b.N/8 + 1, Seed: 42}, func(raw []byte) error {
		if n == b.N {
			return errEnough
		}
		n++
		w.Write(raw)
		return w.WriteByte('\n')
	})
	if !errors.Is(err, errEnough) {
		require.NoError(b, err)
	}
	require.NoError(b, w.Flush())
	require.NoError(b, f.Close())

	var stdout bytes.Buffer
	b.ResetTimer()
	err = Run(context.Background(), Config{}, []string{"ingest", "--db", filepath.Join(dir, "a.db"), file}, nil, &stdout, io.Discard)
	b.StopTimer()
	require.NoError(b, err)
	require.Contains(b, stdout.String(), "rejected 0")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
