package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// webhookSecret is the secret the receiver under test checks signatures
// with (Seam's documented test secret); otherSecret is a different valid one.
const (
	webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	otherSecret   = "whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ="
)

// webhookEnv is a server with the webhook receiver, appending through a
// group-commit writer as serve does, and a validating client.
type webhookEnv struct {
	p *projection.Projection
	c *client
	h http.Handler
}

func newWebhookEnv(t *testing.T, opts api.WebhookOptions) *webhookEnv {
	t.Helper()
	p := MustOpen(t)
	m := api.NewMetrics(p)
	srv := api.NewServer(p, api.Options{Metrics: m})
	w := store.NewWriter(p.DB(), p.Apply, 0)
	w.Observe = m.ObserveCommit
	t.Cleanup(w.Close) // before the database closes (cleanups run last first)
	require.NoError(t, srv.EnableWebhooks(w, opts))
	return &webhookEnv{p: p, c: newClient(t, srv.Handler()), h: srv.Handler()}
}

var msgSeq atomic.Int64

// signed signs body now with the test secret and svix-* names, under a new
// message id.
func signed(t testing.TB, body []byte) http.Header {
	t.Helper()
	return testutil.Sign(t, webhookSecret, "svix-", fmt.Sprintf("msg_%d", msgSeq.Add(1)), time.Now(), body)
}

// post sends one webhook through the validating client.
func (e *webhookEnv) post(t *testing.T, body io.Reader, h http.Header) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks/seam", body)
	req.Header.Set("Content-Type", "application/json")
	return e.c.on(t).send(req, h)
}

// count is the number of events in the log.
func (e *webhookEnv) count(t *testing.T) int64 {
	t.Helper()
	_, n, err := e.p.DB().Head(context.Background())
	require.NoError(t, err)
	return n
}

// stored returns the logged record of an event.
func (e *webhookEnv) stored(t *testing.T, id domain.ID) store.Record {
	t.Helper()
	rec, err := e.p.DB().Event(context.Background(), id)
	require.NoError(t, err)
	return rec
}

// ok decodes a 200's body.
func ok(t *testing.T, res response) (id string, seq int64, duplicate bool) {
	t.Helper()
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	b := res.json(t)
	assert.Equal(t, true, b["ok"])
	return b["event_id"].(string), int64(b["seq"].(float64)), b["duplicate"].(bool)
}

