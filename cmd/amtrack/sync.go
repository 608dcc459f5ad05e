package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/ingest"
	"github.com/amtrack/amtrack/seam"
	"github.com/amtrack/amtrack/store"
)

// Sync defaults shared by the sync command and serve --sync-interval.
const (
	// defaultSettle is how long before now a sync stops: the events of the
	// last moments may not be visible in Seam's API yet.
	defaultSettle = time.Minute
	// serveSyncLookback is how far back serve's first sync reaches when the
	// database has no checkpoint yet (amtrack sync --since reaches further).
	serveSyncLookback = 24 * time.Hour
)

var (
	_ seam.Checkpoints = (*store.DB)(nil)
	_ seam.Sink        = (*syncSink)(nil)
)

// seamEndpoint is $SEAM_ENDPOINT, or Seam's public API.
func (c Config) seamEndpoint() string {
	if c.SeamEndpoint != "" {
		return c.SeamEndpoint
	}
	return seam.DefaultEndpoint
}

func runSync(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sync", "")
	dbPath := dbFlag(fs)
	since := fs.String("since", "", "sync events created from this RFC 3339 time (default: the stored checkpoint minus --overlap)")
	until := fs.String("until", "", "sync events created before this RFC 3339 time (default: now minus --settle)")
	endpoint := fs.String("endpoint", e.cfg.seamEndpoint(), "Seam's API base URL (env SEAM_ENDPOINT)")
	apiKey := fs.String("api-key", "", "Seam API key (default $SEAM_API_KEY)")
	window := fs.Duration("window", seam.DefaultWindow,
		"span of the first and shortest time window of the walk: a window holding under half a page (--limit) doubles the next, "+
			"a longer one whose first page is full is asked again half as long, down to --window, which is paged")
	overlap := fs.Duration("overlap", seam.DefaultOverlap,
		"how far each window, and a resumed sync, reaches back before the previous end (longer than Seam takes to show an event)")
	settle := fs.Duration("settle", defaultSettle, "stop this long before now (the newest events may not be visible yet)")
	limit := fs.Int("limit", seam.DefaultLimit, "events per page")
	timeout := fs.Duration("timeout", seam.DefaultTimeout, "timeout of one request to Seam")
	retries := fs.Int("retries", seam.DefaultMaxRetries, "retries of a request answered 429 or 5xx or failed by the network")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	key := strings.TrimSpace(*apiKey)
	if key == "" {
		key = e.cfg.SeamAPIKey
	}
	switch {
	case key == "":
		return usageError("SEAM_API_KEY is not set: export it or pass --api-key")
	case *window <= 0:
		return usageError("--window must be positive, got %s", *window)
	case *overlap < 0 || *overlap >= *window:
		return usageError("--overlap must be at least 0 and shorter than --window (%s), got %s", *window, *overlap)
	case *settle < 0:
		return usageError("--settle must not be negative, got %s", *settle)
	case *limit < 1:
		return usageError("--limit must be at least 1, got %d", *limit)
	case *timeout <= 0:
		return usageError("--timeout must be positive, got %s", *timeout)
	case *retries < 0:
		return usageError("--retries must not be negative, got %d", *retries)
	}
	from, err := flagTime("since", *since)
	if err != nil {
		return err
	}
	to, err := flagTime("until", *until)
	if err != nil {
		return err
	}
	if to.IsZero() {
		to = time.Now().Add(-*settle)
	}
	if !from.IsZero() && !from.Before(to) {
		return usageError("--since (%s) must be before --until or now minus --settle (%s)", formatTime(from), formatTime(to))
	}

	a, err := e.openApp(ctx, *dbPath, store.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	a.reportRepairs(e.stderr)
	client := &seam.Client{Endpoint: *endpoint, APIKey: key, Timeout: *timeout, MaxRetries: *retries,
		OnRetry: func(err error, wait time.Duration) {
			fmt.Fprintf(e.stderr, "amtrack: %s; retrying in %s\n", err, wait.Round(time.Millisecond))
		}}
	if *retries == 0 {
		client.MaxRetries = -1
	}
	sink := &syncSink{app: a.proj, reject: func(raw json.RawMessage, err error) {
		fmt.Fprintln(e.stderr, rejectionString(raw, err))
	}}
	s := &seam.Syncer{Client: client, Sink: sink, Checkpoints: a.db, Window: *window, Overlap: *overlap, Limit: *limit}
	resumed := from.IsZero()
	if resumed {
		from, err = s.Resume(ctx)
		if errors.Is(err, seam.ErrNoCheckpoint) {
			return usageError("no sync checkpoint for %s in %s yet: give --since (e.g. --since %s)",
				client.BaseURL(), store.Redact(*dbPath), time.Now().UTC().Add(-7*24*time.Hour).Format("2006-01-02T00:00:00Z"))
		}
		if err != nil {
			return err
		}
	}
	bar := newSyncProgress(e)
	s.Progress = bar.update

	res, err := s.Sync(ctx, from, to)
	bar.finish()
	if resumed && res.Windows == 0 && err == nil {
		res.Checkpoint = from.Add(*overlap) // nothing new to walk: still the stored checkpoint
	}
	if res.Windows > 0 || err == nil {
		fmt.Fprintln(e.stdout, syncSummary(res))
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return &exitError{code: 1, msg: "interrupted: run amtrack sync again to resume from the checkpoint"}
	case err != nil:
		return err
	case res.Rejected > 0:
		return &exitError{code: 1}
	}
	return nil
}

// flagTime parses an RFC 3339 time flag ("" is the zero time). Errors: usage.
func flagTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, usageError("--%s must be an RFC 3339 time such as 2026-11-01T00:00:00Z, got %q", name, v)
	}
	return t.UTC(), nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// syncSummary is sync's one-line summary.
