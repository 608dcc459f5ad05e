package seam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of a Syncer's zero fields.
const (
	DefaultWindow  = time.Hour
	DefaultOverlap = 10 * time.Minute
)

// maxPagesPerWindow bounds the paging of one window, so that a server that
// keeps sending full pages of new ids cannot keep sync busy forever.
const maxPagesPerWindow = 10000

// Sink is where synced events go (amtrack's log).
type Sink interface {
	// Append lands a page of events, each exactly as Seam sent it, and says
	// what became of them. A malformed or conflicting event is counted as
	// rejected, not returned as an error: an error means nothing can be
	// appended (the database failed) and stops the sync.
	Append(ctx context.Context, events []json.RawMessage) (Counts, error)
}

// Checkpoints keeps, per endpoint, the end of the last window that sync
// walked completely.
type Checkpoints interface {
	SyncCheckpoint(ctx context.Context, endpoint string) (t time.Time, ok bool, err error)
	SetSyncCheckpoint(ctx context.Context, endpoint string, t time.Time) error
}

// Counts tallies what a sync did. Events counts every event Seam returned
// (once per window it was returned in); each was then appended, a duplicate
// of a logged event, or rejected.
type Counts struct {
	Events, Appended, Duplicates, Rejected int
}

func (c *Counts) add(o Counts) {
	c.Events += o.Events
	c.Appended += o.Appended
	c.Duplicates += o.Duplicates
	c.Rejected += o.Rejected
}

// Result is what Sync did: its counts, the span it walked and the windows
// it completed. Checkpoint is the end of the last window completed (zero
// when none was).
type Result struct {
	Counts
	From, Until time.Time
	Windows     int
	Checkpoint  time.Time
}

// Syncer backfills the log from Seam's events API.
//
// Seam documents no order for /events/list, pages by an offset that shifts
// when events become visible meanwhile, and events can become visible late.
// So Sync walks time windows, each overlapping the previous one by Overlap;
// inside a window it pages by offset until a short page; and it relies on
// the log's idempotency (event_id) to land each event exactly once, however
// often it is fetched. After each window it stores the window's end as the
// checkpoint, so a later sync resumes at checkpoint - Overlap.
//
// The windows adapt to the events, so that the requests grow with the
// events and not with the span: a window that holds less than half a page
// doubles the next one, one that holds more keeps its size; a window longer
// than Window whose first page is full is not paged: that page is dropped,
// no checkpoint is stored, and the window is asked again half as long (down
// to Window, which is paged as before). Paging, which the shifting offset
// makes fragile, thus only happens in windows of the initial size. Growth
// has no cap but the span: an empty stretch costs a request per doubling,
// and a window, however long, answers at most a page.
type Syncer struct {
	Client      *Client
	Sink        Sink
	Checkpoints Checkpoints
	// Window is the span of the first window and the shortest one
	// (default DefaultWindow); the windows grow over sparse stretches.
	Window time.Duration
	// Overlap is how far each window reaches back into the previous one,
	// and a resumed sync before its checkpoint (0: none; DefaultOverlap is
	// a sensible value; must be shorter than Window). It should exceed how
	// late Seam makes an event visible.
	Overlap time.Duration
	// Limit is the page size (default DefaultLimit).
	Limit int
	// Progress, when set, is called after each complete window with the
	// number of windows done and an estimate of the total (the windows done
	// and those left at the current window size; exact after the last).
	Progress func(done, total int)
}

// ErrNoCheckpoint is returned by Resume when sync has never completed a
// window for the endpoint.
var ErrNoCheckpoint = errors.New("no sync checkpoint yet")

func (s *Syncer) window() time.Duration {
	if s.Window <= 0 {
		return DefaultWindow
	}
	return s.Window
}

func (s *Syncer) overlap() time.Duration { return max(s.Overlap, 0) }

// Resume returns where a sync without an explicit start begins: the stored
// checkpoint minus Overlap, or ErrNoCheckpoint.
func (s *Syncer) Resume(ctx context.Context) (time.Time, error) {
	t, ok, err := s.Checkpoints.SyncCheckpoint(ctx, s.Client.BaseURL())
	if err != nil {
		return time.Time{}, err
	}
	if !ok {
		return time.Time{}, ErrNoCheckpoint
	}
	return t.Add(-s.overlap()), nil
}

