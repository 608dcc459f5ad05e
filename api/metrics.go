package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/ingest"
)

// Metrics are amtrack's Prometheus metrics (docs/operating.md), in a registry of
// their own (not the global one): HTTP requests and latency by route, log
// head and projection seq (read on each scrape), events appended, duplicate
// and rejected, webhook responses and append batch sizes. It is the
// ingest.Counter of every ingestion path (webhooks, sync, demo); its
// methods are safe for concurrent use.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	appended   *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	webhook    *prometheus.CounterVec
	batches    prometheus.Histogram
	commits    prometheus.Histogram
	types      labelSet
}

// maxEventTypes bounds the event_type label's values: past it, new types
// are counted as "other" (any well-formed type is accepted: docs/events.md).
const maxEventTypes = 200

// NewMetrics returns a fresh set of metrics; when lag is not nil, the
// amtrack_log_head_seq and amtrack_projection_seq gauges read it on each
// scrape. Go runtime and process metrics are included.
func NewMetrics(lag LagReader) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtrack_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "amtrack_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12), // 100µs to 2.4s
		}, []string{"route"}),
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtrack_events_appended_total",
			Help: "Events appended to the log, by event type.",
		}, []string{"event_type"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtrack_events_duplicate_total",
			Help: "Events already in the log with the same value (no-ops), by event type.",
		}, []string{"event_type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtrack_events_rejected_total",
			Help: "Events refused, by event type (unknown when unparsed) and reason (the error type).",
		}, []string{"event_type", "reason"}),
		webhook: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtrack_webhook_responses_total",
			Help: "Responses of the webhook receiver, by status.",
		}, []string{"status"}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amtrack_append_batch_size",
			Help:    "Events per append transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9), // 1 to 65536
		}),
		types: labelSet{max: maxEventTypes},
	}
	m.commits = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "amtrack_append_commit_seconds",
		Help:    "Time to append and commit one group of events (the fsync included).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
	})
	m.reg.MustRegister(m.commits)
	m.reg.MustRegister(m.requests, m.latency, m.appended, m.duplicates, m.rejected, m.webhook, m.batches,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if lag != nil {
		m.reg.MustRegister(&lagCollector{lag: lag})
	}
	return m
}

// Handler serves the metrics in the Prometheus text format; errors reading
// the log head are logged to log and leave the gauges out of the scrape.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	s.scrape.ServeHTTP(w, r)
	return nil
}

// request counts one HTTP request.
func (m *Metrics) request(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, methodLabel(method), strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// EventsAppended counts n events of eventType appended to the log.
func (m *Metrics) EventsAppended(eventType string, n int) {
	m.appended.WithLabelValues(m.types.label(eventType)).Add(float64(n))
}

// EventDuplicate counts one event of eventType that was already logged.
func (m *Metrics) EventDuplicate(eventType string) {
	m.duplicates.WithLabelValues(m.types.label(eventType)).Inc()
}

var _ ingest.Counter = (*Metrics)(nil)

// EventRejected counts one refused event: its type ("" when it did not
// parse far enough to have one) and the reason, an error type such as
// invalid_input, conflict or payload_too_large.
func (m *Metrics) EventRejected(eventType, reason string) {
	if eventType == "" {
		eventType = "unknown"
	}
	m.rejected.WithLabelValues(m.types.label(eventType), reason).Inc()
}

// WebhookResponse counts one response of the webhook receiver.
func (m *Metrics) WebhookResponse(status int) {
	m.webhook.WithLabelValues(strconv.Itoa(status)).Inc()
}

// AppendBatch records the size of one append transaction.
func (m *Metrics) AppendBatch(size int) { m.batches.Observe(float64(size)) }

// ObserveCommit records one group commit of the writer: its size and how
// long it took. It fits store.Writer's Observe hook.
func (m *Metrics) ObserveCommit(events int, took time.Duration) {
	m.AppendBatch(events)
	m.commits.Observe(took.Seconds())
}

// labelSet hands out at most max distinct event_type label values, then
// "other". A value that is not an event type (over domain.MaxEventTypeLen
// bytes, or odd characters: say the raw type of an event sync refused) is
// "other" too, so that the label's values stay short and a scrape small.
type labelSet struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func (l *labelSet) label(v string) string {
	if !domain.ValidEventType(v) {
		return "other"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[v] {
		return v
	}
	if len(l.seen) >= l.max {
		return "other"
	}
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	l.seen[v] = true
	return v
}

// lagCollector reads the log head and the projection checkpoint on scrape.
type lagCollector struct{ lag LagReader }

var (
	logHeadDesc = prometheus.NewDesc("amtrack_log_head_seq",
		"The highest seq in the event log.", nil, nil)
	projectionSeqDesc = prometheus.NewDesc("amtrack_projection_seq",
		"The last seq folded into the read model (the projection checkpoint).", nil, nil)
)

// scrapeTimeout bounds the database read of one scrape.
const scrapeTimeout = 5 * time.Second

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- logHeadDesc
	ch <- projectionSeqDesc
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	lag, err := c.lag.Lag(ctx)
	if err != nil {
		err = errors.New("read the log head: " + err.Error())
		ch <- prometheus.NewInvalidMetric(logHeadDesc, err)
		ch <- prometheus.NewInvalidMetric(projectionSeqDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(logHeadDesc, prometheus.GaugeValue, float64(lag.LogSeq))
	ch <- prometheus.MustNewConstMetric(projectionSeqDesc, prometheus.GaugeValue, float64(lag.ProjectionSeq))
}
