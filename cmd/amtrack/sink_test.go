package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/seam"
)

// TestSyncSinkCounts: a synced page is counted once, in seam.Counts and
// in the metrics, a malformed event under the type its parse error names.
func TestSyncSinkCounts(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	a, err := openTestApp(t, db)
	require.NoError(t, err)
	defer a.Close()
	m := api.NewMetrics(nil)
	var rejected []string
	sink := &syncSink{app: a.proj, counter: m, reject: func(raw json.RawMessage, err error) {
		rejected = append(rejected, rejectionString(raw, err))
	}}
	page := []json.RawMessage{
		json.RawMessage(testutil.MethodEvent(1, "issued", `,"code":"1234"`)),
		json.RawMessage(testutil.MethodEvent(2, "issued", `,"code":1234`)), // malformed
		json.RawMessage(testutil.MethodEvent(1, "issued", `,"code":"1234"`)),
	}
	c, err := sink.Append(context.Background(), page)
	require.NoError(t, err)
	assert.Equal(t, seam.Counts{Appended: 1, Duplicates: 1, Rejected: 1}, c)
	require.Len(t, rejected, 1)
	assert.Contains(t, rejected[0], `access_method.issued: field "code"`)

	rec := httptest.NewRecorder()
	api.NewServer(a.proj, api.Options{Metrics: m}).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.Contains(t, body, `amtrack_events_rejected_total{event_type="access_method.issued",reason="invalid_input"} 1`)
	assert.Contains(t, body, `amtrack_events_appended_total{event_type="access_method.issued"} 1`)
	assert.Contains(t, body, `amtrack_events_duplicate_total{event_type="access_method.issued"} 1`)
}
