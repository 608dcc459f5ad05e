package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxEventSize is the largest event accepted: one HTTP body or one line of a file.
const MaxEventSize = 1 << 20

// The access_method.* event types that fold into access-method state.
const (
	TypeCreated              = "access_method.created"
	TypeIssued               = "access_method.issued"
	TypeCardEncodingRequired = "access_method.card_encoding_required"
	TypeReissued             = "access_method.reissued"
	TypeRevoked              = "access_method.revoked"
	TypeDeleted              = "access_method.deleted"
	TypeDelayInIssuing       = "access_method.delay_in_issuing"
	TypeFailedToIssue        = "access_method.failed_to_issue"
)

// The access_grant.* event types of Seam's schema.
const (
	TypeGrantCreated                = "access_grant.created"
	TypeGrantDeleted                = "access_grant.deleted"
	TypeGrantAccessGrantedToAll     = "access_grant.access_granted_to_all_doors"
	TypeGrantAccessGrantedToDoor    = "access_grant.access_granted_to_door"
	TypeGrantAccessToDoorLost       = "access_grant.access_to_door_lost"
	TypeGrantAccessTimesChanged     = "access_grant.access_times_changed"
	TypeGrantCouldNotCreateAccessMs = "access_grant.could_not_create_requested_access_methods"
)

// MethodEventTypes lists the 8 access_method.* types the fold knows.
var MethodEventTypes = []string{
	TypeCreated, TypeIssued, TypeCardEncodingRequired, TypeReissued,
	TypeRevoked, TypeDeleted, TypeDelayInIssuing, TypeFailedToIssue,
}

// Event is a well-formed Seam event: the fields amtrack reads, typed, and the
// raw bytes exactly as received (which keep every unknown field).
type Event struct {
	ID          ID
	Type        string
	WorkspaceID ID
	CreatedAt   int64 // Unix nanoseconds, UTC
	OccurredAt  int64 // Unix nanoseconds, UTC

	// access_method.* events.
	AccessMethodID  ID
	AccessGrantIDs  []ID
	AccessGrantKeys []string
	Code            *string // issued and reissued only
	IsBackupCode    *bool   // issued and reissued only
	// CodeSealed says the event carries a code that is not at hand: read
	// back from the log, where codes are sealed, an event knows that it
	// carried one (Code is nil) but not its value.
	CodeSealed bool

	// access_grant.* events.
	AccessGrantID  ID
	AccessGrantKey *string // access_times_changed
	StartsAt       *string // access_times_changed
	EndsAt         *string // access_times_changed

	Raw []byte
}

// CarriesCode reports whether e carries a PIN code, at hand (Code) or
// sealed in the log (CodeSealed).
func (e *Event) CarriesCode() bool { return e.Code != nil || e.CodeSealed }

// IsMethodEvent reports whether e is an access_method.* event.
func (e *Event) IsMethodEvent() bool { return strings.HasPrefix(e.Type, "access_method.") }

// TypeCodesForgotten is amtrack's own event recording that the PIN codes
// of an access method were forgotten (its data key destroyed). It belongs
// to the method's history but does not fold into its state.
const TypeCodesForgotten = "amtrack.codes_forgotten"

// InMethodHistory reports whether e belongs to the history of its access
// method: every access_method.* event, and amtrack's codes_forgotten.
func (e *Event) InMethodHistory() bool { return e.IsMethodEvent() || e.Type == TypeCodesForgotten }

// IsGrantEvent reports whether e is an access_grant.* event.
func (e *Event) IsGrantEvent() bool { return strings.HasPrefix(e.Type, "access_grant.") }

// Key returns e's position in fold order.
func (e *Event) Key() Key {
	return Key{OccurredAt: e.OccurredAt, CreatedAt: e.CreatedAt, EventID: e.ID}
}

// GrantIDs returns the grants e belongs to in grant history: the
// access_grant_ids of a method event, the access_grant_id of a grant event.
func (e *Event) GrantIDs() []ID {
	switch {
	case e.IsMethodEvent():
		return e.AccessGrantIDs
	case e.IsGrantEvent():
		return []ID{e.AccessGrantID}
	}
	return nil
}

// Key orders events: by occurred_at, then created_at, then event_id (whose
// byte order equals the order of the lowercase ids).
type Key struct {
	OccurredAt int64
	CreatedAt  int64
	EventID    ID
}

