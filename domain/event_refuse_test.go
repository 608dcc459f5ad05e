package domain_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
)

// invalidCase is an input ParseEvent must refuse, and the error it must give.
type invalidCase struct {
	name      string
	in        []byte
	field     string
	code      string
	msg       string // a substring of Message
	eventType string // the Error's EventType
}

func invalidCases() []invalidCase {
	const (
		issued  = domain.TypeIssued
		revoked = domain.TypeRevoked
		gcreate = domain.TypeGrantCreated
		door    = domain.TypeGrantAccessGrantedToDoor
		lost    = domain.TypeGrantAccessToDoorLost
		couldnt = domain.TypeGrantCouldNotCreateAccessMs
		times   = domain.TypeGrantAccessTimesChanged
	)
	inv := domain.EInvalid
	valid := string(mk(issued, nil))
	cases := []invalidCase{
		// The whole input.
		{"not json", []byte(`hello`), "", inv, "not valid JSON: invalid character 'h'", ""},
		{"truncated json", []byte(valid[:len(valid)/2]), "", inv, "not valid JSON: unexpected end of JSON input", ""},
		{"missing closing brace", []byte(valid[:len(valid)-1]), "", inv, "not valid JSON", ""},
		{"trailing comma", []byte(`{"event_id":"x",}`), "", inv, "not valid JSON: invalid character '}'", ""},
		{"two objects", []byte(valid + valid), "", inv, "not valid JSON: invalid character '{' after top-level value", ""},
		{"single quotes", []byte(`{'event_id':'x'}`), "", inv, "not valid JSON", ""},
		{"byte order mark", append([]byte("\ufeff"), valid...), "", inv, "not valid JSON", ""},
		{"empty array", []byte(`[]`), "", inv, "event must be a JSON object, got array", ""},
		{"array of an event", []byte("[" + valid + "]"), "", inv, "event must be a JSON object, got array", ""},
		{"string", []byte(`"access_method.issued"`), "", inv, "event must be a JSON object, got string", ""},
		{"number", []byte(`42`), "", inv, "event must be a JSON object, got number", ""},
		{"negative number", []byte(` -1.5e3 `), "", inv, "event must be a JSON object, got number", ""},
		{"boolean", []byte(`true`), "", inv, "event must be a JSON object, got boolean", ""},
		{"null", []byte(`null`), "", inv, "event must be a JSON object, got null", ""},
		{"null with whitespace", []byte(" null\n"), "", inv, "event must be a JSON object, got null", ""},
		{"empty input", []byte{}, "", inv, "empty input: want one JSON object", ""},
		{"nil input", nil, "", inv, "empty input", ""},
		{"whitespace only", []byte(" \t\r\n "), "", inv, "empty input: want one JSON object", ""},
		{"empty object", []byte(`{}`), "event_id", inv, "is required", ""},

		// event_id.
		{"event_id missing", mk(issued, kv{"event_id": del}), "event_id", inv, "is required", ""},
		{"event_id null", mk(issued, kv{"event_id": nil}), "event_id", inv, "is required, got null", ""},
		{"event_id number", mk(issued, kv{"event_id": 12345}), "event_id", inv, "want string, got number", ""},
		{"event_id object", mk(issued, kv{"event_id": kv{"id": eventID}}), "event_id", inv, "want string, got object", ""},
		{"event_id empty", mk(issued, kv{"event_id": ""}), "event_id", inv, "must not be empty", ""},
		{"event_id too short", mk(issued, kv{"event_id": eventID[:35]}), "event_id", inv, `"0b5c6e3a-7d4f-4c1e-9a2b-3c4d5e6f7a8" is not an id (hex 8-4-4-4-12)`, ""},
		{"event_id too long", mk(issued, kv{"event_id": eventID + "0"}), "event_id", inv, "is not an id", ""},
		{"event_id non-hex", mk(issued, kv{"event_id": "0b5c6e3a-7d4f-4c1e-9a2b-3c4d5e6f7a8g"}), "event_id", inv, "is not an id", ""},
		{"event_id no dashes", mk(issued, kv{"event_id": "0b5c6e3a7d4f4c1e9a2b3c4d5e6f7a8b"}), "event_id", inv, "is not an id", ""},
		{"event_id braces", mk(issued, kv{"event_id": "{" + eventID + "}"}), "event_id", inv, "is not an id", ""},
		{"event_id urn", mk(issued, kv{"event_id": "urn:uuid:" + eventID}), "event_id", inv, "is not an id", ""},
		{"event_id padded", mk(issued, kv{"event_id": " " + eventID}), "event_id", inv, "is not an id", ""},

		// event_type.
		{"event_type missing", mk(issued, kv{"event_type": del}), "event_type", inv, "is required", ""},
		{"event_type null", mk(issued, kv{"event_type": nil}), "event_type", inv, "is required, got null", ""},
		{"event_type empty", mk(issued, kv{"event_type": ""}), "event_type", inv, "must not be empty", ""},
		{"event_type number", mk(issued, kv{"event_type": 3}), "event_type", inv, "want string, got number", ""},
		{"event_type array", mk(issued, kv{"event_type": []string{issued}}), "event_type", inv, "want string, got array", ""},

		// workspace_id.
		{"workspace_id missing", mk(issued, kv{"workspace_id": del}), "workspace_id", inv, "is required", issued},
		{"workspace_id null", mk(issued, kv{"workspace_id": nil}), "workspace_id", inv, "is required, got null", issued},
		{"workspace_id boolean", mk(issued, kv{"workspace_id": true}), "workspace_id", inv, "want string, got boolean", issued},
		{"workspace_id empty", mk(issued, kv{"workspace_id": ""}), "workspace_id", inv, "must not be empty", issued},
		{"workspace_id malformed", mk(issued, kv{"workspace_id": "ws_123"}), "workspace_id", inv, `"ws_123" is not an id`, issued},

		// created_at and occurred_at.
		{"created_at missing", mk(issued, kv{"created_at": del}), "created_at", inv, "is required", issued},
		{"created_at null", mk(issued, kv{"created_at": nil}), "created_at", inv, "is required, got null", issued},
		{"created_at number", mk(issued, kv{"created_at": 1735689600}), "created_at", inv, "want string, got number", issued},
		{"created_at empty", mk(issued, kv{"created_at": ""}), "created_at", inv, "must not be empty", issued},
		{"occurred_at missing", mk(issued, kv{"occurred_at": del}), "occurred_at", inv, "is required", issued},
		{"occurred_at null", mk(issued, kv{"occurred_at": nil}), "occurred_at", inv, "is required, got null", issued},
		{"occurred_at object", mk(issued, kv{"occurred_at": kv{}}), "occurred_at", inv, "want string, got object", issued},
		{"occurred_at empty", mk(issued, kv{"occurred_at": ""}), "occurred_at", inv, "must not be empty", issued},
		{"time month 13", mk(issued, kv{"occurred_at": "2025-13-01T00:00:00Z"}), "occurred_at", inv, `"2025-13-01T00:00:00Z" is not an RFC 3339 time`, issued},
		{"time day 32", mk(issued, kv{"occurred_at": "2025-01-32T00:00:00Z"}), "occurred_at", inv, "is not an RFC 3339 time", issued},
		{"time feb 30", mk(issued, kv{"created_at": "2024-02-30T00:00:00Z"}), "created_at", inv, "is not an RFC 3339 time", issued},
		{"time no zone", mk(issued, kv{"created_at": "2025-01-01T00:00:00"}), "created_at", inv, "is not an RFC 3339 time", issued},
		{"time ten fractional digits", mk(issued, kv{"created_at": "2025-01-01T00:00:00.1234567890Z"}), "created_at", inv, "is not an RFC 3339 time", issued},
		{"time empty fraction", mk(issued, kv{"occurred_at": "2025-01-01T12:00:00.Z"}), "occurred_at", inv, "is not an RFC 3339 time", issued},
		{"time space instead of T", mk(issued, kv{"occurred_at": "2025-01-01 12:00:00Z"}), "occurred_at", inv, "is not an RFC 3339 time", issued},
		{"time hour 24", mk(issued, kv{"occurred_at": "2025-01-01T24:00:00Z"}), "occurred_at", inv, "is not an RFC 3339 time", issued},
		{"time offset +25:00", mk(issued, kv{"occurred_at": "2025-01-01T00:00:00+25:00"}), "occurred_at", inv, "is not an RFC 3339 time", issued},
		{"time date only", mk(issued, kv{"occurred_at": "2025-01-01"}), "occurred_at", inv, "is not an RFC 3339 time", issued},
		{"time before 1678", mk(issued, kv{"occurred_at": "1600-01-01T00:00:00Z"}), "occurred_at", inv, "is outside the supported range (years 1678 to 2261)", issued},
		{"time after 2262", mk(issued, kv{"created_at": "2300-01-01T00:00:00Z"}), "created_at", inv, "is outside the supported range", issued},

		// event_description, on any type.
		{"event_description number", mk("lock.unlocked", kv{"event_description": 1}), "event_description", inv, "want string, got number", "lock.unlocked"},

		// access_method_id.
		{"access_method_id missing", mk(issued, kv{"access_method_id": del}), "access_method_id", inv, "is required", issued},
		{"access_method_id null", mk(revoked, kv{"access_method_id": nil}), "access_method_id", inv, "is required, got null", revoked},
		{"access_method_id number", mk(issued, kv{"access_method_id": 7}), "access_method_id", inv, "want string, got number", issued},
		{"access_method_id empty", mk(issued, kv{"access_method_id": ""}), "access_method_id", inv, "must not be empty", issued},
		{"access_method_id malformed", mk(issued, kv{"access_method_id": "5f4e3d2c-1b0a-9f8e-7d6c"}), "access_method_id", inv, "is not an id", issued},
		{"access_method_id missing on unknown method type", mk("access_method.foo", kv{"access_method_id": del}), "access_method_id", inv, "is required", "access_method.foo"},

		// access_grant_ids and access_grant_keys.
		{"access_grant_ids object", mk(revoked, kv{"access_grant_ids": kv{}}), "access_grant_ids", inv, "want array, got object", revoked},
		{"access_grant_ids string", mk(revoked, kv{"access_grant_ids": grantID}), "access_grant_ids", inv, "want array, got string", revoked},
		{"access_grant_ids element number", mk(revoked, kv{"access_grant_ids": raw(`[1]`)}), "access_grant_ids[0]", inv, "want string, got number", revoked},
		{"access_grant_ids element null", mk(revoked, kv{"access_grant_ids": raw(`[null]`)}), "access_grant_ids[0]", inv, "want string, got null", revoked},
		{"access_grant_ids element empty", mk(revoked, kv{"access_grant_ids": []string{grantID, ""}}), "access_grant_ids[1]", inv, "must not be empty", revoked},
		{"access_grant_ids element malformed", mk(revoked, kv{"access_grant_ids": []string{grantID, "not-an-id"}}), "access_grant_ids[1]", inv, `"not-an-id" is not an id`, revoked},
		{"access_grant_keys string", mk(issued, kv{"access_grant_keys": "booking-42"}), "access_grant_keys", inv, "want array, got string", issued},
		{"access_grant_keys element number", mk(issued, kv{"access_grant_keys": raw(`["a", 42]`)}), "access_grant_keys[1]", inv, "want string, got number", issued},

		// code and is_backup_code on issued and reissued.
		{"code number on issued", mk(issued, kv{"code": 1234}), "code", inv, "want string, got number", issued},
		{"code boolean on reissued", mk(domain.TypeReissued, kv{"code": false}), "code", inv, "want string, got boolean", domain.TypeReissued},
		{"is_backup_code string", mk(issued, kv{"is_backup_code": "true"}), "is_backup_code", inv, "want boolean, got string", issued},
		{"is_backup_code number", mk(domain.TypeReissued, kv{"is_backup_code": 1}), "is_backup_code", inv, "want boolean, got number", domain.TypeReissued},

		// access_grant.* events.
		{"access_grant_id missing", mk(gcreate, kv{"access_grant_id": del}), "access_grant_id", inv, "is required", gcreate},
		{"access_grant_id null", mk(domain.TypeGrantDeleted, kv{"access_grant_id": nil}), "access_grant_id", inv, "is required, got null", domain.TypeGrantDeleted},
		{"access_grant_id number", mk(gcreate, kv{"access_grant_id": 1}), "access_grant_id", inv, "want string, got number", gcreate},
		{"access_grant_id empty", mk(gcreate, kv{"access_grant_id": ""}), "access_grant_id", inv, "must not be empty", gcreate},
		{"access_grant_id malformed", mk(gcreate, kv{"access_grant_id": "a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d"}), "access_grant_id", inv, "is not an id", gcreate},
		{"acs_entrance_id missing", mk(door, kv{"acs_entrance_id": del}), "acs_entrance_id", inv, "is required", door},
		{"acs_entrance_id null", mk(door, kv{"acs_entrance_id": nil}), "acs_entrance_id", inv, "is required, got null", door},
		{"acs_entrance_id malformed", mk(lost, kv{"acs_entrance_id": "entrance-1"}), "acs_entrance_id", inv, `"entrance-1" is not an id`, lost},
		{"error_message missing", mk(couldnt, kv{"error_message": del}), "error_message", inv, "is required", couldnt},
		{"error_message null", mk(couldnt, kv{"error_message": nil}), "error_message", inv, "is required, got null", couldnt},
		{"error_message empty", mk(couldnt, kv{"error_message": ""}), "error_message", inv, "must not be empty", couldnt},
		{"error_message number", mk(couldnt, kv{"error_message": 500}), "error_message", inv, "want string, got number", couldnt},
		{"missing_device_ids element malformed", mk(couldnt, kv{"missing_device_ids": []string{"dev"}}), "missing_device_ids[0]", inv, `"dev" is not an id`, couldnt},
		{"starts_at number", mk(times, kv{"starts_at": 0}), "starts_at", inv, "want string, got number", times},
		{"ends_at boolean", mk(times, kv{"ends_at": false}), "ends_at", inv, "want string, got boolean", times},
		{"access_grant_key array", mk(times, kv{"access_grant_key": []string{"k"}}), "access_grant_key", inv, "want string, got array", times},

		// event_type: a short name, safe as a metric label.
		{"event_type over 128 bytes", mk(issued, kv{"event_type": "access_method." + strings.Repeat("x", 115)}), "event_type", inv,
			"is 129 bytes long, over the limit of 128", ""},
		{"event_type of 200 KB", mk(issued, kv{"event_type": strings.Repeat("a", 200<<10)}), "event_type", inv, "is 204800 bytes long", ""},
		{"event_type with a space", mk(issued, kv{"event_type": "access method.issued"}), "event_type", inv,
			`"access method.issued" is not an event type: use only letters, digits and _ . : -`, ""},
		{"event_type with a slash", mk(issued, kv{"event_type": "access_method/issued"}), "event_type", inv, "is not an event type", ""},
		{"event_type with a newline", mk(issued, kv{"event_type": "lock.unlocked\n"}), "event_type", inv, `"lock.unlocked\n" is not an event type`, ""},
		{"event_type escaped NUL", mk(issued, kv{"event_type": raw(`"lock\u0000"`)}), "event_type", inv, "is not an event type", ""},
		{"event_type not ASCII", mk(issued, kv{"event_type": "accès.créé"}), "event_type", inv, "is not an event type", ""},
		{"event_type quote", mk(issued, kv{"event_type": `a"b`}), "event_type", inv, "is not an event type", ""},

		// Text that is not UTF-8, in any member name or string at any depth.
		{"bad UTF-8 in a known field", mk(issued, kv{"event_description": raw("\"caf\xe9\"")}), "event_description", inv,
			"is not valid UTF-8 (at byte ", issued},
		{"bad UTF-8 in event_type", mk(issued, kv{"event_type": raw("\"lock.\xff\"")}), "event_type", inv, "is not valid UTF-8", ""},
		{"bad UTF-8 in an unknown field", mk(issued, kv{"note": raw("\"\xff\"")}), "note", inv, "is not valid UTF-8", issued},
		{"bad UTF-8 nested", mk(issued, kv{"metadata": raw("{\"a\":1,\"note\":\"caf\xc3\"}")}), "metadata.note", inv, "is not valid UTF-8", issued},
		{"bad UTF-8 in an array", mk(revoked, kv{"tags": raw("[\"a\", {\"b\": [true, \"\xed\xa0\x80\"]}]")}), "tags[1].b[1]", inv, "is not valid UTF-8", revoked},
		{"bad UTF-8 in access_grant_keys", mk(issued, kv{"access_grant_keys": raw("[\"k\", \"\xfe\"]")}), "access_grant_keys[1]", inv, "is not valid UTF-8", issued},
		{"bad UTF-8 in a nested name", mk(issued, kv{"metadata": raw("{\"no\xffte\":1}")}), "metadata.no\ufffdte", inv,
			"the member name is not valid UTF-8", issued},
		{"bad UTF-8 in a top-level name", append([]byte("{\"x\x80\":1,"), mk(issued, nil)[1:]...), "x\ufffd", inv, "the member name is not valid UTF-8", issued},
		{"bad UTF-8 before a bad field", mk(issued, kv{"workspace_id": "bad", "z": raw("\"\xff\"")}), "z", inv, "is not valid UTF-8", issued},

		// The first error wins, in field order.
		{"first error reported", mk(issued, kv{"workspace_id": "bad", "code": 1}), "workspace_id", inv, `"bad" is not an id`, issued},
	}

	// Over 1 MiB, whatever the content.
	big := mk(issued, kv{"event_description": strings.Repeat("x", domain.MaxEventSize)})
	cases = append(cases,
		invalidCase{"over 1 MiB", big, "", domain.ETooLarge, "over the 1 MiB limit", ""},
		invalidCase{"1 MiB plus one byte of padding", padTo(mk(issued, nil), domain.MaxEventSize+1), "", domain.ETooLarge, "event is 1048577 bytes, over the 1 MiB limit", ""},
		invalidCase{"over 1 MiB and not json", bytes.Repeat([]byte("x"), domain.MaxEventSize+1), "", domain.ETooLarge, "over the 1 MiB limit", ""},
	)
	return cases
}

