package api

import (
	"encoding/hex"
	"net/http"
)

// logHead is the body of GET /v1/log/head.
type logHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// getLogHead answers the log's chain head: the last seq and its hash, for
// an operator to record elsewhere and check with amtrack verify --head.
func (s *Server) getLogHead(w http.ResponseWriter, r *http.Request) error {
	h, err := s.model.LogHead(r.Context())
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, logHead{Seq: h.Seq, Hash: hex.EncodeToString(h.Hash[:])})
	return nil
}