// Compare returns -1, 0 or +1 as k sorts before, with or after o.
func (k Key) Compare(o Key) int {
	switch {
	case k.OccurredAt != o.OccurredAt:
		return cmpInt(k.OccurredAt, o.OccurredAt)
	case k.CreatedAt != o.CreatedAt:
		return cmpInt(k.CreatedAt, o.CreatedAt)
	}
	return bytes.Compare(k.EventID[:], o.EventID[:])
}

func cmpInt(a, b int64) int {
	if a < b {
		return -1
	}
	return 1
}

// ParseEvent parses one Seam event strictly (docs/events.md). It accepts every
// payload Seam's schemas allow, plus the real-world deviations: missing
// access_grant_ids, unknown fields, 0-9 fractional digits, ids that are hex
// 8-4-4-4-12 without RFC 4122 version bits. Anything else is refused with an
// invalid_input (or payload_too_large) *Error naming the field and the reason.
// The returned event keeps raw as its Raw bytes (not copied).
func ParseEvent(raw []byte) (*Event, error) {
	if len(raw) > MaxEventSize {
		return nil, &Error{Code: ETooLarge, Message: fmt.Sprintf("event is %d bytes, over the 1 MiB limit", len(raw))}
	}
	trimmed := bytes.Trim(raw, jsonSpace)
	if len(trimmed) == 0 {
		return nil, Errorf(EInvalid, "empty input: want one JSON object")
	}
	fields, ok := splitObject(trimmed)
	if !ok {
		return nil, notAnObject(trimmed)
	}
	if !utf8.Valid(trimmed) {
		return nil, notUTF8(raw, trimmed, fields)
	}
	p := parser{fields: fields}
	e := &Event{Raw: raw}
	e.ID = p.requiredID("event_id")
	e.Type = p.eventType()
	e.WorkspaceID = p.requiredID("workspace_id")
	e.CreatedAt = p.requiredTime("created_at")
	e.OccurredAt = p.requiredTime("occurred_at")
	p.optionalString("event_description")
	switch {
	case p.err != nil:
	case e.IsMethodEvent():
		e.AccessMethodID = p.requiredID("access_method_id")
		e.AccessGrantIDs = p.optionalIDs("access_grant_ids")
		e.AccessGrantKeys = p.optionalStrings("access_grant_keys")
		if e.Type == TypeIssued || e.Type == TypeReissued {
			e.Code = p.optionalString("code")
			e.IsBackupCode = p.optionalBool("is_backup_code")
		}
	case e.Type == TypeCodesForgotten:
		e.AccessMethodID = p.requiredID("access_method_id")
	case e.IsGrantEvent():
		e.AccessGrantID = p.requiredID("access_grant_id")
		switch e.Type {
		case TypeGrantAccessGrantedToDoor, TypeGrantAccessToDoorLost:
			p.requiredID("acs_entrance_id")
		case TypeGrantAccessTimesChanged:
			e.AccessGrantKey = p.optionalString("access_grant_key")
			e.StartsAt = p.optionalString("starts_at")
			e.EndsAt = p.optionalString("ends_at")
		case TypeGrantCouldNotCreateAccessMs:
			p.requiredString("error_message")
			p.optionalIDs("missing_device_ids")
		}
	}
	if p.err != nil {
		if p.err.Field != "event_type" {
			p.err.EventType = e.Type
		}
		return nil, p.err
	}
	return e, nil
}

// notUTF8 names the first member name or string of trimmed (raw without
// its surrounding whitespace, a valid JSON object) that is not UTF-8.
func notUTF8(raw, trimmed []byte, fields members) *Error {
	bad, _ := findBadUTF8(trimmed, 0, "")
	at := bad.at + len(raw) - len(bytes.TrimLeft(raw, jsonSpace))
	err := FieldErrorf(bad.path, "is not valid UTF-8 (at byte %d): send text encoded as UTF-8", at)
	if bad.name {
		err.Message = fmt.Sprintf("the member name is not valid UTF-8 (at byte %d): send text encoded as UTF-8", at)
	}
	if v, ok := fields.lookup("event_type"); ok && bad.path != "event_type" {
		if typ, ok := jsonString(v); ok && ValidEventType(typ) {
			err.EventType = typ
		}
	}
	return err
}

