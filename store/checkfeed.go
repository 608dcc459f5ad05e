package store

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"

	"github.com/amtrack/amtrack/domain"
)

// Reading ahead: CheckLog reads rows in chunks and hands each chunk to a
// worker that parses its payloads (and opens its sealed bytes), while the
// walk checks the chunks before it.
const (
	chunkRows  = 256 // rows in a chunk
	chunkAhead = 4   // chunks read ahead of the walk at most
)

// checkWorkers is how many workers parse rows for CheckLog: the walk
// itself keeps one core busy.
func checkWorkers() int {
	return min(max(runtime.GOMAXPROCS(0)-1, 1), 2)
}

// rowChunk is rows read in seq order, then err when reading stopped there
// with an error; done is closed when the rows are parsed.
type rowChunk struct {
	rows []checkRow
	err  error
	done chan struct{}
}

// rowFeed reads the rows of a result set in the caller's goroutine (a
// result set is for one goroutine) and gives them back in seq order,
// parsed by its workers. close stops the workers and waits for them.
type rowFeed struct {
	ctx    context.Context
	rows   *sql.Rows
	deks   dataKeys
	jobs   chan *rowChunk // nil without workers
	stop   chan struct{}
	wg     sync.WaitGroup
	queue  []*rowChunk // read, in seq order
	cur    *rowChunk
	i      int  // the next row of cur
	ended  bool // rows is read to its end or failed
	closed bool
}

func newRowFeed(ctx context.Context, rows *sql.Rows, deks dataKeys, workers int) *rowFeed {
	f := &rowFeed{ctx: ctx, rows: rows, deks: deks, stop: make(chan struct{})}
	if workers > 0 {
		f.jobs = make(chan *rowChunk, chunkAhead)
		f.wg.Add(workers)
		for range workers {
			go f.work()
		}
	}
	return f
}

// work parses the chunks it is given until the feed closes.
func (f *rowFeed) work() {
	defer f.wg.Done()
	for ch := range f.jobs {
		f.parse(ch)
		close(ch.done)
	}
}

// parse works out what every row of ch holds, the part of the check that
// needs no other row; it gives up when the feed closes.
func (f *rowFeed) parse(ch *rowChunk) {
	for i := range ch.rows {
		select {
		case <-f.stop:
			return
		default:
		}
		r := &ch.rows[i]
		r.parsed, r.parseErr = domain.ParseEvent(r.Event.Raw)
		if r.parseErr != nil {
			r.parsed = nil
		} else if r.storedSealed != nil {
			r.seal = openSealed(f.deks, r)
		}
	}
}

// next returns the next row, nil after the last. Errors: internal,
// or the context's.
func (f *rowFeed) next() (*checkRow, error) {
	for {
		if err := f.ctx.Err(); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		if f.cur != nil {
			if f.i < len(f.cur.rows) {
				f.i++
				return &f.cur.rows[f.i-1], nil
			}
			if f.cur.err != nil {
				return nil, f.cur.err
			}
			f.cur = nil
		}
		for !f.ended && len(f.queue) < chunkAhead {
			f.queue = append(f.queue, f.read())
		}
		if len(f.queue) == 0 {
			return nil, nil
		}
		f.cur, f.i = f.queue[0], 0
		f.queue[0] = nil
		f.queue = f.queue[1:]
		select {
		case <-f.cur.done:
		case <-f.ctx.Done():
			return nil, fmt.Errorf("read events: %w", f.ctx.Err())
		}
	}
}

// read reads the next chunk and has it parsed.
func (f *rowFeed) read() *rowChunk {
	ch := &rowChunk{rows: make([]checkRow, 0, chunkRows), done: make(chan struct{})}
	for len(ch.rows) < chunkRows {
		if !f.rows.Next() {
			if err := f.rows.Err(); err != nil {
				ch.err = fmt.Errorf("read events: %w", err)
			}
			f.ended = true
			break
		}
		r, err := scanCheckRow(f.rows)
		if err != nil {
			ch.err = fmt.Errorf("read events: %w", err)
			f.ended = true
			break
		}
		ch.rows = append(ch.rows, r)
	}
	if f.jobs == nil {
		f.parse(ch)
		close(ch.done)
	} else {
		f.jobs <- ch
	}
	return ch
}

// close stops the workers and waits for them to end.
func (f *rowFeed) close() {
	if f.closed {
		return
	}
	f.closed = true
	close(f.stop)
	if f.jobs != nil {
		close(f.jobs)
	}
	f.wg.Wait()
}
