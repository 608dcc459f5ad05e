package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

func runRebuild(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "rebuild", "")
	dbPath := dbFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// A rebuild streams; a soft heap limit keeps its peak memory small.
	e.cfg.tuneGC(48 << 20)
	// A page cache of 32 MiB, not 64: the peak memory (its writes are
	// mostly in stream order).
	a, err := e.openApp(ctx, *dbPath, store.Options{MustExist: true, CacheMiB: 32})
	if err != nil {
		return err
	}
	defer a.Close()
	a.reportRepairs(e.stderr)
	start := time.Now()
	bar, endBar := rowBar(e, "rebuild")
	stats, err := a.proj.Rebuild(ctx, bar)
	endBar()
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(e.stdout, "rebuilt %d access methods and %d grants from %d events (up to seq %d) in %s (%.0f events/s)\n",
		stats.Methods, stats.Grants, stats.Events, stats.Seq, took.Round(time.Millisecond), float64(stats.Events)/took.Seconds())
	fmt.Fprintf(e.stdout, "the swap held the writer for %s, each write before it at most %s\n",
		stats.Swap.Round(time.Millisecond), stats.Hold.Round(time.Millisecond))
	return nil
}

func runVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "verify", "")
	dbPath := dbFlag(fs)
	max := fs.Int("max-diffs", 20, "print at most this many differences")
	headFlag := fs.String("head", "", "a log head `SEQ:HASH` recorded earlier (GET /v1/log/head, or verify's output): the log must still have it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	opts := projection.VerifyOptions{MaxDiffs: *max}
	if *headFlag != "" {
		h, err := store.ParseChainHead(*headFlag)
		if err != nil {
			return usageError("--head: %v", err)
		}
		opts.Head = &h
	}
	a, err := e.openReadApp(ctx, *dbPath)
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := a.proj.VerifyWith(ctx, opts)
	if err != nil {
		return err
	}
	for _, d := range slices.Concat(r.LogProblems, r.Diffs) {
		fmt.Fprintln(e.stdout, d)
	}
	if len(r.LogProblems) > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("the log fails its integrity check (%d events): it was changed outside amtrack; "+
			"find out by whom, and restore it from a backup that verifies", r.Events)}
	}
	if len(r.Diffs) > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("projection does not match the log (%d events, %d access methods): run amtrack rebuild", r.Events, r.Methods)}
	}
	fmt.Fprintf(e.stdout, "projection matches the log (%d events, %d access methods)\n", r.Events, r.Methods)
	fmt.Fprintf(e.stdout, "log head %s\n", r.Head)
	return nil
}

// rowBar returns a progress callback drawing a bar of the events a rebuild
// has folded, on a terminal (nil, and end does nothing, elsewhere). Until
// the rebuild knows its total (on SQLite, once it has copied the log) the
// line says it is reading the log. end clears the line.
func rowBar(e *env, what string) (fn projection.Progress, end func()) {
	if e.bars == nil {
		return nil, func() {}
	}
	waiting := what + ": reading the log"
	fmt.Fprint(e.bars, "\r"+waiting)
	// Made now, so that its rate counts from the start; drawn once the
	// total is known.
	bar := newProgress(e.bars, what, 0)
	bar.start()
	started := false
	unwait := func() {
		if !started {
			fmt.Fprint(e.bars, "\r"+strings.Repeat(" ", len(waiting))+"\r")
			started = true
		}
	}
	end = func() {
		unwait()
		bar.finish()
	}
	return func(done, total int64) {
		if total <= 0 {
			return
		}
		if !started {
			unwait()
			bar.setMax(total)
		}
		bar.set(done)
		if done == total {
			bar.finish()
		}
	}, end
}