// notAnObject says why trimmed, not empty, is not a JSON object.
func notAnObject(trimmed []byte) *Error {
	var v any
	err := json.Unmarshal(trimmed, &v)
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return Errorf(EInvalid, "not valid JSON: %s (at byte %d)", syn.Error(), syn.Offset)
	case err != nil:
		return Errorf(EInvalid, "not valid JSON: %s", err.Error())
	}
	return Errorf(EInvalid, "event must be a JSON object, got %s", kindOf(trimmed))
}

// jsonSpace is the whitespace JSON allows around a value.
const jsonSpace = " \t\r\n"

// parser reads typed fields out of a decoded object, keeping the first error.
type parser struct {
	fields members
	err    *Error
}

// get returns the field's raw value; ok is false (and an error is recorded
// for required fields) when the field is absent or null.
func (p *parser) get(name string, required bool) ([]byte, bool) {
	if p.err != nil {
		return nil, false
	}
	v, present := p.fields.lookup(name)
	switch {
	case !present && required:
		p.err = FieldErrorf(name, "is required")
		return nil, false
	case !present:
		return nil, false
	case string(v) == "null" && required:
		p.err = FieldErrorf(name, "is required, got null")
		return nil, false
	case string(v) == "null":
		return nil, false
	}
	return v, true
}

func (p *parser) str(name string, v []byte) (string, bool) {
	if v[0] != '"' {
		p.err = FieldErrorf(name, "want string, got %s", kindOf(v))
		return "", false
	}
	s, ok := jsonString(v)
	if !ok {
		p.err = FieldErrorf(name, "is not a valid JSON string")
	}
	return s, ok
}

func (p *parser) requiredString(name string) string {
	v, ok := p.get(name, true)
	if !ok {
		return ""
	}
	s, ok := p.str(name, v)
	if ok && s == "" {
		p.err = FieldErrorf(name, "must not be empty")
	}
	return s
}

// MaxEventTypeLen is the longest event_type accepted, in bytes. Seam's
// longest is 55 (access_grant.could_not_create_requested_access_methods).
const MaxEventTypeLen = 128

