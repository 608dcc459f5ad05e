package main

import (
	"bufio"
	"context"

	"github.com/amtrack/amtrack/generate"
)

func runGenerate(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "generate", "")
	methods := fs.Int("methods", 100, "number of access methods (about 8 events each)")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same stream")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *methods < 1 {
		return usageError("--methods must be at least 1, got %d", *methods)
	}
	w := bufio.NewWriterSize(e.stdout, 1<<16)
	err := generate.Stream(generate.Options{Methods: *methods, Seed: *seed}, func(b []byte) error {
		if _, err := w.Write(b); err != nil {
			return err
		}
		return w.WriteByte('\n')
	})
	if err != nil {
		return err
	}
	return w.Flush()
}
