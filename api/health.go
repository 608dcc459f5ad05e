package api

import (
	"fmt"
	"log/slog"
	"net/http"
)

// healthBody is the answer of /healthz and /readyz.
type healthBody struct {
	Status        string `json:"status"`
	LogSeq        *int64 `json:"log_seq,omitempty"`
	ProjectionSeq *int64 `json:"projection_seq,omitempty"`
	Reason        string `json:"reason,omitempty"`
}

// healthz answers liveness: the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, r, http.StatusOK, healthBody{Status: "ok"})
	return nil
}

// readyz answers readiness: the database answers and the read model has
// folded every logged event; 503 otherwise.
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
	if !lag.CaughtUp() {
		status = http.StatusServiceUnavailable
		body.Status = "not_ready"
		body.Reason = fmt.Sprintf("the read model is at seq %d, behind the log at seq %d", lag.ProjectionSeq, lag.LogSeq)
	}
	s.writeJSON(w, r, status, body)
	return nil
}
