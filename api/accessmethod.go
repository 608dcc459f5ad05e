package api

import (
	"net/http"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/projection"
)

// accessMethodBody is GET /v1/access_methods/{access_method_id}.
type accessMethodBody struct {
	AccessMethod *domain.AccessMethod `json:"access_method"`
}

// statuses and modes are the values the list filters accept.
var (
	statuses = []string{domain.StatusCreated, domain.StatusEncodingRequired, domain.StatusIssued, domain.StatusRevoked, domain.StatusDeleted}
	modes    = []string{domain.ModeCard, domain.ModeCode}
)

// getAccessMethod answers an access method's state, now or as of a time.
func (s *Server) getAccessMethod(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "access_method_id")
	if err != nil {
		return err
	}
	q := newQuery(r)
	asOf := q.time("as_of")
	if q.err != nil {
		return q.err
	}
	var m *domain.AccessMethod
	if asOf != nil {
		m, err = s.model.AccessMethodAsOf(r.Context(), id, *asOf)
	} else {
		m, err = s.model.AccessMethod(r.Context(), id)
	}
	if err != nil {
		return err
	}
	if m, err = s.present(r, m); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, accessMethodBody{AccessMethod: m})
	return nil
}

// listAccessMethods answers the access methods matching the filters, by id.
func (s *Server) listAccessMethods(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	f := projection.MethodFilter{
		AccessGrantID:  q.id("access_grant_id"),
		AccessGrantKey: q.str("access_grant_key"),
		WorkspaceID:    q.id("workspace_id"),
		Status:         q.oneOf("status", statuses...),
		Mode:           q.oneOf("mode", modes...),
		IsIssued:       q.boolean("is_issued"),
		After:          q.idCursor(),
	}
	limit := q.limit()
	if q.err != nil {
		return q.err
	}
	f.Limit = limit + 1 // one more tells whether there is a next page
	list, err := s.model.ListAccessMethods(r.Context(), f)
	if err != nil {
		return err
	}
	n := min(len(list), limit)
	for i := range list[:n] {
		if list[i], err = s.present(r, list[i]); err != nil {
			return err
		}
	}
	return s.writePage(w, r, "access_methods", n, func(i int) any { return list[i] }, func(fit int) pagination {
		if fit < len(list) { // past the limit or the page budget
			return nextPage(idCursor(list[fit-1].AccessMethodID))
		}
		return pagination{}
	})
}

// listMethodEvents answers an access method's events in fold order.
func (s *Server) listMethodEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "access_method_id")
	if err != nil {
		return err
	}
	f, limit, err := s.historyFilter(r)
	if err != nil {
		return err
	}
	recs, err := s.model.MethodEvents(r.Context(), id, f)
	if err != nil {
		return err
	}
	return s.foldOrderPage(w, r, recs, limit)
}

// present is how m is answered: its PIN code hidden, or revealed (read
// from the log's sealed event) when the server reveals codes.
func (s *Server) present(r *http.Request, m *domain.AccessMethod) (*domain.AccessMethod, error) {
	if s.opts.RevealCodes {
		return s.model.Reveal(r.Context(), m)
	}
	return m.Redacted(), nil
}
