// Package seam is a client for Seam's events API (POST /events/list), and
// the backfill walk that `amtrack sync` runs over it: overlapping time
// windows, offset paging inside each window, a checkpoint after each one.
// Events are handed on as the bytes Seam sent, so the log stores exactly
// what Seam served.
package seam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/amtrack/amtrack/domain"
)

// DefaultEndpoint is Seam's public API.
const DefaultEndpoint = "https://connect.getseam.com"

// DefaultLimit is the page size asked for (Seam's own default).
const DefaultLimit = 500

// Defaults of a Client's zero fields.
const (
	DefaultTimeout    = 30 * time.Second
	DefaultMaxRetries = 6
	DefaultBackoff    = 500 * time.Millisecond
)

const (
	maxBackoff       = 30 * time.Second // longest wait between attempts without Retry-After
	maxRetryAfter    = 5 * time.Minute  // longest Retry-After honoured
	maxResponseBytes = 256 << 20        // one page: 500 events of up to ~0.5 MiB
	timeLayout       = "2006-01-02T15:04:05.000Z"
)

// EventTypes are the event types sync asks for: the 8 access_method.* types
// and the 7 access_grant.* types.
var EventTypes = append(append([]string{}, domain.MethodEventTypes...),
	domain.TypeGrantCreated, domain.TypeGrantDeleted, domain.TypeGrantAccessGrantedToAll,
	domain.TypeGrantAccessGrantedToDoor, domain.TypeGrantAccessToDoorLost,
	domain.TypeGrantAccessTimesChanged, domain.TypeGrantCouldNotCreateAccessMs)

// ErrUnauthorized is returned (wrapped) when Seam refuses the API key.
var ErrUnauthorized = domain.Errorf(domain.EUnauthorized, "SEAM_API_KEY was refused (401): check the key")

// Client calls Seam's events API. The zero value of every field but APIKey
// is usable; a Client is safe for concurrent use once set up.
type Client struct {
	// Endpoint is the API's base URL (default DefaultEndpoint).
	Endpoint string
	// APIKey is sent as "Authorization: Bearer <key>".
	APIKey string
	// HTTP sends the requests (default http.DefaultClient).
	HTTP *http.Client
	// Timeout bounds each attempt, reading the body included (default
	// DefaultTimeout).
	Timeout time.Duration
	// MaxRetries is how many times an attempt that failed with 429, a 5xx
	// or a network error is retried (default DefaultMaxRetries; negative:
	// never).
	MaxRetries int
	// Backoff is the first wait between attempts when Seam sends no
	// Retry-After; it doubles per retry up to 30 s, with jitter (default
	// DefaultBackoff).
	Backoff time.Duration
	// EventTypes are the types asked for (default EventTypes).
	EventTypes []string
	// OnRetry, when set, is told of each failed attempt that will be retried
	// and how long the client waits first.
	OnRetry func(err error, wait time.Duration)
}

// Window is a time range of Seam's between filter, exclusive at both ends.
type Window struct {
	After, Before time.Time
}

// String returns the window as "(after, before)".
func (w Window) String() string {
	return "(" + w.After.UTC().Format(timeLayout) + ", " + w.Before.UTC().Format(timeLayout) + ")"
}

// listRequest is the JSON body of /events/list.
type listRequest struct {
	Between        [2]string `json:"between"`
	EventTypes     []string  `json:"event_types"`
	Limit          int       `json:"limit"`
	UnstableOffset int       `json:"unstable_offset"`
}

// BaseURL returns the endpoint without trailing slashes.
func (c *Client) BaseURL() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return strings.TrimRight(c.Endpoint, "/")
}

