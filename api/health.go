package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// healthBody is the answer of /healthz and /readyz.
type healthBody struct {
	Status        string `json:"status"`
	LogSeq        *int64 `json:"log_seq,omitempty"`
	ProjectionSeq *int64 `json:"projection_seq,omitempty"`
	Reason        string `json:"reason,omitempty"`
}

// WriteProber tells whether the database can be written now;
// *store.DB implements it with a tiny write transaction.
type WriteProber interface {
	ProbeWrite(ctx context.Context) error
}

// probeTTL is how long a write probe's answer is reused: /readyz is open
// without a token, and a flood of it must not queue writes on the writer.
const probeTTL = time.Second

// writeProbe runs a WriteProber at most once per ttl and remembers its
// answer; concurrent callers wait for the probe in flight.
type writeProbe struct {
	prober WriteProber
	log    *slog.Logger
	ttl    time.Duration
	lock   chan struct{} // a one-slot semaphore: a waiter can give up
	at     time.Time     // when the last answer was read; guarded by lock
	err    error         // the last answer; guarded by lock
}

func newWriteProbe(p WriteProber, log *slog.Logger) *writeProbe {
	return &writeProbe{prober: p, log: log, ttl: probeTTL, lock: make(chan struct{}, 1)}
}

// check returns the answer of a probe run less than ttl ago, or probes.
func (p *writeProbe) check(ctx context.Context) error {
	select {
	case p.lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.lock }()
	if !p.at.IsZero() && time.Since(p.at) < p.ttl {
		return p.err
	}
	err := p.prober.ProbeWrite(ctx)
	if ctx.Err() != nil { // the caller went away: no answer to remember
		return ctx.Err()
	}
	if err != nil && (p.err == nil || p.err.Error() != err.Error()) {
		// Logged when the answer changes, not per request: /readyz is open
		// without a token and the disk being logged to may be the full one.
		p.log.LogAttrs(ctx, slog.LevelWarn, "not ready: the database refuses writes", slog.Any("err", err))
	}
	p.at, p.err = time.Now(), err
	return err
}

// healthz answers liveness: the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, r, http.StatusOK, healthBody{Status: "ok"})
	return nil
}

// readyz answers readiness: the database answers, the read model has
// folded every logged event and, with Options.WriteProbe, the database
// takes a write now (so a webhook would be acknowledged); 503 otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	lag, err := s.model.Lag(r.Context())
	if err != nil {
		if r.Context().Err() != nil {
			return err
		}
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "not ready", slog.Any("err", err))
		s.writeJSON(w, r, http.StatusServiceUnavailable, healthBody{Status: "not_ready", Reason: "the database does not answer"})
		return nil
	}
	body := healthBody{Status: "ready", LogSeq: &lag.LogSeq, ProjectionSeq: &lag.ProjectionSeq}
	status := http.StatusOK
	switch {
	case !lag.CaughtUp():
		status = http.StatusServiceUnavailable
		body.Status = "not_ready"
		body.Reason = fmt.Sprintf("the read model is at seq %d, behind the log at seq %d", lag.ProjectionSeq, lag.LogSeq)
	case s.probe != nil:
		if err := s.probe.check(r.Context()); err != nil {
			if r.Context().Err() != nil {
				return err
			}
			status = http.StatusServiceUnavailable
			body.Status = "not_ready"
			body.Reason = "the database refuses writes, so webhooks would not be acknowledged: " +
				"check the disk (free space, permissions) and the database file, and see the server log"
		}
	}
	s.writeJSON(w, r, status, body)
	return nil
}
