package ingest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/ingest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// issued is a well-formed access_method.issued event.
var issued = testutil.MethodEvent(1, "issued", `,"code":"1234"`)

// counter records what a Tally tells its Counter.
type counter struct{ got []string }

func (c *counter) EventsAppended(typ string, n int) {
	c.got = append(c.got, "appended "+typ+" "+strings.Repeat("+", n))
}
func (c *counter) EventDuplicate(typ string) { c.got = append(c.got, "duplicate "+typ) }
func (c *counter) EventRejected(typ, reason string) {
	c.got = append(c.got, "rejected "+typ+" "+reason)
}

func TestParse(t *testing.T) {
	at := time.Date(2026, 1, 5, 8, 0, 1, 0, time.UTC)
	p, err := ingest.Parse([]byte(issued), store.SourceWebhook, "msg_1", at)
	require.NoError(t, err)
	assert.Equal(t, "access_method.issued", p.Event.Type)
	assert.Equal(t, issued, string(p.Event.Raw), "the event keeps the bytes")
	assert.Equal(t, store.SourceWebhook, p.Source)
	assert.Equal(t, "msg_1", p.MessageID)
	assert.Equal(t, at, p.ReceivedAt)

	// A malformed event: the parser's error, naming the type and field.
	_, err = ingest.Parse([]byte(strings.Replace(issued, `"1234"`, `1234`, 1)), store.SourceFile, "", time.Time{})
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, domain.EInvalid, de.Code)
	assert.Equal(t, "access_method.issued", de.EventType)
	assert.Equal(t, "code", de.Field)
}

func TestTally(t *testing.T) {
	ev := func(typ string) store.Pending { return store.Pending{Event: &domain.Event{Type: typ}} }
	conflict := domain.Errorf(domain.EConflict, "another value")
	tests := []struct {
		name    string
		rejects []error
		batch   []store.Pending
		outs    []store.Outcome
		want    ingest.Tally
		counted []string
	}{
		{name: "nothing", want: ingest.Tally{}},
		{
			name:    "appended, duplicate and conflict",
			batch:   []store.Pending{ev("a.x"), ev("b.y"), ev("a.x"), ev("c.z")},
			outs:    []store.Outcome{{Seq: 1}, {Seq: 2, Duplicate: true}, {Seq: 3}, {Err: conflict}},
			want:    ingest.Tally{Appended: 2, Duplicates: 1, Rejected: 1},
			counted: []string{"duplicate b.y", "rejected c.z conflict", "appended a.x ++"},
		},
		{
			name: "rejections labelled by the parse error's event type",
			rejects: []error{
				&domain.Error{Code: domain.EInvalid, Field: "code", EventType: "access_method.issued"},
				joined(&domain.Error{Code: domain.EInvalid, Field: "event_type"}),
				&domain.Error{Code: domain.ETooLarge},
				errors.New("a line too long"),
			},
			want: ingest.Tally{Rejected: 4},
			counted: []string{"rejected access_method.issued invalid_input", "rejected  invalid_input",
				"rejected  payload_too_large", "rejected  internal"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &counter{}
			tally := ingest.Tally{Counter: c}
			for _, err := range tt.rejects {
				tally.Reject(err)
			}
			tally.Add(tt.batch, tt.outs)
			tt.want.Counter = c
			assert.Equal(t, tt.want, tally)
			assert.Equal(t, tt.counted, c.got)

			// Without a Counter, the same counts.
			var bare ingest.Tally
			for _, err := range tt.rejects {
				bare.Reject(err)
			}
			bare.Add(tt.batch, tt.outs)
			tt.want.Counter = nil
			assert.Equal(t, tt.want, bare)
		})
	}
}

func joined(err error) error { return errors.Join(errors.New("read"), err) }

// appender answers outs or err.
type appender struct {
	outs []store.Outcome
	err  error
}

func (a appender) Append(context.Context, []store.Pending) ([]store.Outcome, error) {
	return a.outs, a.err
}

func TestTallyAppend(t *testing.T) {
	batch := []store.Pending{{Event: &domain.Event{Type: "a.x"}}, {Event: &domain.Event{Type: "a.x"}}}
	var tally ingest.Tally
	outs, err := tally.Append(context.Background(), appender{outs: []store.Outcome{{Seq: 1}, {Seq: 1, Duplicate: true}}}, batch)
	require.NoError(t, err)
	assert.Len(t, outs, 2)
	assert.Equal(t, "appended 1, duplicates 1, rejected 0", tally.String())

	// A failed append counts nothing.
	failed := errors.New("disk full")
	_, err = tally.Append(context.Background(), appender{err: failed}, batch)
	require.ErrorIs(t, err, failed)
	assert.Equal(t, "appended 1, duplicates 1, rejected 0", tally.String())
}

// TestParseRefusesAmtrackTypes: amtrack's own event types are written by
// amtrack alone; one arriving by webhook, sync or file would forge the
// audit.
func TestParseRefusesAmtrackTypes(t *testing.T) {
	raw := `{"event_id":"` + testutil.EventID(1) + `","event_type":"amtrack.codes_forgotten","workspace_id":"` +
		testutil.WorkspaceID + `","created_at":"2026-03-01T10:00:00Z","occurred_at":"2026-03-01T10:00:00Z","access_method_id":"` +
		testutil.MethodID(1) + `"}`
	_, err := ingest.Parse([]byte(raw), store.SourceWebhook, "", time.Time{})
	require.Error(t, err)
	assert.Equal(t, domain.EInvalid, domain.ErrorCode(err))
	assert.Contains(t, err.Error(), `amtrack.codes_forgotten: field "event_type": amtrack.codes_forgotten is amtrack's own event type`)
}
