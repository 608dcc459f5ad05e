package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/ingest"
	"github.com/amtrack/amtrack/store"
)

// ingestBatch is the number of events appended per transaction. Every
// commit rewrites most leaf pages of the log's random event_id index, so
// bigger transactions write less per event (1M events: 20k per commit took
// 20% longer than 50k). A variable, so that tests can make batches small.
var ingestBatch = 50000

// ingestChunk is the number of events parsed and appended at a time inside
// a transaction: memory holds two chunks (one parsed while the other is
// appended), whatever the size of the transaction. The fold is carried
// across the chunks of a transaction and written once, before the commit.
var ingestChunk = 1000

// ingestIdle is how long the input may stay silent before the events read
// so far are committed without waiting for a whole batch, so that a stream
// that trickles in (tail -f events.jsonl | amtrack ingest -) is committed
// as it comes. A variable, so that tests can change it.
var ingestIdle = 200 * time.Millisecond

// entry is one input event on its way to the log: parsed, or refused.
type entry struct {
	name    string
	line    int
	pending store.Pending
	err     error
}

func runIngest(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "ingest", "FILE...")
	dbPath := dbFlag(fs)
	strict := fs.Bool("strict", false, "all or nothing: append nothing if any event is rejected")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkInputs(fs.Args()); err != nil {
		return err
	}
	if !e.cfg.MemoryLimitSet {
		// Ingest streams chunks and bounds its caches; a soft heap limit
		// keeps its peak memory small whatever the size of the input
		// (1M events: 184 MB peak without, 119 MB with, 7 % more time).
		debug.SetMemoryLimit(64 << 20)
	}
	// A checkpoint every 256 MiB of WAL instead of 64: about 5 % faster on
	// 1M events (each checkpoint copies the hot index pages once). A page
	// cache of 32 MiB, not 64: the peak memory.
	a, err := e.openApp(ctx, *dbPath, store.Options{CheckpointPages: 65536, CacheMiB: 32})
	if err != nil {
		return err
	}
	defer a.Close()
	a.reportRepairs(e.stderr)
	bar := newProgress(e.bars, "", -1)
	c, err := a.ingest(ctx, e, fs.Args(), *strict, bar)
	bar.finish()
	// What was committed, also when something failed after it.
	fmt.Fprintln(e.stdout, c)
	switch {
	case err != nil:
		return err
	case c.Rejected > 0:
		return &exitError{code: 1}
	}
	return nil
}

// checkInputs refuses, before any database is opened, an input file that
// cannot be read: a mistyped last name must not leave the others appended.
func checkInputs(names []string) error {
	for _, name := range names {
		if name == "-" {
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("open input: %w", err)
		}
		st, err := f.Stat()
		f.Close()
		if err == nil && st.IsDir() {
			return domain.Errorf(domain.EInvalid, "input %s is a directory: name the files in it", name)
		}
	}
	return nil
}

// ingest appends the events of the inputs names, parsing the next chunk
// while one is appended. It returns what it committed, also with an error:
// an append's or a read's, or ctx's when it was cancelled. Cancelling is a
// clean stop: the events already parsed are appended and committed, then
// ingest returns without waiting for the reader, which may be blocked
// reading stdin. A strict ingest reads everything first, then appends it
// in one transaction, rolled back if any event is rejected.
func (a *app) ingest(ctx context.Context, e *env, names []string, strict bool, bar *progress) (ingest.Tally, error) {
	// Unbuffered: at most two chunks in memory.
	b := &batcher{out: make(chan chunk), size: max(1, min(ingestChunk, ingestBatch)), idle: !strict}
	readErr := make(chan error, 1)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading() // nothing more will be appended: stop parsing
	go func() {
		defer b.close()
		readErr <- readInputs(readCtx, e, names, b, bar)
	}()

	var c ingest.Tally
	// Appends finish once begun, so that a Ctrl-C commits what was read.
	appendCtx := context.WithoutCancel(ctx)
	if strict {
		return c, a.ingestStrict(appendCtx, ctx, b, readErr, &c, bar, e.stderr)
	}
	for {
		// The first chunk of the next transaction is awaited outside one,
		// so that no transaction is open while the input is silent.
		var first chunk
		select {
		case ch, ok := <-b.out:
			switch {
			case !ok && ctx.Err() == nil:
				return c, <-readErr
			case !ok: // the reader stopped for the interrupt: what it parsed is kept
				first = chunk{entries: b.takeRest(), last: true}
			case ch.last && len(ch.entries) == 0: // nothing since the last commit
				continue
			default:
				first = ch
			}
		case <-ctx.Done():
			first = chunk{entries: b.takeRest(), last: true}
		}
		if ctx.Err() != nil && len(first.entries) == 0 {
			return c, ctx.Err()
		}
		end, err := a.ingestTxn(appendCtx, ctx, b, first, &c, bar, e.stderr)
		switch {
		case err != nil && ctx.Err() != nil:
			return c, errors.Join(ctx.Err(), err)
		case err != nil:
			return c, err
		case end == endInterrupted:
			return c, ctx.Err()
		case end == endClosed:
			return c, <-readErr
		}
	}
}