// Sync walks the events created in [from, until) (at millisecond precision,
// Seam's) and appends them to the Sink, storing the checkpoint after each
// window; an event created at until is the next sync's. On an error it
// returns what it did so far; the checkpoint stays at the end of the last
// window completed.
func (s *Syncer) Sync(ctx context.Context, from, until time.Time) (Result, error) {
	window, overlap := s.window(), s.overlap()
	if overlap >= window {
		return Result{}, fmt.Errorf("sync: the overlap (%s) must be shorter than the window (%s)", overlap, window)
	}
	limit := s.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	from, until = from.UTC().Truncate(time.Millisecond), until.UTC().Truncate(time.Millisecond)
	res := Result{From: from, Until: until}
	if !from.Before(until) {
		return res, nil
	}
	size := window
	for start := from; ; {
		end := start.Add(size)
		if end.After(until) {
			end = until
		}
		// Seam's between is exclusive: reach back one millisecond so that
		// an event created exactly at start is in.
		w := Window{After: start.Add(-time.Millisecond), Before: end}
		span := end.Sub(start)
		c, full, err := s.walk(ctx, w, limit, span > window)
		res.add(c)
		if err != nil {
			return res, err
		}
		if full {
			// At least a page in a long window: ask for half of it rather
			// than page through it. Nothing of it was appended, nor is the
			// checkpoint moved.
			size = max((span / 2).Truncate(time.Millisecond), window)
			continue
		}
		if err := s.Checkpoints.SetSyncCheckpoint(ctx, s.Client.BaseURL(), end); err != nil {
			return res, fmt.Errorf("sync: %w", err)
		}
		res.Windows++
		res.Checkpoint = end
		if !end.Before(until) {
			if s.Progress != nil {
				s.Progress(res.Windows, res.Windows)
			}
			return res, nil
		}
		start = end.Add(-overlap)
		if 2*c.Events < limit {
			size = grow(size, until.Sub(start))
		}
		if s.Progress != nil {
			s.Progress(res.Windows, res.Windows+windowCount(until.Sub(start), size, overlap))
		}
	}
}

// grow returns size doubled, but no longer than left, the rest of the span
// (where the window is cut anyway), unless size already is.
func grow(size, left time.Duration) time.Duration {
	if size >= left/2 {
		return max(left, size)
	}
	return 2 * size
}

// windowCount returns how many windows of the given size cover span.
func windowCount(span, window, overlap time.Duration) int {
	if span <= window {
		return 1
	}
	step := window - overlap
	return 1 + int((span-window+step-1)/step)
}

// walk pages through one window. A page shorter than the limit ends it; so
// does a page longer than the limit (the server ignores limit and sent
// everything) and a page with nothing new (the server ignores the offset):
// either way the window has been read. With probe set, a first page of
// exactly limit events returns full, and nothing is appended: the caller
// asks for a shorter window instead.
func (s *Syncer) walk(ctx context.Context, w Window, limit int, probe bool) (c Counts, full bool, err error) {
	seen := map[string]bool{}
	for pages, offset := 0, 0; ; pages++ {
		if pages == maxPagesPerWindow {
			return c, false, fmt.Errorf("sync %s: over %d pages in one window: use a shorter window", w, maxPagesPerWindow)
		}
		page, err := s.Client.ListEvents(ctx, w, offset, limit)
		if err != nil {
			return c, false, err
		}
		if probe && pages == 0 && len(page) == limit {
			return c, true, nil
		}
		fresh := make([]json.RawMessage, 0, len(page))
		for _, raw := range page {
			if id := eventID(raw); id != "" {
				if seen[id] {
					continue // the same event twice in one window
				}
				seen[id] = true
			}
			fresh = append(fresh, raw)
		}
		if len(fresh) > 0 {
			got, err := s.Sink.Append(ctx, fresh)
			if err != nil {
				return c, false, fmt.Errorf("sync %s: %w", w, err)
			}
			got.Events = len(fresh)
			c.add(got)
		}
		if len(page) != limit || len(fresh) == 0 {
			return c, false, nil
		}
		offset += len(page)
	}
}

// eventID returns an event's event_id, lowercase, or "" when it has none
// (the Sink rejects such an event).
func eventID(raw json.RawMessage) string {
	var e struct {
		EventID string `json:"event_id"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return ""
	}
	return strings.ToLower(e.EventID)
}