// ValidEventType reports whether s can be an event_type: 1 to
// MaxEventTypeLen bytes of A-Z, a-z, 0-9 and _ . : - (every type of Seam's
// schemas is lowercase words, underscores and dots).
func ValidEventType(s string) bool {
	if s == "" || len(s) > MaxEventTypeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// eventType reads event_type: a required string that ValidEventType
// accepts, so that it is safe as a metric label and in a message.
func (p *parser) eventType() string {
	s := p.requiredString("event_type")
	switch {
	case p.err != nil:
	case len(s) > MaxEventTypeLen:
		p.err = FieldErrorf("event_type", "is %d bytes long, over the limit of %d: event types are names such as access_method.issued",
			len(s), MaxEventTypeLen)
	case !ValidEventType(s):
		p.err = FieldErrorf("event_type", "%s is not an event type: use only letters, digits and _ . : - (such as access_method.issued)", quote(s))
	}
	return s
}

func (p *parser) optionalString(name string) *string {
	v, ok := p.get(name, false)
	if !ok {
		return nil
	}
	s, ok := p.str(name, v)
	if !ok {
		return nil
	}
	return &s
}

func (p *parser) optionalBool(name string) *bool {
	v, ok := p.get(name, false)
	if !ok {
		return nil
	}
	switch string(v) {
	case "true":
		b := true
		return &b
	case "false":
		b := false
		return &b
	}
	p.err = FieldErrorf(name, "want boolean, got %s", kindOf(v))
	return nil
}

func (p *parser) id(name string, v []byte) ID {
	s, ok := p.str(name, v)
	if !ok {
		return ID{}
	}
	if s == "" {
		p.err = FieldErrorf(name, "must not be empty")
		return ID{}
	}
	id, ok := ParseID(s)
	if !ok {
		p.err = FieldErrorf(name, "%s is not an id (hex 8-4-4-4-12)", quote(s))
	}
	return id
}

func (p *parser) requiredID(name string) ID {
	v, ok := p.get(name, true)
	if !ok {
		return ID{}
	}
	return p.id(name, v)
}

func (p *parser) requiredTime(name string) int64 {
	v, ok := p.get(name, true)
	if !ok {
		return 0
	}
	s, ok := p.str(name, v)
	if !ok {
		return 0
	}
	if s == "" {
		p.err = FieldErrorf(name, "must not be empty")
		return 0
	}
	t, ok := ParseTime(s)
	switch {
	case !ok:
		p.err = FieldErrorf(name, "%s is not an RFC 3339 time", quote(s))
		return 0
	case !InRange(t):
		p.err = FieldErrorf(name, "%s is outside the supported range (years 1678 to 2261)", quote(s))
		return 0
	}
	return t.UnixNano()
}

func (p *parser) array(name string) [][]byte {
	v, ok := p.get(name, false)
	if !ok {
		return nil
	}
	if v[0] != '[' {
		p.err = FieldErrorf(name, "want array, got %s", kindOf(v))
		return nil
	}
	return splitArray(v)
}

func (p *parser) optionalIDs(name string) []ID {
	items := p.array(name)
	if len(items) == 0 {
		return nil
	}
	ids := make([]ID, 0, len(items))
	for i, it := range items {
		id := p.id(fmt.Sprintf("%s[%d]", name, i), it)
		if p.err != nil {
			return nil
		}
		ids = append(ids, id)
	}
	return ids
}

func (p *parser) optionalStrings(name string) []string {
	items := p.array(name)
	if len(items) == 0 {
		return nil
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, ok := p.str(fmt.Sprintf("%s[%d]", name, i), it)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

// kindOf names the JSON type of a raw value, for messages.
func kindOf(v []byte) string {
	v = bytes.Trim(v, jsonSpace)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// quote quotes s for a message, shortening very long values.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// CanonicalJSON returns the JSON value of raw with object keys sorted and
// insignificant whitespace removed, so two encodings of one value compare
// equal. Numbers keep their literal text.
func CanonicalJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("canonical json: data after the value")
	}
	return json.Marshal(v)
}

// SameJSON reports whether a and b encode the same JSON value (key order and
// whitespace ignored).
func SameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	ca, err1 := CanonicalJSON(a)
	cb, err2 := CanonicalJSON(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}

// RedactPayload returns raw without its PIN codes, which are secrets: every
// member whose name decodes to "code", in any spelling
// (escapes, any letter case, repeated) and at any depth, is removed, and the
// object that held it gets "code_redacted": true. An object that changed is
// written again as encoding/json writes a map (keys sorted, no whitespace);
// the rest of raw keeps its bytes, and a payload without a code is returned
// unchanged.
func RedactPayload(raw []byte) []byte {
	if !mayNameCode(raw) || !json.Valid(raw) {
		return raw
	}
	i := skipSpace(raw, 0)
	out, changed := redactValue(raw[i:valueEnd(raw, i)])
	if !changed {
		return raw
	}
	return out
}

// redactValue returns v, one JSON value of a document already validated,
// without its code members, and whether anything was removed.
func redactValue(v []byte) ([]byte, bool) {
	switch v[0] {
	case '{':
		return redactObject(v)
	case '[':
		return redactArray(v)
	}
	return v, false
}

func redactObject(v []byte) ([]byte, bool) {
	ms := objectMembers(v)
	removed, changed := false, false
	for i := range ms {
		if isCodeName(ms[i].name) {
			removed = true
			continue
		}
		if out, ok := redactValue(ms[i].value); ok {
			ms[i].value, changed = out, true
		}
	}
	if !removed && !changed {
		return v, false
	}
	// The last of repeated names wins, as when encoding/json decodes v.
	fields := make(map[string]json.RawMessage, len(ms)+1)
	for _, m := range ms {
		if !isCodeName(m.name) {
			fields[m.name] = m.value
		}
	}
	if removed {
		fields["code_redacted"] = json.RawMessage("true")
	}
	b, err := json.Marshal(fields)
	if err != nil { // cannot happen: every value is valid JSON; never print a code
		return []byte(`{"code_redacted":true}`), true
	}
	return b, true
}

func redactArray(v []byte) ([]byte, bool) {
	items := splitArray(v)
	changed := false
	for i, it := range items {
		if out, ok := redactValue(it); ok {
			items[i], changed = out, true
		}
	}
	if !changed {
		return v, false
	}
	return append(append([]byte("["), bytes.Join(items, []byte(","))...), ']'), true
}
