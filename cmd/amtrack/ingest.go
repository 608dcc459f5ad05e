package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/store"
)

// ingestBatch is the number of events appended per transaction. Every
// commit rewrites most leaf pages of the log's random event_id index, so
// bigger transactions write less per event (1M events: 20k per commit took
// 20% longer than 50k); memory holds two batches at a time (one parsed while
// the other is appended), about 400 MB at this size.
const ingestBatch = 50000

// entry is one input event on its way to the log: parsed, or refused.
type entry struct {
	name    string
	line    int
	pending store.Pending
	err     error
}

// counts tallies what ingest did.
type counts struct{ appended, duplicates, rejected int }

func (c counts) String() string {
	return fmt.Sprintf("appended %d, duplicates %d, rejected %d", c.appended, c.duplicates, c.rejected)
}

func runIngest(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "ingest", "FILE...")
	dbPath := dbFlag(fs)
	strict := fs.Bool("strict", false, "all or nothing: append nothing if any event is rejected")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("ingest needs at least one FILE (or - for stdin)")
	}
	// A checkpoint every 256 MiB of WAL instead of 64: about 5 % faster on
	// 1M events (each checkpoint copies the hot index pages once).
	a, err := openAppOptions(ctx, *dbPath, store.Options{CheckpointPages: 65536})
	if err != nil {
		return err
	}
	defer a.Close()

	batches := make(chan []entry) // unbuffered: at most two batches in memory
	readErr := make(chan error, 1)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	go func() {
		defer close(batches)
		readErr <- readInputs(readCtx, e, fs.Args(), *strict, batches)
	}()

	var c counts
	var appendErr error
	for batch := range batches {
		if appendErr != nil {
			continue // drain so the reader can finish
		}
		if *strict {
			appendErr = a.appendStrict(ctx, batch, &c, e.stderr)
		} else {
			appendErr = a.appendBatch(ctx, batch, &c, e.stderr)
		}
		if appendErr != nil {
			stopReading() // nothing more will be appended: stop parsing
		}
	}
	err = <-readErr
	if appendErr != nil {
		return appendErr // the reader's error, if any, is only the cancellation
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, c)
	if c.rejected > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// readInputs reads and parses every input, sending batches of entries; with
// strict, everything goes in one batch.
func readInputs(ctx context.Context, e *env, names []string, strict bool, out chan<- []entry) error {
	var batch []entry
	for _, name := range names {
		r, label, closeFn, err := openInput(e, name)
		if err != nil {
			return err
		}
		err = readItems(r, func(it item) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			en := entry{name: label, line: it.line, err: it.err}
			if en.err == nil {
				ev, err := domain.ParseEvent(it.raw)
				en.err = err
				en.pending = store.Pending{Event: ev, Source: store.SourceFile}
			}
			batch = append(batch, en)
			if !strict && len(batch) >= ingestBatch {
				out <- batch
				batch = nil
			}
			return nil
		})
		closeFn()
		if err != nil {
			return fmt.Errorf("read %s: %w", label, err)
		}
	}
	if len(batch) > 0 {
		out <- batch
	}
	return nil
}

// openInput opens a named input ("-" is stdin), with a progress bar on a
// terminal.
func openInput(e *env, name string) (io.Reader, string, func(), error) {
	if name == "-" {
		return e.stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, "", nil, fmt.Errorf("open input: %w", err)
	}
	var r io.Reader = f
	if bar := newProgress(e, name, f); bar != nil {
		pr := progressbar.NewReader(f, bar)
		r = &pr
		return r, name, func() { bar.Finish(); f.Close() }, nil
	}
	return r, name, func() { f.Close() }, nil
}

// newProgress returns a byte progress bar for f when stderr is a terminal.
func newProgress(e *env, name string, f *os.File) *progressbar.ProgressBar {
	out, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(out.Fd())) {
		return nil
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetDescription(name),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// appendBatch appends a batch's parsed events in one transaction and prints
// its rejections in input order.
func (a *app) appendBatch(ctx context.Context, batch []entry, c *counts, stderr io.Writer) error {
	pend, idx := pendingOf(batch)
	outs, err := a.append(ctx, pend)
	if err != nil {
		return err
	}
	tally(batch, idx, outs, c, stderr)
	return nil
}

// errStrictRejected rolls back a strict ingest.
var errStrictRejected = errors.New("strict ingest: rejected events")

// appendStrict appends everything in one transaction, or nothing if any
// event is rejected (malformed or conflicting).
func (a *app) appendStrict(ctx context.Context, batch []entry, c *counts, stderr io.Writer) error {
	pend, idx := pendingOf(batch)
	var outs []store.Outcome
	rejected := len(batch) - len(pend)
	err := a.db.Update(ctx, func(tx *store.Tx) error {
		if rejected > 0 {
			return errStrictRejected
		}
		var appended []store.Record
		var err error
		outs, appended, err = tx.Append(ctx, pend)
		if err != nil {
			return err
		}
		for _, o := range outs {
			if o.Err != nil {
				return errStrictRejected
			}
		}
		return a.apply(ctx, tx, appended)
	})
	switch {
	case errors.Is(err, errStrictRejected):
		tally(batch, idx, outs, &counts{}, stderr)
		c.rejected = rejected
		for _, o := range outs {
			if o.Err != nil {
				c.rejected++
			}
		}
		fmt.Fprintln(stderr, "--strict: nothing appended")
		return nil
	case err != nil:
		return err
	}
	tally(batch, idx, outs, c, stderr)
	return nil
}

// pendingOf returns the parsed events of batch and, for each, its index in batch.
func pendingOf(batch []entry) ([]store.Pending, []int) {
	pend := make([]store.Pending, 0, len(batch))
	idx := make([]int, 0, len(batch))
	for i, en := range batch {
		if en.err == nil {
			pend = append(pend, en.pending)
			idx = append(idx, i)
		}
	}
	return pend, idx
}

// tally counts outcomes and prints every rejection of batch in input order.
func tally(batch []entry, idx []int, outs []store.Outcome, c *counts, stderr io.Writer) {
	for j, o := range outs {
		switch {
		case o.Err != nil:
			batch[idx[j]].err = o.Err
		case o.Duplicate:
			c.duplicates++
		default:
			c.appended++
		}
	}
	for _, en := range batch {
		if en.err != nil {
			c.rejected++
			fmt.Fprintln(stderr, errorString(en.name, en.line, en.err))
		}
	}
}