func syncSummary(res seam.Result) string {
	rejected := ""
	if res.Rejected > 0 {
		rejected = fmt.Sprintf(", rejected %d", res.Rejected)
	}
	upTo := res.Checkpoint
	if upTo.IsZero() {
		upTo = res.Until
	}
	return fmt.Sprintf("synced %d events (appended %d, duplicates %d%s) up to %s",
		res.Events, res.Appended, res.Duplicates, rejected, formatTime(upTo))
}

// rejectionString formats a refused Seam event for stderr.
func rejectionString(raw json.RawMessage, err error) string {
	id := rawEventID(raw)
	if id == "" {
		return "seam event without event_id: " + domain.ErrorMessage(err)
	}
	return fmt.Sprintf("seam event %s: %s", id, domain.ErrorMessage(err))
}

// rawEventID returns what can be read of a (possibly malformed) event's
// event_id, lowercase: "" when absent or not a string.
func rawEventID(raw json.RawMessage) string {
	var e map[string]any
	if json.Unmarshal(raw, &e) != nil {
		return ""
	}
	id, _ := e["event_id"].(string)
	return strings.ToLower(id)
}

// syncSink lands synced events in the log with source sync: each is parsed
// (a malformed one is rejected and reported), then the page is appended
// through app (which folds it in the same transaction), and everything is
// counted by ingest.Tally.
type syncSink struct {
	app     ingest.Appender
	reject  func(raw json.RawMessage, err error) // reports every rejection
	counter ingest.Counter                       // also told of every event; nil: none
}

// Append implements seam.Sink.
func (s *syncSink) Append(ctx context.Context, events []json.RawMessage) (seam.Counts, error) {
	t := ingest.Tally{Counter: s.counter}
	batch := make([]store.Pending, 0, len(events))
	raws := make([]json.RawMessage, 0, len(events))
	now := time.Now()
	for _, raw := range events {
		p, err := ingest.Parse(raw, store.SourceSync, "", now)
		if err != nil {
			t.Reject(err)
			s.reject(raw, err)
			continue
		}
		batch = append(batch, p)
		raws = append(raws, raw)
	}
	var err error
	if len(batch) > 0 {
		var out []store.Outcome
		out, err = t.Append(ctx, s.app, batch)
		for i, o := range out {
			if o.Err != nil {
				s.reject(raws[i], o.Err)
			}
		}
	}
	return seam.Counts{Appended: t.Appended, Duplicates: t.Duplicates, Rejected: t.Rejected}, err
}

