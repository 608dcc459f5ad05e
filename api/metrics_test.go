package api_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/domain"
)

// TestMetricsEventTypeLabels: event types too long or with odd characters
// (invalid UTF-8, quotes, newlines) are counted as "other", so that
// /metrics stays small after many of them; real types keep their label.
func TestMetricsEventTypeLabels(t *testing.T) {
	m := api.NewMetrics(nil)
	for i := range 250 {
		long := fmt.Sprintf("%s.%d", strings.Repeat("x", 20<<10), i)
		m.EventsAppended(long, 1)
		m.EventDuplicate(long)
		m.EventRejected(long, domain.EInvalid)
		m.EventRejected(fmt.Sprintf("odd\xff\"type\n%d", i), domain.EInvalid)
	}
	m.EventsAppended("access_method.issued", 2)
	m.EventsAppended("acme:Widget-1.spun", 1)

	rec := httptest.NewRecorder()
	m.Handler(slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.Less(t, len(body), 64<<10, "the scrape stays small")
	assert.Equal(t, "250", metricLine(body, `amtrack_events_appended_total{event_type="other"}`))
	assert.Equal(t, "250", metricLine(body, `amtrack_events_duplicate_total{event_type="other"}`))
	assert.Equal(t, "500", metricLine(body, `amtrack_events_rejected_total{event_type="other",reason="invalid_input"}`))
	assert.Equal(t, "2", metricLine(body, `amtrack_events_appended_total{event_type="access_method.issued"}`))
	assert.Equal(t, "1", metricLine(body, `amtrack_events_appended_total{event_type="acme:Widget-1.spun"}`))
	for _, l := range strings.Split(body, "\n") {
		assert.Less(t, len(l), 512, "a line of the scrape: %.200s", l)
	}
}