// How a transaction of ingestTxn ended.
const (
	endBatch       = iota // a whole batch, the input's burst ended or no chunk came: more may follow
	endClosed             // the reader stopped: its error (if any) says why
	endInterrupted        // ctx ended: the events already parsed were committed
)

// ingestTxn appends chunks from b, starting with first, in one transaction
// until a batch is full, a chunk ends the input's burst, the transaction
// has waited ingestIdle in all for chunks (it holds the writer lock: a
// slow input must not keep it from other writers), the reader stops or
// ctx ends; then it commits, counts in c what the transaction committed
// and prints its rejections in input order. Appends run under appendCtx.
func (a *app) ingestTxn(appendCtx, ctx context.Context, b *batcher, first chunk,
	c *ingest.Tally, bar *progress, stderr io.Writer) (int, error) {
	var t txnTally
	end := endBatch
	err := a.db.Update(appendCtx, func(tx *store.Tx) error {
		t = txnTally{}
		end = endBatch
		var waited time.Duration // for chunks, in this transaction
		ch := first
		for {
			if err := t.add(appendCtx, tx, a, ch.entries); err != nil {
				return err
			}
			if ch.last || t.n >= ingestBatch || waited >= ingestIdle {
				return nil
			}
			start := time.Now()
			idle := time.NewTimer(ingestIdle - waited)
			var ok bool
			select {
			case ch, ok = <-b.out:
				if !ok && ctx.Err() == nil {
					idle.Stop()
					end = endClosed
					return nil
				}
				if !ok { // the reader stopped for the interrupt: what it parsed is kept
					ch, end = chunk{entries: b.takeRest(), last: true}, endInterrupted
				}
			case <-ctx.Done():
				ch, end = chunk{entries: b.takeRest(), last: true}, endInterrupted
			case <-idle.C: // waited ingestIdle in all
				return nil
			}
			idle.Stop()
			waited += time.Since(start)
		}
	})
	if err != nil {
		return end, err
	}
	t.committed(c, bar, stderr)
	return end, nil
}

// errStrictRejected rolls back a strict ingest.
var errStrictRejected = errors.New("strict ingest: rejected events")