// padTo appends spaces to b until it is n bytes long.
func padTo(b []byte, n int) []byte {
	return append(b, bytes.Repeat([]byte(" "), n-len(b))...)
}

func TestParseEventRefuses(t *testing.T) {
	cases := invalidCases()
	require.GreaterOrEqual(t, len(cases), 40)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			e, err := domain.ParseEvent(tt.in)
			require.Error(t, err)
			assert.Nil(t, e)
			var de *domain.Error
			require.True(t, errors.As(err, &de), "error %T is not a *domain.Error", err)
			assert.Equal(t, tt.field, de.Field, "Field")
			assert.Equal(t, tt.code, de.Code, "Code")
			assert.Contains(t, de.Message, tt.msg, "Message")
			assert.Equal(t, tt.eventType, de.EventType, "EventType")
			assert.Equal(t, tt.code, domain.ErrorCode(err))
		})
	}
}

func TestParseEventErrorText(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"time", mk(domain.TypeIssued, kv{"occurred_at": "2025-13-01T00:00:00Z"}),
			`access_method.issued: field "occurred_at": "2025-13-01T00:00:00Z" is not an RFC 3339 time`},
		{"code", mk(domain.TypeIssued, kv{"code": 1234}),
			`access_method.issued: field "code": want string, got number`},
		{"array element", mk(domain.TypeRevoked, kv{"access_grant_ids": []string{grantID, "not-an-id"}}),
			`access_method.revoked: field "access_grant_ids[1]": "not-an-id" is not an id (hex 8-4-4-4-12)`},
		{"no type yet", mk(domain.TypeIssued, kv{"event_id": del}),
			`field "event_id": is required`},
		{"bad type", mk(domain.TypeIssued, kv{"event_type": ""}),
			`field "event_type": must not be empty`},
		{"whole input", []byte(`[]`),
			`event must be a JSON object, got array`},
		{"bad UTF-8, the byte counted from the input's start", append([]byte(" \n{\"x\xff\":1,"), mk(domain.TypeIssued, nil)[1:]...),
			"access_method.issued: field \"x\ufffd\": the member name is not valid UTF-8 (at byte 5): send text encoded as UTF-8"},
		{"long value shortened", mk("lock.unlocked", kv{"workspace_id": strings.Repeat("ab", 50)}),
			`lock.unlocked: field "workspace_id": "` + strings.Repeat("ab", 32) + `..." is not an id (hex 8-4-4-4-12)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := domain.ParseEvent(tt.in)
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

// TestParseEventAcceptsText: UTF-8 text and escapes (even of a lone
// surrogate, which is valid JSON text) are accepted, and so is every event
// type of Seam's schemas and types up to 128 bytes.
func TestParseEventAcceptsText(t *testing.T) {
	types := append([]string{
		domain.TypeGrantCreated, domain.TypeGrantDeleted, domain.TypeGrantAccessGrantedToAll, domain.TypeGrantAccessGrantedToDoor,
		domain.TypeGrantAccessToDoorLost, domain.TypeGrantAccessTimesChanged, domain.TypeGrantCouldNotCreateAccessMs,
		"lock.unlocked", "acme:Widget-2.spun_X", "access_method." + strings.Repeat("x", 114),
	}, domain.MethodEventTypes...)
	for _, typ := range types {
		_, err := domain.ParseEvent(mk(typ, nil))
		assert.NoError(t, err, typ)
		assert.True(t, domain.ValidEventType(typ), typ)
	}
	for _, in := range [][]byte{
		mk(domain.TypeIssued, kv{"event_description": "café ☕ 😀", "m": kv{"ключ": []string{"\ufffd"}}}),
		mk(domain.TypeIssued, kv{"note": raw(`"\ud83d \u00e9 \uFFFD"`)}),
		mk(domain.TypeIssued, kv{"event_type": raw(`"access\u005fmethod.issued"`)}),
	} {
		_, err := domain.ParseEvent(in)
		assert.NoError(t, err, "%s", in)
	}
	assert.False(t, domain.ValidEventType(""))
}
