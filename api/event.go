package api

import (
	"net/http"

	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// foldOrderPage writes a page of an event list in fold order from up to
// limit+1 records read with MaxBytes set to the page budget; the cursor is
// the fold key of the page's last event.
func (s *Server) foldOrderPage(w http.ResponseWriter, r *http.Request, recs []store.Record, limit int) error {
	return s.eventPage(w, r, recs, limit, 0, func(rec store.Record) *string { return keyCursor(rec.Event.Key()) })
}

// eventPage writes a page of events from up to limit+1 records: the page
// ends at limit, at the page budget, where the model stopped at its byte
// budget (cursor of the last record) or at scannedTo (a seq cursor) when
// not zero.
func (s *Server) eventPage(w http.ResponseWriter, r *http.Request, recs []store.Record, limit int, scannedTo int64,
	cursor func(store.Record) *string) error {
	return s.writePage(w, r, "events", min(len(recs), limit), func(i int) any {
		return projection.Item(recs[i], s.opts.RevealCodes)
	}, func(fit int) pagination {
		switch {
		case fit < len(recs): // past the limit or the page budget
			return nextPage(cursor(recs[fit-1]))
		case scannedTo > 0:
			return nextPage(seqCursor(scannedTo))
		case len(recs) > 0 && projection.PayloadBytes(recs) >= s.pageBytes: // the model stopped reading
			return nextPage(cursor(recs[len(recs)-1]))
		}
		return pagination{}
	})
}

// listEvents answers the log in seq order, after page_cursor or else
// after_seq (so a client may add page_cursor to its first URL). With
// event_type a page examines at most maxScan seqs of the log: it may hold
// fewer events than limit, even none, and still have a next page.
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
	page, err := s.model.Events(r.Context(), projection.EventFilter{After: after, EventType: eventType, Limit: limit + 1,
		MaxBytes: s.pageBytes, MaxScan: s.maxScan, Redacted: !s.opts.RevealCodes})
	if err != nil {
		return err
	}
	return s.eventPage(w, r, page.Records, limit, page.ScannedTo, func(rec store.Record) *string { return seqCursor(rec.Seq) })
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