// ingestStrict reads every chunk from b, then appends them all in one
// transaction, rolled back if any event is rejected (malformed or
// conflicting). Nothing is appended when the input was not read to its
// end: a read error or ctx's end is returned instead.
func (a *app) ingestStrict(appendCtx, ctx context.Context, b *batcher, readErr <-chan error,
	c *ingest.Tally, bar *progress, stderr io.Writer) error {
	var all [][]entry
read:
	for {
		select {
		case ch, ok := <-b.out:
			if !ok {
				break read
			}
			all = append(all, ch.entries)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := <-readErr; err != nil {
		return err
	}
	var t txnTally
	err := a.db.Update(appendCtx, func(tx *store.Tx) error {
		t = txnTally{}
		for _, entries := range all {
			if err := t.add(appendCtx, tx, a, entries); err != nil {
				return err
			}
		}
		if t.tally.Rejected > 0 {
			return errStrictRejected
		}
		return nil
	})
	switch {
	case errors.Is(err, errStrictRejected):
		// Rolled back: only the rejections count.
		c.Rejected += t.tally.Rejected
		t.print(bar, stderr)
		bar.println(stderr, "--strict: nothing appended")
		return nil
	case err != nil:
		return err
	}
	t.committed(c, bar, stderr)
	return nil
}

// txnTally is what became of the events of one ingest transaction, counted
// in the ingest's tally once it commits.
type txnTally struct {
	tally    ingest.Tally
	n        int     // entries appended or refused
	rejected []entry // in input order
}

// add appends the parsed events of entries inside tx, folds them, and
// counts every entry.
func (t *txnTally) add(ctx context.Context, tx *store.Tx, a *app, entries []entry) error {
	pend := make([]store.Pending, 0, len(entries))
	idx := make([]int, 0, len(entries))
	for i, en := range entries {
		if en.err != nil {
			t.tally.Reject(en.err)
			continue
		}
		pend = append(pend, en.pending)
		idx = append(idx, i)
	}
	if len(pend) > 0 {
		outs, appended, err := tx.Append(ctx, pend)
		if err != nil {
			return err
		}
		if err := a.proj.Apply(ctx, tx, appended); err != nil {
			return err
		}
		t.tally.Add(pend, outs)
		for j, o := range outs {
			if o.Err != nil {
				entries[idx[j]].err = o.Err
			}
		}
	}
	for _, en := range entries {
		if en.err != nil {
			t.rejected = append(t.rejected, entry{name: en.name, line: en.line, err: en.err})
		}
	}
	t.n += len(entries)
	return nil
}

// committed counts in c what the committed transaction did and prints its
// rejections.
func (t *txnTally) committed(c *ingest.Tally, bar *progress, stderr io.Writer) {
	c.Appended += t.tally.Appended
	c.Duplicates += t.tally.Duplicates
	c.Rejected += t.tally.Rejected
	t.print(bar, stderr)
}

// print prints the rejections above the progress bar.
func (t *txnTally) print(bar *progress, stderr io.Writer) {
	for _, en := range t.rejected {
		bar.println(stderr, errorString(en.name, en.line, en.err))
	}
}

// chunk is a run of parsed entries, in input order; last says the input's
// burst ended with it (the input went idle or ended): what was appended is
// committed without waiting for a whole batch.
type chunk struct {
	entries []entry
	last    bool
}

// batcher gathers parsed entries into chunks of size and sends them on out,
// in input order. Every send happens under mu, so a chunk flushed early
// (the input went idle) can never overtake the one before it.
type batcher struct {
	mu    sync.Mutex
	batch []entry
	size  int
	idle  bool // flush when the input goes idle
	sent  bool // a chunk was sent since the last flush
	out   chan chunk
	done  bool // takeRest was called: nothing more is sent
	shut  bool // out is closed
}

// close closes out, under mu: an idle flush still running can no longer
// send on it.
func (b *batcher) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.shut = true
	close(b.out)
}

// add adds en, sending the chunk once it is full.
func (b *batcher) add(ctx context.Context, en entry) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batch = append(b.batch, en)
	if len(b.batch) >= b.size {
		return b.sendLocked(ctx, false)
	}
	return nil
}

// flush sends what has been gathered as the last chunk of a burst (the
// end of the input, or an input gone idle), if anything was gathered or
// sent since the last flush. Errors: ctx's.
func (b *batcher) flush(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.batch) == 0 && !b.sent {
		return nil
	}
	return b.sendLocked(ctx, true)
}