// withField returns raw with field set to value (a JSON literal), or
// removed when value is "".
func withField(t testing.TB, raw []byte, field, value string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	if value == "" {
		delete(m, field)
	} else {
		m[field] = json.RawMessage(value)
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// pickEvents returns generated events: n of any type but those below, an
// issued event with a code and a lock.unlocked event (a type amtrack does
// not fold).
func pickEvents(t *testing.T, n int) (plain []*domain.Event, withCode, unlocked *domain.Event) {
	t.Helper()
	for _, e := range testutil.Events(t, 40, 11) {
		switch {
		case e.Code != nil && withCode == nil:
			withCode = e
		case e.Type == "lock.unlocked" && unlocked == nil:
			unlocked = e
		case e.Code == nil && e.Type != "lock.unlocked" && len(plain) < n:
			plain = append(plain, e)
		}
	}
	require.Len(t, plain, n)
	require.NotNil(t, withCode)
	require.NotNil(t, unlocked)
	return plain, withCode, unlocked
}

// TestWebhookResponses sends one webhook per answer of docs/webhooks.md through the
// whole handler stack and checks the status, the error type, that the
// message says what is wrong, and that the log grew by one event for an
// append and not at all for any other answer. Every response is validated
// against the OpenAPI document. At the end, the webhook metrics must have
// counted each answer.
func TestWebhookResponses(t *testing.T) {
	e := newWebhookEnv(t, api.WebhookOptions{Secret: webhookSecret})
	evs, withCode, unlocked := pickEvents(t, 8)
	now := time.Now()

	// The event that duplicates and conflicts refer to.
	first := evs[0]
	_, firstSeq, dup := ok(t, e.post(t, bytes.NewReader(first.Raw), signed(t, first.Raw)))
	require.False(t, dup)
	require.Equal(t, int64(1), e.count(t))

	// A body over 1 MiB: an event with a long extra field.
	huge := withField(t, evs[7].Raw, "padding", strconv.Quote(strings.Repeat("x", api.MaxBodyBytes)))
	// first with its keys in another order and other whitespace.
	var firstMap map[string]any
	require.NoError(t, json.Unmarshal(first.Raw, &firstMap))
	reordered, err := json.MarshalIndent(firstMap, "", "\t") // encoding/json sorts the keys
	require.NoError(t, err)
	require.NotEqual(t, string(first.Raw), string(reordered))
	unknownType := []byte(`{"event_id":"0F5D2C1A-1B2C-4D3E-8F40-5A6B7C8D9E0F","event_type":"acme.widget_spun",` +
		`"workspace_id":"` + first.WorkspaceID.String() + `","created_at":"2026-02-01T10:00:00Z",` +
		`"occurred_at":"2026-02-01T09:59:59.123456789+01:00","widget":{"spins":3}}`)

	type tc struct {
		name     string
		body     []byte
		chunked  bool        // send without a Content-Length
		header   http.Header // nil: signed(body)
		status   int
		errType  string
		contains string // in the error message
		appended bool   // a 200 that adds the event (else a duplicate)
		typed    bool   // a 400 about an event whose type could be read: counted under it
		check    func(t *testing.T, res response)
	}
	at := func(d time.Duration, body []byte) http.Header {
		return testutil.Sign(t, webhookSecret, "svix-", "msg_at", now.Add(d), body)
	}
	without := func(h http.Header, name string) http.Header { h.Del(name); return h }
	with := func(h http.Header, name, value string) http.Header { h.Set(name, value); return h }
	tests := []tc{
		// 200: appended.
		{name: "svix headers", body: evs[1].Raw, status: 200, appended: true, check: func(t *testing.T, res response) {
			id, seq, _ := ok(t, res)
			assert.Equal(t, evs[1].ID.String(), id)
			assert.Equal(t, firstSeq+1, seq)
			item := e.c.on(t).get("/v1/events/" + id)
			require.Equal(t, 200, item.status, "body: %s", item.body)
			b := item.json(t)
			assert.Equal(t, "webhook", b["source"])
			assert.Equal(t, float64(seq), b["seq"])
			assert.Equal(t, id, b["event"].(map[string]any)["event_id"])
		}},
		{name: "webhook headers", body: evs[2].Raw, header: testutil.Sign(t, webhookSecret, "webhook-", "msg_std", now, evs[2].Raw),
			status: 200, appended: true, check: func(t *testing.T, res response) {
				assert.Equal(t, "msg_std", e.stored(t, evs[2].ID).MessageID, "the message id is kept")
			}},
		{name: "both header families: the svix set", body: evs[3].Raw, header: func() http.Header {
			h := testutil.Sign(t, webhookSecret, "svix-", "msg_both", now, evs[3].Raw)
			for k, v := range testutil.Sign(t, otherSecret, "webhook-", "msg_other", now, evs[3].Raw) {
				h[k] = v
			}
			return h
		}(), status: 200, appended: true, check: func(t *testing.T, res response) {
			assert.Equal(t, "msg_both", e.stored(t, evs[3].ID).MessageID, "the message id of the set checked")
		}},
		{name: "several signatures, one matches", body: evs[4].Raw,
			header: func() http.Header {
				h := testutil.Sign(t, webhookSecret, "svix-", "msg_multi", now, evs[4].Raw)
				other := testutil.Sign(t, otherSecret, "svix-", "msg_multi", now, evs[4].Raw)
				return with(h, "svix-signature", other.Get("svix-signature")+" v2,abc "+h.Get("svix-signature")+" v1,bm9pc2U=")
			}(), status: 200, appended: true},
		{name: "timestamp 4 minutes old", body: evs[5].Raw, header: at(-4*time.Minute, evs[5].Raw), status: 200, appended: true},
		{name: "timestamp 4 minutes ahead", body: evs[6].Raw, header: at(4*time.Minute, evs[6].Raw), status: 200, appended: true},
		{name: "issued with a code", body: withCode.Raw, status: 200, appended: true, check: func(t *testing.T, res response) {
			item := e.c.on(t).get("/v1/events/" + withCode.ID.String())
			require.Equal(t, 200, item.status)
			assert.NotContains(t, string(item.body), *withCode.Code, "the code is redacted")
			assert.Equal(t, string(withCode.Raw), string(e.stored(t, withCode.ID).Event.Raw), "the raw payload is kept")
		}},
		{name: "unknown event type lock.unlocked", body: unlocked.Raw, status: 200, appended: true, check: func(t *testing.T, res response) {
			item := e.c.on(t).get("/v1/events/" + unlocked.ID.String())
			require.Equal(t, 200, item.status)
			assert.Equal(t, "lock.unlocked", item.json(t)["event"].(map[string]any)["event_type"])
		}},
		{name: "unknown event type, upper-case id", body: unknownType, status: 200, appended: true, check: func(t *testing.T, res response) {
			id, _, _ := ok(t, res)
			assert.Equal(t, "0f5d2c1a-1b2c-4d3e-8f40-5a6b7c8d9e0f", id, "ids are printed lowercase")
			list := e.c.on(t).get("/v1/events?event_type=acme.widget_spun")
			require.Equal(t, 200, list.status)
			assert.Len(t, list.json(t)["events"], 1)
		}},

		// 200: duplicates.
		{name: "duplicate, same body", body: first.Raw, status: 200, check: func(t *testing.T, res response) {
			id, seq, dup := ok(t, res)
			assert.Equal(t, first.ID.String(), id)
			assert.Equal(t, firstSeq, seq)
			assert.True(t, dup)
		}},
		{name: "duplicate, other key order and whitespace", body: reordered, status: 200, check: func(t *testing.T, res response) {
			_, seq, dup := ok(t, res)
			assert.Equal(t, firstSeq, seq)
			assert.True(t, dup)
			assert.Equal(t, string(first.Raw), string(e.stored(t, first.ID).Event.Raw), "the stored bytes are the first ones")
		}},
		{name: "duplicate, upper-case event_id", body: withField(t, first.Raw, "event_id", strconv.Quote(strings.ToUpper(first.ID.String()))),
			status: 409, errType: "conflict", contains: first.ID.String()},

		// 409: same event_id, another value.
		{name: "conflict, extra field", body: withField(t, first.Raw, "extra", "1"), status: 409, errType: "conflict", contains: first.ID.String(),
			check: func(t *testing.T, res response) {
				assert.Equal(t, string(first.Raw), string(e.stored(t, first.ID).Event.Raw), "the stored event is untouched")
				item := e.c.on(t).get("/v1/events/" + first.ID.String())
				assert.Equal(t, float64(firstSeq), item.json(t)["seq"])
				assert.NotContains(t, string(item.body), "extra")
			}},
		{name: "conflict, other occurred_at", body: withField(t, first.Raw, "occurred_at", `"2026-03-01T00:00:00Z"`), status: 409, errType: "conflict"},

		// 400: not a well-formed event; the message names the field.
		{name: "empty body", body: []byte{}, status: 400, errType: "invalid_input", contains: "empty"},
		{name: "not JSON", body: []byte(`{"event_id":`), status: 400, errType: "invalid_input", contains: "not valid JSON"},
		{name: "not an object", body: []byte(`[1,2]`), status: 400, errType: "invalid_input", contains: "must be a JSON object"},
		{name: "null", body: []byte(`null`), status: 400, errType: "invalid_input", contains: "must be a JSON object"},
		{name: "event_type a number", body: withField(t, evs[7].Raw, "event_type", "5"), status: 400, errType: "invalid_input", contains: `field "event_type": want string, got number`},
		{name: "event_type empty", body: withField(t, evs[7].Raw, "event_type", `""`), status: 400, errType: "invalid_input", contains: `field "event_type": must not be empty`},
		{name: "event_type of 200 KB", body: withField(t, evs[7].Raw, "event_type", strconv.Quote(strings.Repeat("x", 200<<10))), status: 400, errType: "invalid_input",
			contains: `field "event_type": is 204800 bytes long, over the limit of 128`},
		{name: "event_type with odd characters", body: withField(t, evs[7].Raw, "event_type", `"access_method.issued\"} <x>"`), status: 400, errType: "invalid_input",
			contains: `is not an event type`},
		{name: "text not UTF-8", body: withField(t, evs[7].Raw, "metadata", "{\"note\":\"caf\xe9\"}"), status: 400, typed: true, errType: "invalid_input",
			contains: `field "metadata.note": is not valid UTF-8`},
		{name: "event_id missing", body: withField(t, evs[7].Raw, "event_id", ""), status: 400, errType: "invalid_input", contains: `field "event_id": is required`},
		{name: "event_id malformed", body: withField(t, evs[7].Raw, "event_id", `"evt_123"`), status: 400, errType: "invalid_input", contains: `field "event_id"`},
		{name: "workspace_id null", body: withField(t, evs[7].Raw, "workspace_id", "null"), status: 400, typed: true, errType: "invalid_input", contains: `field "workspace_id": is required, got null`},
		{name: "occurred_at without zone", body: withField(t, evs[7].Raw, "occurred_at", `"2026-01-05T08:00:00"`), status: 400, typed: true, errType: "invalid_input", contains: `field "occurred_at"`},
		{name: "access_method_id missing", body: withField(t, withCode.Raw, "access_method_id", ""), status: 400, typed: true, errType: "invalid_input", contains: `field "access_method_id": is required`},
		{name: "code a number", body: withField(t, withCode.Raw, "code", "1234"), status: 400, typed: true, errType: "invalid_input", contains: `access_method.issued: field "code": want string, got number`},
		{name: "access_grant_ids not an array", body: withField(t, withCode.Raw, "access_grant_ids", `"x"`), status: 400, typed: true, errType: "invalid_input", contains: `field "access_grant_ids"`},

		// 401: signature headers.
		{name: "no signature headers", body: evs[7].Raw, header: http.Header{}, status: 401, errType: "unauthorized", contains: "missing signature headers"},
		{name: "svix-id missing", body: evs[7].Raw, header: without(signed(t, evs[7].Raw), "svix-id"), status: 401, errType: "unauthorized", contains: "missing signature headers"},
		{name: "svix-timestamp missing", body: evs[7].Raw, header: without(signed(t, evs[7].Raw), "svix-timestamp"), status: 401, errType: "unauthorized", contains: "missing signature headers"},
		{name: "svix-signature missing", body: evs[7].Raw, header: without(signed(t, evs[7].Raw), "svix-signature"), status: 401, errType: "unauthorized", contains: "missing signature headers"},
		{name: "timestamp not a number", body: evs[7].Raw, header: with(signed(t, evs[7].Raw), "svix-timestamp", now.Format(time.RFC3339)), status: 401, errType: "unauthorized", contains: "Unix seconds"},
		{name: "stale timestamp (-6 min)", body: evs[7].Raw, header: at(-6*time.Minute, evs[7].Raw), status: 401, errType: "unauthorized", contains: "5 minutes"},
		{name: "future timestamp (+6 min)", body: evs[7].Raw, header: at(6*time.Minute, evs[7].Raw), status: 401, errType: "unauthorized", contains: "5 minutes"},
		{name: "stale timestamp, webhook headers", body: evs[7].Raw, header: testutil.Sign(t, webhookSecret, "webhook-", "msg_old", now.Add(-time.Hour), evs[7].Raw),
			status: 401, errType: "unauthorized", contains: "5 minutes"},
		{name: "both header families, svix forged", body: evs[7].Raw, header: func() http.Header {
			h := testutil.Sign(t, otherSecret, "svix-", "msg_forged", now, evs[7].Raw)
			for k, v := range testutil.Sign(t, webhookSecret, "webhook-", "msg_good", now, evs[7].Raw) {
				h[k] = v
			}
			return h
		}(), status: 401, errType: "unauthorized", contains: "no signature matches"},
		{name: "families mixed header by header", body: evs[7].Raw, header: func() http.Header {
			h := without(testutil.Sign(t, webhookSecret, "svix-", "msg_mixed", now, evs[7].Raw), "svix-signature")
			h.Set("webhook-signature", testutil.Sign(t, webhookSecret, "webhook-", "msg_mixed", now, evs[7].Raw).Get("webhook-signature"))
			return h
		}(), status: 401, errType: "unauthorized", contains: "missing signature headers"},
		{name: "wrong secret", body: evs[7].Raw, header: testutil.Sign(t, otherSecret, "svix-", "msg_x", now, evs[7].Raw), status: 401, errType: "unauthorized", contains: "no signature matches"},
		{name: "wrong secret, webhook headers", body: evs[7].Raw, header: testutil.Sign(t, otherSecret, "webhook-", "msg_x", now, evs[7].Raw), status: 401, errType: "unauthorized", contains: "no signature matches"},
		{name: "body changed after signing", body: evs[7].Raw, header: signed(t, append(bytes.Clone(evs[7].Raw), ' ')), status: 401, errType: "unauthorized", contains: "no signature matches"},
		{name: "message id changed after signing", body: evs[7].Raw, header: with(signed(t, evs[7].Raw), "svix-id", "msg_replayed"), status: 401, errType: "unauthorized", contains: "no signature matches"},
		{name: "timestamp changed after signing", body: evs[7].Raw, header: with(signed(t, evs[7].Raw), "svix-timestamp", strconv.FormatInt(now.Unix()-1, 10)),
			status: 401, errType: "unauthorized", contains: "no signature matches"},
		{name: "signature without version", body: evs[7].Raw, header: func() http.Header {
			h := signed(t, evs[7].Raw)
			return with(h, "svix-signature", strings.TrimPrefix(h.Get("svix-signature"), "v1,"))
		}(), status: 401, errType: "unauthorized", contains: "no signature matches"},
		{name: "v2 signature", body: evs[7].Raw, header: func() http.Header {
			h := signed(t, evs[7].Raw)
			return with(h, "svix-signature", "v2,"+strings.TrimPrefix(h.Get("svix-signature"), "v1,"))
		}(), status: 401, errType: "unauthorized", contains: "no signature matches"},
		{name: "bad signature before a bad event", body: []byte(`{"event_id":`), header: testutil.Sign(t, otherSecret, "svix-", "msg_x", now, []byte(`{"event_id":`)),
			status: 401, errType: "unauthorized", contains: "no signature matches"},

		// 413: over 1 MiB, with a Content-Length and streamed.
		{name: "body over 1 MiB", body: huge, status: 413, errType: "payload_too_large", contains: "1 MiB"},
		{name: "body over 1 MiB, chunked", body: huge, chunked: true, status: 413, errType: "payload_too_large", contains: "1 MiB"},
	}
	want := map[int]int{200: 1}  // webhook responses by status; first was a 200
	rejected := map[string]int{} // 400s by the event type they are counted under
	for _, tt := range tests {
		if tt.status == http.StatusBadRequest {
			typ := "unknown"
			if tt.typed {
				var ev struct {
					EventType string `json:"event_type"`
				}
				require.NoError(t, json.Unmarshal(tt.body, &ev), tt.name)
				typ = ev.EventType
			}
			rejected[typ]++
		}
		t.Run(tt.name, func(t *testing.T) {
			before := e.count(t)
			h := tt.header
			if h == nil {
				h = signed(t, tt.body)
			}
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // no length known: the request is chunked
			}
			res := e.post(t, body, h)
			require.Equal(t, tt.status, res.status, "body: %s", res.body)
			want[tt.status]++ // a 413 from the Content-Length, before routing, too
			assert.Equal(t, "application/json", res.header.Get("Content-Type"))
			if tt.status == http.StatusUnauthorized {
				assert.Empty(t, res.header.Get("WWW-Authenticate"), "webhooks are signed, not bearer-authenticated")
			}
			if tt.errType != "" {
				typ, msg := res.errorType(t)
				assert.Equal(t, tt.errType, typ)
				assert.Contains(t, msg, tt.contains)
			}
			var grew int64
			if tt.appended {
				_, _, dup := ok(t, res)
				assert.False(t, dup)
				grew = 1
			}
			assert.Equal(t, before+grew, e.count(t), "the log grows only by an appended event")
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}

	// A GET is a 405 naming POST.
	res := e.c.get("/webhooks/seam")
	require.Equal(t, http.StatusMethodNotAllowed, res.status)
	assert.Equal(t, "POST", res.header.Get("Allow"))
	typ, _ := res.errorType(t)
	assert.Equal(t, "method_not_allowed", typ)

	// The metrics counted every answer of the receiver, and the events.
	metrics := e.c.get("/metrics")
	require.Equal(t, 200, metrics.status)
	body := string(metrics.body)
	for status, n := range want {
		assert.Equal(t, strconv.Itoa(n), metricLine(body, fmt.Sprintf(`amtrack_webhook_responses_total{status="%d"}`, status)), "status %d", status)
	}
	assert.Equal(t, "", metricLine(body, `amtrack_webhook_responses_total{status="405"}`), "405s are answered before the receiver")
	assert.Equal(t, "1", metricLine(body, `amtrack_events_appended_total{event_type="lock.unlocked"}`))
	assert.Equal(t, "1", metricLine(body, `amtrack_events_appended_total{event_type="acme.widget_spun"}`))
	assert.Equal(t, "2", metricLine(body, `amtrack_events_duplicate_total{event_type="`+first.Type+`"}`))
	assert.Equal(t, "3", metricLine(body, `amtrack_events_rejected_total{event_type="`+first.Type+`",reason="conflict"}`))
	for typ, n := range rejected {
		assert.Equal(t, strconv.Itoa(n), metricLine(body, `amtrack_events_rejected_total{event_type="`+typ+`",reason="invalid_input"}`), "event type %s", typ)
	}
	commits := metricLine(body, `amtrack_append_commit_seconds_count`)
	assert.Equal(t, strconv.Itoa(want[200]+want[409]), commits, "one commit per append")
	assert.Equal(t, commits, metricLine(body, `amtrack_append_batch_size_count`))
	assert.Equal(t, strconv.Itoa(int(e.count(t))), metricLine(body, `amtrack_log_head_seq`))
}

// TestWebhookRejectedEventType: a webhook refused for a bad field of an
// event whose type could be read is counted under that type in /metrics,
// one that has no readable type under "unknown".
func TestWebhookRejectedEventType(t *testing.T) {
	e := newWebhookEnv(t, api.WebhookOptions{Secret: webhookSecret})
	_, withCode, _ := pickEvents(t, 0)
	issued := withField(t, withCode.Raw, "event_type", strconv.Quote(domain.TypeIssued))
	for _, body := range [][]byte{
		withField(t, issued, "code", "1234"),
		withField(t, issued, "access_method_id", ""),
		[]byte(`{"event_id":`),
	} {
		res := e.post(t, bytes.NewReader(body), signed(t, body))
		require.Equal(t, http.StatusBadRequest, res.status, "body: %s", res.body)
	}
	metrics := string(e.c.get("/metrics").body)
	assert.Equal(t, "2", metricLine(metrics, `amtrack_events_rejected_total{event_type="access_method.issued",reason="invalid_input"}`))
	assert.Equal(t, "1", metricLine(metrics, `amtrack_events_rejected_total{event_type="unknown",reason="invalid_input"}`))
}

// TestWebhookWithoutSecret: without a secret the receiver answers 503 and
// says how to set one; nothing is stored, signed or not.
func TestWebhookWithoutSecret(t *testing.T) {
	e := newWebhookEnv(t, api.WebhookOptions{})
	ev := testutil.Events(t, 2, 1)[0]
	for name, h := range map[string]http.Header{"unsigned": {}, "signed": signed(t, ev.Raw)} {
		t.Run(name, func(t *testing.T) {
			res := e.post(t, bytes.NewReader(ev.Raw), h)
			require.Equal(t, http.StatusServiceUnavailable, res.status, "body: %s", res.body)
			typ, msg := res.errorType(t)
			assert.Equal(t, "unavailable", typ)
			assert.Contains(t, msg, "SEAM_WEBHOOK_SECRET")
			assert.Contains(t, msg, "whsec_")
			assert.Equal(t, int64(0), e.count(t))
		})
	}
	metrics := string(e.c.get("/metrics").body)
	assert.Equal(t, "2", metricLine(metrics, `amtrack_webhook_responses_total{status="503"}`))
}

// TestWebhookUnsigned: --insecure-unsigned-webhooks accepts webhooks
// without checking signatures, unless a secret is set, which wins.
func TestWebhookUnsigned(t *testing.T) {
	events := testutil.Events(t, 2, 1)
	e := newWebhookEnv(t, api.WebhookOptions{AllowUnsigned: true})
	_, seq, dup := ok(t, e.post(t, bytes.NewReader(events[0].Raw), nil))
	assert.False(t, dup)
	assert.Equal(t, int64(1), seq)
	rec := e.stored(t, events[0].ID)
	assert.Equal(t, store.SourceWebhook, rec.Source)
	assert.Equal(t, "", rec.MessageID)
	// Signature headers are not checked, but the message id is kept.
	h := testutil.Sign(t, otherSecret, "svix-", "msg_unchecked", time.Now().Add(-time.Hour), events[1].Raw)
	ok(t, e.post(t, bytes.NewReader(events[1].Raw), h))
	assert.Equal(t, "msg_unchecked", e.stored(t, events[1].ID).MessageID)
	// Malformed events are still refused.
	res := e.post(t, strings.NewReader(`{}`), nil)
	require.Equal(t, 400, res.status)
	assert.Equal(t, int64(2), e.count(t))

	both := newWebhookEnv(t, api.WebhookOptions{Secret: webhookSecret, AllowUnsigned: true})
	res = both.post(t, bytes.NewReader(events[0].Raw), nil)
	require.Equal(t, http.StatusUnauthorized, res.status, "with a secret, signatures are checked: %s", res.body)
	ok(t, both.post(t, bytes.NewReader(events[0].Raw), signed(t, events[0].Raw)))
}

// TestWebhookBadSecret: a secret that is not base64 is refused up front.
func TestWebhookBadSecret(t *testing.T) {
	srv := api.NewServer(MustOpen(t), api.Options{})
	for _, secret := range []string{"whsec_!!!", "   ", "whsec_", "whsec_AA=="} {
		err := srv.EnableWebhooks(nil, api.WebhookOptions{Secret: secret})
		assert.Equal(t, domain.EInvalid, domain.ErrorCode(err), secret)
		assert.ErrorContains(t, err, "SEAM_WEBHOOK_SECRET")
	}
}

// TestWebhookConcurrent sends distinct events over real HTTP from many
// goroutines, each event twice at once: every request gets a 200, each
// event is appended exactly once, its copy is a duplicate with the same
// seq, and seqs are unique.
func TestWebhookConcurrent(t *testing.T) {
	e := newWebhookEnv(t, api.WebhookOptions{Secret: webhookSecret})
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	events := testutil.Events(t, 25, 5)
	type answer struct {
		seq int64
		dup bool
	}
	var mu sync.Mutex
	answers := map[string][]answer{}
	jobs := make(chan *domain.Event)
	signer := testutil.NewSigner(t, webhookSecret) // signed(t, ...) may FailNow: not in the senders' goroutines
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for ev := range jobs {
				req, err := http.NewRequest(http.MethodPost, ts.URL+"/webhooks/seam", bytes.NewReader(ev.Raw))
				if !assert.NoError(t, err) {
					continue
				}
				req.Header, err = signer.Sign("svix-", fmt.Sprintf("msg_%d", msgSeq.Add(1)), time.Now(), ev.Raw)
				if !assert.NoError(t, err) {
					continue
				}
				res, err := ts.Client().Do(req)
				if !assert.NoError(t, err) {
					continue
				}
				var b struct {
					Seq       int64 `json:"seq"`
					Duplicate bool  `json:"duplicate"`
				}
				assert.Equal(t, 200, res.StatusCode)
				assert.NoError(t, json.NewDecoder(res.Body).Decode(&b))
				res.Body.Close()
				mu.Lock()
				answers[ev.ID.String()] = append(answers[ev.ID.String()], answer{b.Seq, b.Duplicate})
				mu.Unlock()
			}
		})
	}
	for _, ev := range events {
		jobs <- ev
		jobs <- ev
	}
	close(jobs)
	wg.Wait()

	require.Len(t, answers, len(events))
	seqs := map[int64]bool{}
	for id, a := range answers {
		require.Len(t, a, 2, id)
		assert.Equal(t, a[0].seq, a[1].seq, id)
		assert.True(t, a[0].dup != a[1].dup, "%s: one append, one duplicate: %v", id, a)
		assert.False(t, seqs[a[0].seq], "seq %d twice", a[0].seq)
		seqs[a[0].seq] = true
	}
	assert.Equal(t, int64(len(events)), e.count(t))
	stats, diffs, err := e.p.Verify(context.Background(), 10)
	require.NoError(t, err)
	assert.Empty(t, diffs, "the projection folded every event: %+v", stats)
}

