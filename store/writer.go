package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrWriterClosed is returned by Writer.Append after Close.
var ErrWriterClosed = errors.New("writer is closed")

// Writer group-commits appends from many goroutines: one goroutine takes
// every append queued while the previous commit was running and commits
// them in one transaction (one fsync for many events), answering each caller
// only after that commit. An idle writer commits a lone append at once, so
// the batch window adapts to load with no added latency.
type Writer struct {
	db       *DB
	apply    ApplyFunc
	maxBatch int
	reqs     chan *writeRequest
	stop     chan struct{}
	done     chan struct{}
	closing  sync.Once

	// Observe, when set before the first Append, is called after each
	// commit with the number of events in it and how long it took.
	Observe func(events int, took time.Duration)
}

type writeRequest struct {
	ctx   context.Context
	batch []Pending
	reply chan writeResult
}

type writeResult struct {
	outcomes []Outcome
	err      error
}

// NewWriter starts a writer that appends to db, folding with apply (may be
// nil) in the same transaction. maxBatch bounds the events per commit; 1
// disables group commit (one transaction per append, for comparison).
func NewWriter(db *DB, apply ApplyFunc, maxBatch int) *Writer {
	if maxBatch <= 0 {
		maxBatch = 2000
	}
	w := &Writer{db: db, apply: apply, maxBatch: maxBatch,
		reqs: make(chan *writeRequest, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Append queues batch and returns its outcomes once committed. If ctx ends
// while the batch waits in the queue it is not appended; once its commit has
// started, Append waits for it.
func (w *Writer) Append(ctx context.Context, batch []Pending) ([]Outcome, error) {
	req := &writeRequest{ctx: ctx, batch: batch, reply: make(chan writeResult, 1)}
	select {
	case <-w.stop:
		return nil, ErrWriterClosed
	default:
	}
	select {
	case w.reqs <- req:
	case <-w.stop:
		return nil, ErrWriterClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case res := <-req.reply:
		return res.outcomes, res.err
	case <-w.done:
		// The select above may have queued req after Close (both cases
		// ready), behind the writer's last drain. The writer answers every
		// request it took before it ends, so no answer means not appended.
		select {
		case res := <-req.reply:
			return res.outcomes, res.err
		default:
			return nil, ErrWriterClosed
		}
	}
}

// Close stops accepting appends, commits those already queued and returns
// when the writer goroutine has finished.
func (w *Writer) Close() {
	w.closing.Do(func() { close(w.stop) })
	<-w.done
}

func (w *Writer) run() {
	defer close(w.done)
	for {
		select {
		case req := <-w.reqs:
			w.commit(w.gather(req))
		case <-w.stop:
			// Drain what was queued before Close.
			for {
				select {
				case req := <-w.reqs:
					w.commit(w.gather(req))
				default:
					return
				}
			}
		}
	}
}

// gather returns first plus every request already queued, up to maxBatch
// events.
func (w *Writer) gather(first *writeRequest) []*writeRequest {
	group := []*writeRequest{first}
	for n := len(first.batch); n < w.maxBatch; {
		select {
		case req := <-w.reqs:
			group = append(group, req)
			n += len(req.batch)
		default:
			return group
		}
	}
	return group
}

// commit appends a group in one transaction. If that fails, each request is
// retried alone, so one bad request cannot fail the others.
func (w *Writer) commit(group []*writeRequest) {
	live := group[:0]
	for _, req := range group {
		if err := req.ctx.Err(); err != nil {
			req.reply <- writeResult{err: err}
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	var all []Pending
	for _, req := range live {
		all = append(all, req.batch...)
	}
	start := time.Now()
	outcomes, err := w.db.Append(context.Background(), all, w.apply)
	if err != nil && len(live) > 1 {
		for _, req := range live {
			w.commit([]*writeRequest{req})
		}
		return
	}
	if err == nil && w.Observe != nil {
		w.Observe(len(all), time.Since(start))
	}
	for _, req := range live {
		if err != nil {
			req.reply <- writeResult{err: err}
			continue
		}
		req.reply <- writeResult{outcomes: outcomes[:len(req.batch):len(req.batch)]}
		outcomes = outcomes[len(req.batch):]
	}
}