// sendLocked sends the chunk; when ctx ends first the entries stay, for
// takeRest.
func (b *batcher) sendLocked(ctx context.Context, last bool) error {
	if b.done || b.shut {
		return ctx.Err()
	}
	select {
	case b.out <- chunk{entries: b.batch, last: last}:
		b.batch, b.sent = nil, !last
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// takeRest returns what was gathered and not sent, and stops the batcher.
func (b *batcher) takeRest() []entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	rest := b.batch
	b.batch, b.done = nil, true
	return rest
}

// idleReader calls onIdle when a Read has waited longer than idle.
type idleReader struct {
	r      io.Reader
	idle   time.Duration
	onIdle func()
}

func (r idleReader) Read(p []byte) (int, error) {
	t := time.AfterFunc(r.idle, r.onIdle)
	defer t.Stop()
	return r.r.Read(p)
}

// readInputs reads and parses every input into b, and counts the events on
// bar. Events wait in b for a whole batch only while the input keeps
// coming: one silent for ingestIdle flushes them.
func readInputs(ctx context.Context, e *env, names []string, b *batcher, bar *progress) error {
	for _, name := range names {
		r, label, closeFn, err := openInput(e, name)
		if err != nil {
			return err
		}
		if b.idle {
			r = idleReader{r: r, idle: ingestIdle, onIdle: func() { _ = b.flush(ctx) }}
		}
		bar.describe(label)
		err = readItems(r, func(it item) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			en := entry{name: label, line: it.line, err: it.err}
			if en.err == nil {
				en.pending, en.err = ingest.Parse(it.raw, store.SourceFile, "", time.Time{})
			}
			bar.add(1)
			return b.add(ctx, en)
		})
		closeFn()
		if err != nil {
			return fmt.Errorf("read %s: %w", label, err)
		}
	}
	return b.flush(ctx)
}

// openInput opens a named input ("-" is stdin).
func openInput(e *env, name string) (io.Reader, string, func(), error) {
	if name == "-" {
		return e.stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, "", nil, fmt.Errorf("open input: %w", err)
	}
	return f, name, func() { f.Close() }, nil
}

// barInterval is the least time between two draws of a progress bar.
const barInterval = 100 * time.Millisecond

// progress is a progress bar counting events on a terminal. Lines printed
// with println (rejections) go above the bar, never over it: the bar is
// cleared, the line printed and the bar drawn again. A nil *progress draws
// nothing. Its methods are safe to call from several goroutines.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	bar   *progressbar.ProgressBar
	label string
	max   int64 // -1: unknown
	n     int64
	last  time.Time // of the last draw
	ended bool
}

// newProgress returns a bar on w counting events up to max (-1: unknown;
// the bar then shows the count and label), or nil when w is nil.
func newProgress(w io.Writer, label string, max int64) *progress {
	if w == nil {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionThrottle(0),                 // progress throttles its draws itself
		progressbar.OptionSetSpinnerChangeInterval(0), // and draws from no goroutine of the bar's
	}
	if max >= 0 {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true))
	} else {
		opts = append(opts, progressbar.OptionSetElapsedTime(true))
	}
	return &progress{w: w, bar: progressbar.NewOptions64(max, opts...), label: label, max: max}
}

// add counts n more events.
func (p *progress) add(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += n
	p.drawSoon()
}

// set sets the count of events.
func (p *progress) set(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n = n
	p.drawSoon()
}

// start starts the bar's clock (its rate and elapsed time) without drawing
// it.
func (p *progress) start() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.StartWithoutRender()
}

// setMax sets the count the bar ends at (a bar made with a known max).
func (p *progress) setMax(max int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.max = max
	p.bar.ChangeMax64(max)
}

// describe sets the label shown with the count (an unknown max only).
func (p *progress) describe(label string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label = label
}

// println prints line to w (the terminal the bar is on) above the bar.
func (p *progress) println(w io.Writer, line string) {
	if p == nil {
		fmt.Fprintln(w, line)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintln(w, line)
	if !p.ended && !p.last.IsZero() {
		p.draw()
	}
}

// finish clears the bar for good.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	p.ended = true
}

// drawSoon draws the bar unless it was drawn less than barInterval ago
// (the end is always drawn).
func (p *progress) drawSoon() {
	if !p.ended && (time.Since(p.last) >= barInterval || p.n == p.max) {
		p.draw()
	}
}

// clear blanks the bar's line. (The bar's own Clear misses a bar first
// drawn full.)
func (p *progress) clear() {
	if drawn := strings.TrimPrefix(p.bar.String(), "\r"); drawn != "" && !p.ended {
		fmt.Fprint(p.w, "\r"+strings.Repeat(" ", utf8.RuneCountInString(drawn))+"\r")
	}
}

func (p *progress) draw() {
	if p.max < 0 {
		p.bar.Describe(fmt.Sprintf("%s: %d events", p.label, p.n))
	}
	p.bar.Set64(p.n)
	p.last = time.Now()
}
