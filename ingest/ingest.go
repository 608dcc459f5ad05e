// Package ingest is the one path by which events enter the log: it parses
// raw bytes into events bound for the log with their source, and tallies
// what became of them (appended, duplicate of a logged event, or rejected).
// The webhook receiver, sync, the ingest command and the demo seeding all
// go through it, so that what counts as a duplicate or a rejection is
// decided in one place.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/store"
)

// Appender appends a batch of events durably and says, once they are
// committed, what became of each: *store.Writer (group commit) and
// *projection.Projection (one transaction that also folds) implement it.
// An error means nothing of the batch was appended.
type Appender interface {
	Append(ctx context.Context, batch []store.Pending) ([]store.Outcome, error)
}

var _ Appender = (*store.Writer)(nil)

// Counter is told of each event's outcome by event type, for metrics;
// *api.Metrics implements it. Its methods must be safe for concurrent use.
type Counter interface {
	// EventsAppended counts n events of eventType appended to the log.
	EventsAppended(eventType string, n int)
	// EventDuplicate counts one event of eventType already in the log.
	EventDuplicate(eventType string)
	// EventRejected counts one refused event: its type ("" when it did not
	// parse far enough to have one) and the reason, an error code.
	EventRejected(eventType, reason string)
}

// Parse parses raw as one Seam event arriving from source (store.SourceWebhook,
// SourceSync or SourceFile) with the webhook's messageID (or "") at
// receivedAt (zero: when it is appended). The event keeps raw as its bytes.
// Errors: the parser's invalid_input or payload_too_large *domain.Error,
// naming the field, and the event type when it could be read.
func Parse(raw []byte, source, messageID string, receivedAt time.Time) (store.Pending, error) {
	ev, err := domain.ParseEvent(raw)
	if err != nil {
		return store.Pending{}, err
	}
	if strings.HasPrefix(ev.Type, "amtrack.") {
		// amtrack's own events (codes_forgotten) are appended by amtrack
		// alone: one arriving from outside would forge the audit.
		e := domain.FieldErrorf("event_type", "%s is amtrack's own event type: it is written by amtrack (amtrack forget), never ingested", ev.Type)
		e.EventType = ev.Type
		return store.Pending{}, e
	}
	// Redacted here, on the caller's goroutine, not on the writer.
	return store.Prepared(store.Pending{Event: ev, Source: source, MessageID: messageID, ReceivedAt: receivedAt}), nil
}

// Tally counts what became of events: appended, duplicates (the same
// event_id with the same value, a no-op) and rejected (malformed, or
// conflicting with a logged event). When Counter is set, each event is
// also counted there by type. A Tally is not safe for concurrent use: each
// ingestion (a request, a page, a batch) keeps its own, or one at a time.
type Tally struct {
	Appended, Duplicates, Rejected int
	// Counter, when set, is also told of each event (nil: none).
	Counter Counter
}

// Reject counts one event refused before it was appended: err is why,
// usually Parse's error, whose event type (when it could be read) and code
// label the rejection.
func (t *Tally) Reject(err error) {
	t.Rejected++
	if t.Counter != nil {
		t.Counter.EventRejected(eventType(err), domain.ErrorCode(err))
	}
}

// Add counts the outcomes outs of appending batch (outs[i] is batch[i]'s):
// an outcome with an error is a rejection (its code the reason), one marked
// Duplicate a duplicate, any other an appended event.
func (t *Tally) Add(batch []store.Pending, outs []store.Outcome) {
	var appended map[string]int // by type, for Counter
	for i, o := range outs {
		switch {
		case o.Err != nil:
			t.Rejected++
			if t.Counter != nil {
				t.Counter.EventRejected(batch[i].Event.Type, domain.ErrorCode(o.Err))
			}
		case o.Duplicate:
			t.Duplicates++
			if t.Counter != nil {
				t.Counter.EventDuplicate(batch[i].Event.Type)
			}
		default:
			t.Appended++
			if t.Counter != nil {
				if appended == nil {
					appended = map[string]int{}
				}
				appended[batch[i].Event.Type]++
			}
		}
	}
	for typ, n := range appended {
		t.Counter.EventsAppended(typ, n)
	}
}

// Append appends batch through app and counts its outcomes. It returns the
// outcomes (outs[i] is batch[i]'s), or app's error, when nothing is
// counted.
func (t *Tally) Append(ctx context.Context, app Appender, batch []store.Pending) ([]store.Outcome, error) {
	outs, err := app.Append(ctx, batch)
	if err != nil {
		return nil, err
	}
	t.Add(batch, outs)
	return outs, nil
}

// String is the tally as the CLI prints it:
// "appended 3, duplicates 1, rejected 0".
func (t Tally) String() string {
	return fmt.Sprintf("appended %d, duplicates %d, rejected %d", t.Appended, t.Duplicates, t.Rejected)
}

// eventType is the event type a *domain.Error in err's chain names, or "".
func eventType(err error) string {
	var e *domain.Error
	if errors.As(err, &e) {
		return e.EventType
	}
	return ""
}
