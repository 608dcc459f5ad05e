package testutil

import (
	"fmt"
	"time"
)

// The workspace and the grant of every event Payload builds (unless its Grant
// says otherwise).
const (
	WorkspaceID = "0e9bd3f2-6c1a-4e57-a8d4-3b7f2c915e60"
	GrantID     = "4b7d9f1a-3c5e-4a8b-9d2f-6e8a1c3b5d70"
)

// EventID returns the event_id of Payload{N: n}.
func EventID(n int) string { return fmt.Sprintf("7c2e9a4f-1b3d-4e5f-8a6c-%012d", n) }

// MethodID returns the access_method_id of Payload{N: n}.
func MethodID(n int) string { return fmt.Sprintf("d5a1c7e3-9f2b-4d6a-b8c4-%012d", n) }

// Payload describes an access_method event about access method N, whose
// event_id is EventID(N).
type Payload struct {
	N     int
	Type  string    // after "access_method.": "created", "issued", ...
	Grant string    // the one access_grant_ids entry; "" is GrantID
	At    time.Time // created_at and occurred_at; zero is 2026-03-01T10:MM:SS.250Z, minutes and seconds from N
	Extra string    // written as is at the end of the object, after the fields above: `,"code":"1234"`
}

// JSON returns the event as one compact JSON object.
func (p Payload) JSON() string {
	at := fmt.Sprintf("2026-03-01T10:%02d:%02d.250Z", p.N/60%60, p.N%60)
	if !p.At.IsZero() {
		at = p.At.UTC().Format(time.RFC3339Nano)
	}
	grant := p.Grant
	if grant == "" {
		grant = GrantID
	}
	return fmt.Sprintf(`{"event_id":%q,"event_description":"An access method event.","event_type":"access_method.%s",`+
		`"workspace_id":%q,"created_at":%q,"occurred_at":%q,"access_method_id":%q,`+
		`"access_grant_ids":[%q],"access_grant_keys":["booking-1001"]%s}`,
		EventID(p.N), p.Type, WorkspaceID, at, at, MethodID(p.N), grant, p.Extra)
}

// MethodEvent returns Payload{N: n, Type: typ, Extra: extra}.JSON(): an
// access_method event of type typ ("created", "issued", ...) about method n;
// extra is written inside the object (`,"code":"1234"`).
func MethodEvent(n int, typ, extra string) string {
	return Payload{N: n, Type: typ, Extra: extra}.JSON()
}
