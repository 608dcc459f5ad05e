package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

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
	if vm, ok := s.model.(versionedModel); ok && asOf == nil && !s.opts.RevealCodes {
		return s.getCurrentMethod(w, r, vm, id)
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

// versionedModel is a read model that tells the version of the state it
// reads (*projection.Projection): the server then keeps the body it
// rendered for a version and answers it again while the version is current.
type versionedModel interface {
	AccessMethodVersion(ctx context.Context, id domain.ID, known []byte) (*domain.AccessMethod, []byte, error)
}

// getCurrentMethod answers a method's current state, redacted, from the
// body rendered for its version when that is still current: the row is
// read every time (another process may have written it), and only
// decoding and encoding are spared (measured: a third of a GET's CPU).
func (s *Server) getCurrentMethod(w http.ResponseWriter, r *http.Request, vm versionedModel, id domain.ID) error {
	known, body := s.bodies.get(id)
	m, version, err := vm.AccessMethodVersion(r.Context(), id, known)
	if err != nil {
		return err
	}
	if m == nil { // the version known is current
		s.writeBody(w, http.StatusOK, body)
		return nil
	}
	b, err := json.MarshalIndent(accessMethodBody{AccessMethod: m.Redacted()}, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	s.bodies.put(id, version, b)
	s.writeBody(w, http.StatusOK, b)
	return nil
}

// maxBodies bounds the bodies kept; past it the cache starts over.
const maxBodies = 4096

// bodyCache keeps the last body rendered for each recently read access
// method, with the version of the state it was rendered from. It holds
// redacted bodies only (never one rendered with codes revealed).
type bodyCache struct {
	mu sync.Mutex
	m  map[domain.ID]renderedBody
}

type renderedBody struct{ version, body []byte }

func (c *bodyCache) get(id domain.ID) (version, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.m[id]
	return b.version, b.body
}

func (c *bodyCache) put(id domain.ID, version, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxBodies {
		c.m = make(map[domain.ID]renderedBody)
	}
	c.m[id] = renderedBody{version: version, body: body}
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
