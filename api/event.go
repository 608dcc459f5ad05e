package api

import (
	"net/http"

	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// eventsBody is every event list: items {seq, received_at, source, event}.
type eventsBody struct {
	Events     []projection.EventItem `json:"events"`
	Pagination pagination             `json:"pagination"`
}

// foldOrderPage makes a page of an event list in fold order from up to
// limit+1 records; the cursor is the fold key of the page's last event.
func (s *Server) foldOrderPage(recs []store.Record, limit int) eventsBody {
	var p pagination
	if len(recs) > limit {
		recs = recs[:limit]
		p = pagination{HasNextPage: true, NextPageCursor: keyCursor(recs[limit-1].Event.Key())}
	}
	return eventsBody{Events: projection.Items(recs, s.opts.RevealCodes), Pagination: p}
}

// listEvents answers the log in seq order, after page_cursor or else
// after_seq (so a client may add page_cursor to its first URL).
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	after := q.seq("after_seq")
	cursor := q.seqCursor()
	eventType := q.str("event_type")
	limit := q.limit()
	if q.err != nil {
		return q.err
	}
	if cursor != nil { // the cursor is the position: further along than the after_seq it came from
		after = *cursor
	}
	recs, err := s.model.Events(r.Context(), after, eventType, limit+1)
	if err != nil {
		return err
	}
	var p pagination
	if len(recs) > limit {
		recs = recs[:limit]
		p = pagination{HasNextPage: true, NextPageCursor: seqCursor(recs[limit-1].Seq)}
	}
	s.writeJSON(w, r, http.StatusOK, eventsBody{Events: projection.Items(recs, s.opts.RevealCodes), Pagination: p})
	return nil
}

// getEvent answers one logged event: the item {seq, received_at, source,
// event} itself, so that .event is the Seam event as in Seam's own API.
func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "event_id")
	if err != nil {
		return err
	}
	rec, err := s.model.Event(r.Context(), id)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, projection.Item(rec, s.opts.RevealCodes))
	return nil
}