// syncProgress is a progress bar over windows on a terminal (nil otherwise).
type syncProgress struct {
	out *os.File
	bar *progressbar.ProgressBar
}

func newSyncProgress(e *env) *syncProgress {
	out, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(out.Fd())) {
		return nil
	}
	return &syncProgress{out: out}
}

// update shows done windows of total, an estimate that changes as the
// windows grow and shrink.
func (p *syncProgress) update(done, total int) {
	if p == nil {
		return
	}
	if p.bar != nil && p.bar.GetMax() != total {
		p.bar.ChangeMax(total)
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(p.out),
			progressbar.OptionSetDescription("sync windows"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	p.bar.Set(done)
}

func (p *syncProgress) finish() {
	if p != nil && p.bar != nil {
		p.bar.Finish()
	}
}

// backgroundSync is serve's --sync-interval: the same sync, run every
// interval next to the webhook receiver.
type backgroundSync struct {
	interval time.Duration
	client   *seam.Client
}

// newBackgroundSync checks serve's --sync-interval: nil when it is 0 (off),
// a usage error when it is negative or SEAM_API_KEY is not set in cfg.
func newBackgroundSync(interval time.Duration, cfg Config) (*backgroundSync, error) {
	switch {
	case interval == 0:
		return nil, nil
	case interval < 0:
		return nil, usageError("--sync-interval must be positive, got %s", interval)
	case cfg.SeamAPIKey == "":
		return nil, usageError("--sync-interval needs SEAM_API_KEY: export it, or leave --sync-interval unset")
	}
	return &backgroundSync{interval: interval, client: &seam.Client{Endpoint: cfg.seamEndpoint(), APIKey: cfg.SeamAPIKey}}, nil
}

// start runs a sync now and then every interval in a goroutine, appending
// through w (the webhooks' group-commit writer, so the two are serialised
// by the store's writer). The returned stop cancels it and waits for it to
// end; call it before closing w. A nil b starts nothing.
func (b *backgroundSync) start(ctx context.Context, a *app, w *store.Writer, opts api.Options) (stop func()) {
	if b == nil {
		return func() {}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b.client.OnRetry = func(err error, wait time.Duration) {
		log.Warn("sync: retrying", "err", err, "wait", wait)
	}
	sink := &syncSink{app: w, reject: func(raw json.RawMessage, err error) {
		log.Warn("sync: event rejected", "reason", rejectionString(raw, err))
	}}
	if m := opts.Metrics; m != nil {
		sink.counter = m
	}
	s := &seam.Syncer{Client: b.client, Sink: sink, Checkpoints: a.db, Overlap: seam.DefaultOverlap}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(b.interval)
		defer t.Stop()
		for {
			b.once(ctx, s, log)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// once runs one background sync and logs a line about it.
func (b *backgroundSync) once(ctx context.Context, s *seam.Syncer, log *slog.Logger) {
	start := time.Now()
	from, err := s.Resume(ctx)
	if errors.Is(err, seam.ErrNoCheckpoint) {
		from = start.Add(-serveSyncLookback)
		log.Info("sync: no checkpoint yet, syncing the last "+serveSyncLookback.String()+
			" (amtrack sync --since reaches further back)", "endpoint", s.Client.BaseURL())
	} else if err != nil {
		log.Error("sync failed", "err", err)
		return
	}
	res, err := s.Sync(ctx, from, start.Add(-defaultSettle))
	if ctx.Err() != nil {
		return // shutting down
	}
	attrs := []any{"events", res.Events, "appended", res.Appended, "duplicates", res.Duplicates,
		"rejected", res.Rejected, "windows", res.Windows, "took", time.Since(start).Round(time.Millisecond)}
	if !res.Checkpoint.IsZero() {
		attrs = append(attrs, "up_to", formatTime(res.Checkpoint))
	}
	if err != nil {
		log.Error("sync failed", append(attrs, "err", err)...)
		return
	}
	log.Info("sync", attrs...)
}