// ListEvents returns one page of the events in w: at most limit events
// (DefaultLimit when limit <= 0), skipping the first offset of them (Seam's
// unstable_offset). Each event is the raw JSON Seam sent. Seam documents no
// order, and the offset shifts when events become visible meanwhile.
//
// A 429, a 5xx or a network error is retried up to MaxRetries times with
// backoff, honouring Retry-After. A 401 returns ErrUnauthorized (code
// unauthorized); other answers are errors that quote Seam's message.
func (c *Client) ListEvents(ctx context.Context, w Window, offset, limit int) ([]json.RawMessage, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	types := c.EventTypes
	if types == nil {
		types = EventTypes
	}
	body, err := json.Marshal(listRequest{
		Between:        [2]string{w.After.UTC().Format(timeLayout), w.Before.UTC().Format(timeLayout)},
		EventTypes:     types,
		Limit:          limit,
		UnstableOffset: offset,
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	retries := c.MaxRetries
	if retries == 0 {
		retries = DefaultMaxRetries
	}
	for attempt := 0; ; attempt++ {
		events, err := c.try(ctx, body)
		if err == nil {
			return events, nil
		}
		if errors.Is(err, ErrUnauthorized) {
			return nil, err // the window is beside the point
		}
		var re *retryable
		if !errors.As(err, &re) || ctx.Err() != nil {
			return nil, fmt.Errorf("list events %s: %w", w, err)
		}
		if attempt >= retries {
			return nil, fmt.Errorf("list events %s: %w (gave up after %d attempts)", w, re.err, attempt+1)
		}
		wait := c.backoff(attempt)
		if re.retryAfter >= 0 {
			wait = min(re.retryAfter, maxRetryAfter)
		}
		if c.OnRetry != nil {
			c.OnRetry(re.err, wait)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("list events %s: %w", w, err)
		}
	}
}

// retryable is a failed attempt worth repeating; retryAfter is Seam's
// Retry-After, or -1 when it sent none.
type retryable struct {
	err        error
	retryAfter time.Duration
}

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }

// try makes one attempt.
func (c *Client) try(ctx context.Context, body []byte) ([]json.RawMessage, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL()+"/events/list", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, &retryable{err: err, retryAfter: -1}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err != nil {
		return nil, &retryable{err: fmt.Errorf("read answer: %w", err), retryAfter: -1}
	}
	switch s := res.StatusCode; {
	case s == http.StatusUnauthorized:
		return nil, ErrUnauthorized
	case s == http.StatusTooManyRequests || s >= 500:
		return nil, &retryable{err: statusError(res, b), retryAfter: retryAfter(res.Header.Get("Retry-After"), time.Now())}
	case s != http.StatusOK:
		return nil, statusError(res, b)
	}
	if len(b) > maxResponseBytes {
		return nil, fmt.Errorf("answer over %d MiB: ask for a smaller limit", maxResponseBytes>>20)
	}
	var page struct {
		Events *[]json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	if page.Events == nil {
		return nil, errors.New("decode answer: no events array")
	}
	return *page.Events, nil
}

// statusError describes an error answer, quoting Seam's error type and
// message when the body has them ({"error": {"type", "message"}}).
func statusError(res *http.Response, body []byte) error {
	var e struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &e) == nil && (e.Error.Type != "" || e.Error.Message != "") {
		msg = strings.TrimSpace(e.Error.Type + ": " + e.Error.Message)
	}
	if msg == "" {
		return fmt.Errorf("seam answered %s", res.Status)
	}
	return fmt.Errorf("seam answered %s (%s)", res.Status, msg)
}

// retryAfter parses a Retry-After header, delay-seconds or an HTTP date
// (relative to now), and returns -1 when it is absent or malformed.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return -1
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs < 0 {
			return -1
		}
		return time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return -1
}

// backoff returns the wait before retry number attempt+1: Backoff doubled
// per attempt, capped at 30 s, drawn from its upper half (jitter).
func (c *Client) backoff(attempt int) time.Duration {
	base := c.Backoff
	if base <= 0 {
		base = DefaultBackoff
	}
	d := base
	for i := 0; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
