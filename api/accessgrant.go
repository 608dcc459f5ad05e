package api

import (
	"net/http"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/projection"
)

// accessGrantBody is GET /v1/access_grants/{access_grant_id}.
type accessGrantBody struct {
	AccessGrant *domain.AccessGrant `json:"access_grant"`
}

// getAccessGrant answers a grant's summary.
func (s *Server) getAccessGrant(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "access_grant_id")
	if err != nil {
		return err
	}
	g, err := s.model.AccessGrant(r.Context(), id)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, accessGrantBody{AccessGrant: g})
	return nil
}

// listGrantEvents answers a grant's history (docs/fold.md) in fold order.
func (s *Server) listGrantEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "access_grant_id")
	if err != nil {
		return err
	}
	f, limit, err := s.historyFilter(r)
	if err != nil {
		return err
	}
	recs, err := s.model.GrantHistory(r.Context(), id, f)
	if err != nil {
		return err
	}
	return s.foldOrderPage(w, r, recs, limit)
}

// historyFilter reads the parameters of the fold-order event lists: since
// (inclusive), until (exclusive), event_type, limit and page_cursor. The
// filter asks for one more event than the page holds, and at most the page
// budget of payload bytes.
func (s *Server) historyFilter(r *http.Request) (projection.HistoryFilter, int, error) {
	q := newQuery(r)
	f := projection.HistoryFilter{
		Since:     q.time("since"),
		Until:     q.time("until"),
		EventType: q.str("event_type"),
		After:     q.keyCursor(),
	}
	limit := q.limit()
	f.Limit = limit + 1
	f.MaxBytes = s.pageBytes
	// Redacted answers need no sealed bytes opened (a data key read and a
	// decryption per event with a code).
	f.Redacted = !s.opts.RevealCodes
	return f, limit, q.err
}
