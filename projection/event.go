package projection

import (
	"encoding/json"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/store"
)

// EventItem is how every event list of the API and the CLI prints a logged
// event (docs/api.md).
type EventItem struct {
	Seq        int64           `json:"seq"`
	ReceivedAt domain.Time     `json:"received_at"`
	Source     string          `json:"source"`
	Event      json.RawMessage `json:"event"`
}

// Item returns the printed form of rec; unless reveal, a PIN code in the
// payload is redacted. Revealed, the payload of an event whose code was
// forgotten (amtrack forget) is the one without codes, with
// "code_forgotten": true.
func Item(rec store.Record, reveal bool) EventItem {
	raw := rec.Event.Raw
	switch {
	case !reveal:
		raw = domain.RedactPayload(raw)
	case rec.CodeForgotten():
		raw = markForgotten(raw)
	}
	return EventItem{Seq: rec.Seq, ReceivedAt: domain.Time(rec.ReceivedAt), Source: rec.Source, Event: raw}
}

// Items converts records with Item.
func Items(recs []store.Record, reveal bool) []EventItem {
	out := make([]EventItem, len(recs))
	for i, rec := range recs {
		out[i] = Item(rec, reveal)
	}
	return out
}

// markForgotten adds "code_forgotten": true to the payload object raw.
func markForgotten(raw []byte) []byte {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return raw
	}
	fields["code_forgotten"] = json.RawMessage("true")
	b, err := json.Marshal(fields)
	if err != nil {
		return raw
	}
	return b
}