// rawWebhookServer serves the webhook receiver (with a secret) over real
// HTTP on 127.0.0.1, with the given read timeout (0: none), logging
// everything to log.
func rawWebhookServer(t *testing.T, readTimeout time.Duration, log *testutil.Buffer) *httptest.Server {
	t.Helper()
	p := MustOpen(t)
	logger := newLogger(log)
	srv := api.NewServer(p, api.Options{Logger: logger})
	w := store.NewWriter(p.DB(), p.Apply, 0)
	t.Cleanup(w.Close)
	require.NoError(t, srv.EnableWebhooks(w, api.WebhookOptions{Secret: webhookSecret}))
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.ReadTimeout = readTimeout
	ts.Config.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// TestWebhookBrokenBodies writes malformed requests on raw connections: a
// body shorter than its Content-Length, broken chunked encoding, a body
// slower than the read timeout. Each is a JSON 400 or 408 (before any
// signature is checked), and no ERROR line is logged: an unauthenticated
// client cannot fill the error log.
func TestWebhookBrokenBodies(t *testing.T) {
	const head = "POST /webhooks/seam HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	tests := []struct {
		name     string
		timeout  time.Duration // the server's read timeout
		request  string
		closing  bool // half-close the connection after the request
		status   int
		errType  string
		contains string
	}{
		{name: "body shorter than Content-Length", request: head + "Content-Length: 1000\r\n\r\n" + `{"event_id":`, closing: true,
			status: 400, errType: "invalid_input", contains: "ended before it was complete"},
		{name: "chunk length not hex", request: head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
			status: 400, errType: "invalid_input", contains: "could not be read"},
		{name: "chunk longer than its length", request: head + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}}}\r\n0\r\n\r\n",
			status: 400, errType: "invalid_input", contains: "could not be read"},
		{name: "chunked body cut off", request: head + "Transfer-Encoding: chunked\r\n\r\n10\r\n{\"event", closing: true,
			status: 400, errType: "invalid_input", contains: "ended before it was complete"},
		{name: "body slower than the read timeout", timeout: 300 * time.Millisecond, request: head + "Content-Length: 100\r\n\r\n" + `{"event_id":`,
			status: 408, errType: "request_timeout", contains: "did not arrive in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &testutil.Buffer{}
			ts := rawWebhookServer(t, tt.timeout, log)
			conn, err := net.Dial("tcp", ts.Listener.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second))) // only against a hang
			_, err = io.WriteString(conn, tt.request)
			require.NoError(t, err)
			if tt.closing {
				require.NoError(t, conn.(*net.TCPConn).CloseWrite())
			}
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.status, res.StatusCode, "body: %s", body)
			assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
			var e struct {
				Error struct{ Type, Message string } `json:"error"`
			}
			require.NoError(t, json.Unmarshal(body, &e), "body: %s", body)
			assert.Equal(t, tt.errType, e.Error.Type)
			assert.Contains(t, e.Error.Message, tt.contains)

			ts.Close() // waits for the handler: its log lines are written
			assert.NotContains(t, log.String(), "level=ERROR", "log:\n%s", log)
			assert.Contains(t, log.String(), fmt.Sprintf("status=%d", tt.status), "the refusal is logged (below ERROR)")
		})
	}
}

// TestWebhookClientGone: a client that sends part of a body and closes the
// connection logs no ERROR line either.
func TestWebhookClientGone(t *testing.T) {
	log := &testutil.Buffer{}
	ts := rawWebhookServer(t, 0, log)
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	require.NoError(t, err)
	_, err = io.WriteString(conn, "POST /webhooks/seam HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500\r\n\r\n{\"event_id\":")
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	require.Eventually(t, func() bool { return strings.Contains(log.String(), `route=/webhooks/seam`) },
		30*time.Second, 10*time.Millisecond, "the request is logged once answered")
	ts.Close()
	assert.NotContains(t, log.String(), "level=ERROR", "log:\n%s", log)
}
