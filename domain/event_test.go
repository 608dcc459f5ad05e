package domain_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
)

// Ids used by the generated payloads.
const (
	eventID     = "0b5c6e3a-7d4f-4c1e-9a2b-3c4d5e6f7a8b"
	workspaceID = "1e2d3c4b-5a69-4788-96a5-b4c3d2e1f0a9"
	methodID    = "5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0f"
	grantID     = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
	grantID2    = "b1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
	entranceID  = "c0ffee00-1234-4567-89ab-cdef01234567"
)

// kv holds the fields of a generated payload; a value of del removes the field
// and a json.RawMessage value is written as is.
type kv map[string]any

type deleted struct{}

var del deleted

// fields returns a valid payload of type typ with every field amtrack reads.
func fields(typ string) kv {
	m := kv{
		"event_id":     eventID,
		"event_type":   typ,
		"workspace_id": workspaceID,
		"created_at":   "2025-06-16T16:56:00.123456Z",
		"occurred_at":  "2025-06-16T16:55:59.5Z",
	}
	switch {
	case strings.HasPrefix(typ, "access_method."):
		m["access_method_id"] = methodID
		m["access_grant_ids"] = []string{grantID}
		m["access_grant_keys"] = []string{"booking-42"}
	case strings.HasPrefix(typ, "access_grant."):
		m["access_grant_id"] = grantID
	}
	switch typ {
	case domain.TypeGrantAccessGrantedToDoor, domain.TypeGrantAccessToDoorLost:
		m["acs_entrance_id"] = entranceID
	case domain.TypeGrantCouldNotCreateAccessMs:
		m["error_message"] = "the requested devices are offline"
	}
	return m
}

// mk encodes fields(typ) with over applied.
func mk(typ string, over kv) []byte {
	m := fields(typ)
	for k, v := range over {
		if v == del {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// raw is shorthand for a literal JSON value in a kv.
func raw(s string) json.RawMessage { return json.RawMessage(s) }

// mustNanos returns the Unix nanoseconds of an RFC 3339 time.
func mustNanos(tb testing.TB, s string) int64 {
	tb.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(tb, err)
	return tm.UnixNano()
}

func examplesDir() string { return filepath.Join("..", "testdata", "seam", "examples") }

func TestParseEventExamples(t *testing.T) {
	zero := "00000000-0000-0000-0000-000000000000"
	type want struct {
		typ          string
		id           string
		methodID     string
		createdAt    string
		occurredAt   string
		code         *string
		isBackupCode *bool
		rawHas       []string // unknown fields that must survive in Raw
	}
	code, yes := "1234", true
	docs := func(typ string, code *string, backup *bool) want {
		return want{typ: typ, id: zero, methodID: zero, createdAt: "2025-01-01T00:00:00Z", occurredAt: "2025-01-01T00:00:00Z", code: code, isBackupCode: backup}
	}
	wants := map[string]want{
		"docs-api-reference__access_method.card_encoding_required.json": docs(domain.TypeCardEncodingRequired, nil, nil),
		"docs-api-reference__access_method.created.json":                docs(domain.TypeCreated, nil, nil),
		"docs-api-reference__access_method.deleted.json":                docs(domain.TypeDeleted, nil, nil),
		"docs-api-reference__access_method.issued.json":                 docs(domain.TypeIssued, &code, &yes),
		"docs-api-reference__access_method.reissued.json":               docs(domain.TypeReissued, &code, &yes),
		"docs-api-reference__access_method.revoked.json":                docs(domain.TypeRevoked, nil, nil),
		"docs-card-encoding-guide__access_method.issued.json": {
			typ:        domain.TypeIssued,
			id:         "22222222-3333-4444-5555-666666666666",
			methodID:   "5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0f",
			createdAt:  "2025-06-16T16:56:00Z",
			occurredAt: "2025-06-16T16:56:00Z",
			rawHas: []string{
				`"acs_system_id": "11111111-1111-1111-1111-111111111111"`,
				`"connected_account_id": "11111111-1111-1111-1111-222222222222"`,
				`"event_description": "An access method was issued."`,
			},
		},
	}

	entries, err := os.ReadDir(examplesDir())
	require.NoError(t, err)
	var names []string
	for _, de := range entries {
		if !de.IsDir() && strings.HasSuffix(de.Name(), ".json") {
			names = append(names, de.Name())
		}
	}
	require.Len(t, names, len(wants), "every example needs an expectation and vice versa")

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			w, ok := wants[name]
			require.True(t, ok, "no expectation for example %s", name)
			b, err := os.ReadFile(filepath.Join(examplesDir(), name))
			require.NoError(t, err)

			e, err := domain.ParseEvent(b)
			require.NoError(t, err)
			assert.Equal(t, w.typ, e.Type)
			assert.Equal(t, w.id, e.ID.String())
			assert.Equal(t, zero, e.WorkspaceID.String())
			assert.Equal(t, w.methodID, e.AccessMethodID.String())
			assert.Equal(t, mustNanos(t, w.createdAt), e.CreatedAt)
			assert.Equal(t, mustNanos(t, w.occurredAt), e.OccurredAt)
			assert.Empty(t, e.AccessGrantIDs)
			assert.Empty(t, e.AccessGrantKeys)
			assert.Equal(t, w.code, e.Code)
			assert.Equal(t, w.isBackupCode, e.IsBackupCode)
			assert.True(t, e.IsMethodEvent())
			assert.False(t, e.IsGrantEvent())
			assert.Equal(t, domain.ID{}, e.AccessGrantID)
			assert.Equal(t, b, e.Raw, "Raw must be the bytes as received")
			for _, s := range w.rawHas {
				assert.Contains(t, string(e.Raw), s)
			}
		})
	}
}

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

func TestParseEventAccepts(t *testing.T) {
	upper := strings.ToUpper
	tests := []struct {
		name  string
		in    []byte
		check func(t *testing.T, e *domain.Event)
	}{
		{"uppercase ids are stored lowercase",
			mk(domain.TypeIssued, kv{"event_id": upper(eventID), "workspace_id": upper(workspaceID), "access_method_id": upper(methodID), "access_grant_ids": []string{upper(grantID), grantID2}}),
			func(t *testing.T, e *domain.Event) {
				assert.Equal(t, eventID, e.ID.String())
				assert.Equal(t, workspaceID, e.WorkspaceID.String())
				assert.Equal(t, methodID, e.AccessMethodID.String())
				assert.Equal(t, []domain.ID{domain.MustParseID(grantID), domain.MustParseID(grantID2)}, e.AccessGrantIDs)
				assert.Equal(t, domain.MustParseID(eventID), e.ID)
			}},
		{"ids without rfc 4122 version bits",
			mk(domain.TypeCreated, kv{"event_id": "22222222-3333-4444-5555-666666666666", "access_method_id": "ffffffff-ffff-ffff-ffff-ffffffffffff", "workspace_id": "00000000-0000-0000-0000-000000000000"}),
			func(t *testing.T, e *domain.Event) {
				assert.Equal(t, "22222222-3333-4444-5555-666666666666", e.ID.String())
				assert.Equal(t, "ffffffff-ffff-ffff-ffff-ffffffffffff", e.AccessMethodID.String())
				assert.Equal(t, domain.ID{}, e.WorkspaceID)
			}},
		{"ids with json escapes",
			mk(domain.TypeCreated, kv{"event_id": raw(`"\u0030b5c6e3a-7d4f-4c1e-9a2b-3c4d5e6f7a8b"`)}),
			func(t *testing.T, e *domain.Event) { assert.Equal(t, eventID, e.ID.String()) }},
		{"0 and 9 fractional digits",
			mk(domain.TypeIssued, kv{"created_at": "2025-06-16T16:56:00Z", "occurred_at": "2025-06-16T16:56:00.123456789Z"}),
			func(t *testing.T, e *domain.Event) {
				assert.Equal(t, time.Date(2025, 6, 16, 16, 56, 0, 0, time.UTC).UnixNano(), e.CreatedAt)
				assert.Equal(t, time.Date(2025, 6, 16, 16, 56, 0, 123456789, time.UTC).UnixNano(), e.OccurredAt)
			}},
		{"offsets are converted to utc",
			mk(domain.TypeIssued, kv{"created_at": "2025-06-16T22:26:00.5+05:30", "occurred_at": "2025-06-16T08:56:00-08:00"}),
			func(t *testing.T, e *domain.Event) {
				assert.Equal(t, "2025-06-16T16:56:00.5Z", domain.FormatNanos(e.CreatedAt))
				assert.Equal(t, "2025-06-16T16:56:00Z", domain.FormatNanos(e.OccurredAt))
			}},
		{"lowercase t and z",
			mk(domain.TypeIssued, kv{"created_at": "2025-06-16t16:56:00z", "occurred_at": "2025-06-16t16:56:00.25z"}),
			func(t *testing.T, e *domain.Event) {
				assert.Equal(t, "2025-06-16T16:56:00Z", domain.FormatNanos(e.CreatedAt))
				assert.Equal(t, "2025-06-16T16:56:00.25Z", domain.FormatNanos(e.OccurredAt))
			}},
		{"range boundaries",
			mk(domain.TypeIssued, kv{"created_at": "1678-01-01T00:00:00Z", "occurred_at": "2261-12-31T23:59:59.999999999Z"}),
			func(t *testing.T, e *domain.Event) {
				assert.Equal(t, "1678-01-01T00:00:00Z", domain.FormatNanos(e.CreatedAt))
				assert.Equal(t, "2261-12-31T23:59:59.999999999Z", domain.FormatNanos(e.OccurredAt))
			}},
		{"optional fields null read as absent",
			mk(domain.TypeIssued, kv{"access_grant_ids": nil, "access_grant_keys": nil, "code": nil, "is_backup_code": nil, "event_description": nil}),
			func(t *testing.T, e *domain.Event) {
				assert.Empty(t, e.AccessGrantIDs)
				assert.Empty(t, e.AccessGrantKeys)
				assert.Nil(t, e.Code)
				assert.Nil(t, e.IsBackupCode)
			}},
		{"optional grant fields null read as absent",
			mk(domain.TypeGrantAccessTimesChanged, kv{"access_grant_key": nil, "starts_at": nil, "ends_at": nil}),
			func(t *testing.T, e *domain.Event) {
				assert.Nil(t, e.AccessGrantKey)
				assert.Nil(t, e.StartsAt)
				assert.Nil(t, e.EndsAt)
			}},
		{"missing access_grant_ids and keys read as empty",
			mk(domain.TypeRevoked, kv{"access_grant_ids": del, "access_grant_keys": del}),
			func(t *testing.T, e *domain.Event) {
				assert.Empty(t, e.AccessGrantIDs)
				assert.Empty(t, e.AccessGrantKeys)
				assert.Empty(t, e.GrantIDs())
			}},
		{"empty access_grant_ids",
			mk(domain.TypeRevoked, kv{"access_grant_ids": []string{}, "access_grant_keys": []string{}}),
			func(t *testing.T, e *domain.Event) {
				assert.Empty(t, e.AccessGrantIDs)
				assert.Empty(t, e.AccessGrantKeys)
			}},
		{"issued with code and backup flag",
			mk(domain.TypeIssued, kv{"code": "0042", "is_backup_code": false, "access_grant_keys": []string{"k1", "k2"}}),
			func(t *testing.T, e *domain.Event) {
				require.NotNil(t, e.Code)
				assert.Equal(t, "0042", *e.Code)
				require.NotNil(t, e.IsBackupCode)
				assert.False(t, *e.IsBackupCode)
				assert.Equal(t, []string{"k1", "k2"}, e.AccessGrantKeys)
				assert.Equal(t, []domain.ID{domain.MustParseID(grantID)}, e.AccessGrantIDs)
			}},
		{"code of the wrong type on revoked is not checked",
			mk(domain.TypeRevoked, kv{"code": 1234, "is_backup_code": "yes"}),
			func(t *testing.T, e *domain.Event) {
				assert.Nil(t, e.Code)
				assert.Nil(t, e.IsBackupCode)
				assert.Contains(t, string(e.Raw), `"code":1234`)
			}},
		{"unknown event type needs only the common fields",
			mk("lock.unlocked", kv{"device_id": "not-checked", "access_method_id": 5}),
			func(t *testing.T, e *domain.Event) {
				assert.Equal(t, "lock.unlocked", e.Type)
				assert.False(t, e.IsMethodEvent())
				assert.False(t, e.IsGrantEvent())
				assert.Nil(t, e.GrantIDs())
				assert.Equal(t, domain.ID{}, e.AccessMethodID)
			}},
		{"unknown access_method type",
			mk("access_method.foo", kv{"code": 5}),
			func(t *testing.T, e *domain.Event) {
				assert.True(t, e.IsMethodEvent())
				assert.Equal(t, methodID, e.AccessMethodID.String())
				assert.Nil(t, e.Code)
			}},
		{"unknown access_grant type",
			mk("access_grant.foo", nil),
			func(t *testing.T, e *domain.Event) {
				assert.True(t, e.IsGrantEvent())
				assert.Equal(t, []domain.ID{domain.MustParseID(grantID)}, e.GrantIDs())
			}},
		{"extra unknown fields are kept",
			mk(domain.TypeIssued, kv{"acs_system_id": "11111111-1111-1111-1111-111111111111", "nested": kv{"a": []int{1, 2}}, "n": raw(`1.50`)}),
			func(t *testing.T, e *domain.Event) {
				assert.Contains(t, string(e.Raw), `"acs_system_id":"11111111-1111-1111-1111-111111111111"`)
				assert.Contains(t, string(e.Raw), `"nested":{"a":[1,2]}`)
				assert.Contains(t, string(e.Raw), `"n":1.50`)
			}},
		{"json whitespace around the object",
			append(append([]byte(" \r\n\t"), mk(domain.TypeCreated, nil)...), '\n'),
			func(t *testing.T, e *domain.Event) {
				assert.Equal(t, domain.TypeCreated, e.Type)
				assert.True(t, bytes.HasPrefix(e.Raw, []byte(" \r\n\t{")), "Raw must keep the bytes as received")
			}},
		{"access_grant.created", mk(domain.TypeGrantCreated, nil),
			func(t *testing.T, e *domain.Event) {
				assert.Equal(t, grantID, e.AccessGrantID.String())
				assert.Empty(t, e.AccessMethodID, "")
			}},
		{"access_grant.access_granted_to_door", mk(domain.TypeGrantAccessGrantedToDoor, nil),
			func(t *testing.T, e *domain.Event) { assert.Equal(t, grantID, e.AccessGrantID.String()) }},
		{"access_grant.access_times_changed",
			mk(domain.TypeGrantAccessTimesChanged, kv{"access_grant_key": "booking-42", "starts_at": "2025-07-01T15:00:00Z", "ends_at": "not a time, not checked"}),
			func(t *testing.T, e *domain.Event) {
				require.NotNil(t, e.AccessGrantKey)
				assert.Equal(t, "booking-42", *e.AccessGrantKey)
				require.NotNil(t, e.StartsAt)
				assert.Equal(t, "2025-07-01T15:00:00Z", *e.StartsAt)
				require.NotNil(t, e.EndsAt)
				assert.Equal(t, "not a time, not checked", *e.EndsAt)
			}},
		{"access_grant.could_not_create_requested_access_methods",
			mk(domain.TypeGrantCouldNotCreateAccessMs, kv{"missing_device_ids": []string{upper(entranceID)}}),
			func(t *testing.T, e *domain.Event) { assert.Equal(t, grantID, e.AccessGrantID.String()) }},
		{"exactly 1 MiB",
			padTo(mk(domain.TypeIssued, nil), domain.MaxEventSize),
			func(t *testing.T, e *domain.Event) { assert.Len(t, e.Raw, domain.MaxEventSize) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := domain.ParseEvent(tt.in)
			require.NoError(t, err)
			require.NotNil(t, e)
			assert.Equal(t, tt.in, e.Raw, "Raw must be the bytes as received")
			tt.check(t, e)
		})
	}
}

// TestParseEventEveryType checks that a complete payload of every known type
// parses and is classified.
func TestParseEventEveryType(t *testing.T) {
	grantTypes := []string{
		domain.TypeGrantCreated, domain.TypeGrantDeleted, domain.TypeGrantAccessGrantedToAll,
		domain.TypeGrantAccessGrantedToDoor, domain.TypeGrantAccessToDoorLost,
		domain.TypeGrantAccessTimesChanged, domain.TypeGrantCouldNotCreateAccessMs,
	}
	require.Len(t, domain.MethodEventTypes, 8)
	for _, typ := range append(slices.Clone(domain.MethodEventTypes), grantTypes...) {
		t.Run(typ, func(t *testing.T) {
			e, err := domain.ParseEvent(mk(typ, nil))
			require.NoError(t, err)
			assert.Equal(t, typ, e.Type)
			assert.Equal(t, eventID, e.ID.String())
			assert.Equal(t, workspaceID, e.WorkspaceID.String())
			assert.Equal(t, mustNanos(t, "2025-06-16T16:56:00.123456Z"), e.CreatedAt)
			assert.Equal(t, mustNanos(t, "2025-06-16T16:55:59.5Z"), e.OccurredAt)
			assert.Equal(t, strings.HasPrefix(typ, "access_method."), e.IsMethodEvent())
			assert.Equal(t, strings.HasPrefix(typ, "access_grant."), e.IsGrantEvent())
			assert.Equal(t, []domain.ID{domain.MustParseID(grantID)}, e.GrantIDs())
		})
	}
}

// TestParseEventNonJSONWhitespace checks that only JSON's own whitespace
// (space, tab, CR, LF) may surround the object: anything else is not JSON.
func TestParseEventNonJSONWhitespace(t *testing.T) {
	valid := mk(domain.TypeIssued, nil)
	for _, tt := range []struct {
		name   string
		before string
		after  string
	}{
		{"form feed before", "\f", ""},
		{"vertical tab after", "", "\v"},
		{"no-break space before", "\u00a0", ""},
		{"next line before", "\u0085", ""},
		{"ideographic space after", "", "\u3000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := append(append([]byte(tt.before), valid...), tt.after...)
			e, err := domain.ParseEvent(in)
			if !assert.Error(t, err, "accepted %q around a JSON object, which is not JSON", tt.before+tt.after) {
				// What accepting it costs: Raw is stored and later compared as JSON.
				_, cerr := domain.CanonicalJSON(e.Raw)
				assert.NoError(t, cerr, "CanonicalJSON of the accepted Raw")
				return
			}
			var de *domain.Error
			require.True(t, errors.As(err, &de))
			assert.Equal(t, domain.EInvalid, de.Code)
			assert.Contains(t, de.Message, "not valid JSON")
		})
	}
}

func TestKeyCompare(t *testing.T) {
	a := domain.MustParseID("00000000-0000-0000-0000-00000000000a")
	b := domain.MustParseID("00000000-0000-0000-0000-00000000000b")
	nine := domain.MustParseID("99999999-9999-9999-9999-999999999999")
	upperA := domain.MustParseID("AAAAAAAA-0000-0000-0000-000000000000")
	tests := []struct {
		name string
		k, o domain.Key
		want int
	}{
		{"equal", domain.Key{OccurredAt: 5, CreatedAt: 5, EventID: a}, domain.Key{OccurredAt: 5, CreatedAt: 5, EventID: a}, 0},
		{"zero keys", domain.Key{}, domain.Key{}, 0},
		{"occurred_at first", domain.Key{OccurredAt: 1, CreatedAt: 9, EventID: b}, domain.Key{OccurredAt: 2, CreatedAt: 0, EventID: a}, -1},
		{"occurred_at later", domain.Key{OccurredAt: 3, CreatedAt: 0, EventID: a}, domain.Key{OccurredAt: 2, CreatedAt: 9, EventID: b}, 1},
		{"then created_at", domain.Key{OccurredAt: 2, CreatedAt: 1, EventID: b}, domain.Key{OccurredAt: 2, CreatedAt: 2, EventID: a}, -1},
		{"then created_at later", domain.Key{OccurredAt: 2, CreatedAt: 3, EventID: a}, domain.Key{OccurredAt: 2, CreatedAt: 2, EventID: b}, 1},
		{"then event_id", domain.Key{OccurredAt: 2, CreatedAt: 2, EventID: a}, domain.Key{OccurredAt: 2, CreatedAt: 2, EventID: b}, -1},
		{"event_id later", domain.Key{EventID: b}, domain.Key{EventID: a}, 1},
		{"event_id as lowercase text: 9 before a", domain.Key{EventID: nine}, domain.Key{EventID: upperA}, -1},
		{"extreme times do not overflow", domain.Key{OccurredAt: math.MinInt64}, domain.Key{OccurredAt: math.MaxInt64}, -1},
		{"extreme times do not overflow reversed", domain.Key{CreatedAt: math.MaxInt64}, domain.Key{CreatedAt: math.MinInt64}, 1},
		{"negative times", domain.Key{OccurredAt: -2}, domain.Key{OccurredAt: -1}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.k.Compare(tt.o))
			assert.Equal(t, -tt.want, tt.o.Compare(tt.k), "reversed")
		})
	}
}

// TestKeyCompareSortsLikeLowercaseText checks that sorting keys that differ
// only in event_id gives the order of their lowercase ids as strings.
func TestKeyCompareSortsLikeLowercaseText(t *testing.T) {
	ids := []string{
		"FFFFFFFF-0000-0000-0000-000000000000",
		"0a000000-0000-0000-0000-000000000000",
		"A0000000-0000-0000-0000-000000000000",
		"09000000-0000-0000-0000-000000000000",
		"0A000000-0000-0000-0000-000000000001",
		"00000000-0000-0000-0000-000000000000",
	}
	var keys []domain.Key
	var want []string
	for _, s := range ids {
		keys = append(keys, domain.Key{OccurredAt: 7, CreatedAt: 7, EventID: domain.MustParseID(s)})
		want = append(want, strings.ToLower(s))
	}
	slices.SortFunc(keys, domain.Key.Compare)
	slices.Sort(want)
	var got []string
	for _, k := range keys {
		got = append(got, k.EventID.String())
	}
	assert.Equal(t, want, got)
}

func TestEventKey(t *testing.T) {
	e, err := domain.ParseEvent(mk(domain.TypeIssued, nil))
	require.NoError(t, err)
	want := domain.Key{
		OccurredAt: mustNanos(t, "2025-06-16T16:55:59.5Z"),
		CreatedAt:  mustNanos(t, "2025-06-16T16:56:00.123456Z"),
		EventID:    domain.MustParseID(eventID),
	}
	assert.Equal(t, want, e.Key())
}

func TestSameJSON(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"identical", `{"a":1}`, `{"a":1}`, true},
		{"key order", `{"a":1,"b":"x"}`, `{"b":"x","a":1}`, true},
		{"whitespace", `{"a":1,"b":[1,2]}`, " {\n  \"a\" : 1 ,\t\"b\": [ 1, 2 ]\n}\n", true},
		{"nested key order", `{"o":{"x":1,"y":{"p":true,"q":null}}}`, `{"o":{"y":{"q":null,"p":true},"x":1}}`, true},
		{"string escapes", `{"a":"\u00e9\/"}`, `{"a":"é/"}`, true},
		{"different value", `{"a":1}`, `{"a":2}`, false},
		{"different string", `{"code":"1234"}`, `{"code":"1235"}`, false},
		{"number literal kept", `{"a":1}`, `{"a":1.0}`, false},
		{"number vs string", `{"a":1}`, `{"a":"1"}`, false},
		{"extra key", `{"a":1}`, `{"a":1,"b":null}`, false},
		{"array order matters", `{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{"null vs absent", `{"a":null}`, `{}`, false},
		{"large integers kept exactly", `{"n":12345678901234567890}`, `{"n":12345678901234567891}`, false},
		{"invalid json", `{"a":1}`, `{"a":1`, false},
		{"both invalid and different", `{"a"`, `{"b"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, domain.SameJSON([]byte(tt.a), []byte(tt.b)))
			assert.Equal(t, tt.want, domain.SameJSON([]byte(tt.b), []byte(tt.a)), "reversed")
		})
	}
}

func TestSameJSONEvents(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(examplesDir(), "docs-card-encoding-guide__access_method.issued.json"))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	compact, err := json.Marshal(m) // sorted keys, no whitespace
	require.NoError(t, err)
	require.NotEqual(t, b, compact)

	assert.True(t, domain.SameJSON(b, compact))
	m["occurred_at"] = "2025-06-16T16:56:00.000001Z"
	changed, err := json.Marshal(m)
	require.NoError(t, err)
	assert.False(t, domain.SameJSON(b, changed))
}

func TestCanonicalJSON(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{" {\n \"z\": [ 3, {\"y\":1.50, \"x\":-0} ] }\n", `{"z":[3,{"x":-0,"y":1.50}]}`},
		{`{"n":12345678901234567890,"e":1e3}`, `{"e":1e3,"n":12345678901234567890}`},
		{`[]`, `[]`},
		{`"s"`, `"s"`},
		{`null`, `null`},
	}
	for _, tt := range tests {
		got, err := domain.CanonicalJSON([]byte(tt.in))
		require.NoError(t, err, "CanonicalJSON(%q)", tt.in)
		assert.Equal(t, tt.want, string(got), "CanonicalJSON(%q)", tt.in)
	}

	_, err := domain.CanonicalJSON([]byte(`{"a":`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "canonical json: ")
	_, err = domain.CanonicalJSON(nil)
	assert.Error(t, err)
}

// TestCanonicalJSONTrailingData checks that input with more than one JSON
// value is refused rather than cut after the first value.
func TestCanonicalJSONTrailingData(t *testing.T) {
	for _, in := range []string{`{"a":1} trailing garbage`, `{"a":1} {"b":2}`, `{"a":1}}`} {
		got, err := domain.CanonicalJSON([]byte(in))
		assert.Error(t, err, "CanonicalJSON(%q) = %s, want an error", in, got)
		assert.False(t, domain.SameJSON([]byte(`{"a":1}`), []byte(in)), "SameJSON(`{\"a\":1}`, %q)", in)
	}
}

// FuzzParseEvent checks that ParseEvent never panics, refuses with a
// *domain.Error, and that what it accepts is stable: parsing again gives the
// same event, ids and times print and parse back to the same values.
func FuzzParseEvent(f *testing.F) {
	entries, err := os.ReadDir(examplesDir())
	require.NoError(f, err)
	for _, de := range entries {
		b, err := os.ReadFile(filepath.Join(examplesDir(), de.Name()))
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add(benchPayload)
	f.Add(mk(domain.TypeGrantAccessTimesChanged, kv{"access_grant_key": "k", "starts_at": "x"}))
	f.Add(mk(domain.TypeGrantCouldNotCreateAccessMs, kv{"missing_device_ids": []string{entranceID}}))
	f.Add(mk("lock.unlocked", kv{"created_at": "2025-06-16T22:26:00.5+05:30", "occurred_at": "2016-12-31T23:59:60z"}))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"event_id":1}]`))
	f.Add([]byte(` `))
	f.Add(mk(domain.TypeIssued, kv{"code": 1234}))
	f.Add(mk(domain.TypeRevoked, kv{"access_grant_ids": []string{grantID, "x"}}))
	f.Add(mk(domain.TypeIssued, kv{"occurred_at": "2025-02-30T00:00:00Z"}))

	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := domain.ParseEvent(in)
		if err != nil {
			require.Nil(t, e)
			var de *domain.Error
			require.True(t, errors.As(err, &de), "error %T is not a *domain.Error: %v", err, err)
			require.Contains(t, []string{domain.EInvalid, domain.ETooLarge}, de.Code)
			require.NotEmpty(t, de.Message)
			require.NotEmpty(t, de.Error())
			return
		}
		require.NotNil(t, e)
		require.NotEmpty(t, e.Type)
		require.Equal(t, in, e.Raw)

		again, err := domain.ParseEvent(in)
		require.NoError(t, err, "second parse")
		require.Equal(t, e, again, "second parse")

		ids := []domain.ID{e.ID, e.WorkspaceID, e.AccessMethodID, e.AccessGrantID}
		ids = append(ids, e.AccessGrantIDs...)
		for _, id := range ids {
			got, ok := domain.ParseID(id.String())
			require.True(t, ok, "ParseID(%q) refused", id.String())
			require.Equal(t, id, got)
		}
		for _, ns := range []int64{e.CreatedAt, e.OccurredAt} {
			s := domain.FormatNanos(ns)
			tm, ok := domain.ParseTime(s)
			require.True(t, ok, "ParseTime(%q) refused", s)
			require.Equal(t, ns, tm.UnixNano(), "ParseTime(%q)", s)
		}
		require.Equal(t, e.ID, e.Key().EventID)
	})
}

// benchPayload is a realistic access_method.issued webhook body.
var benchPayload = []byte(`{"event_id":"8d1c2b3a-4f5e-4d6c-9b8a-7f6e5d4c3b2a","event_description":"An access method was issued.",` +
	`"event_type":"access_method.issued","workspace_id":"1e2d3c4b-5a69-4788-96a5-b4c3d2e1f0a9",` +
	`"created_at":"2025-06-16T16:56:00.123456Z","occurred_at":"2025-06-16T16:55:59.987654Z",` +
	`"access_method_id":"5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0f",` +
	`"access_grant_ids":["a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"],` +
	`"access_grant_keys":["booking-0042"],"code":"482913","is_backup_code":false}`)

func TestBenchPayload(t *testing.T) {
	e, err := domain.ParseEvent(benchPayload)
	require.NoError(t, err)
	assert.Equal(t, domain.TypeIssued, e.Type)
	assert.Len(t, e.AccessGrantIDs, 1)
	require.NotNil(t, e.Code)
	assert.Equal(t, "482913", *e.Code)
	assert.InDelta(t, 470, len(benchPayload), 30, "the benchmark payload should stay about 470 bytes")
}

func BenchmarkParseEvent(b *testing.B) {
	if _, err := domain.ParseEvent(benchPayload); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := domain.ParseEvent(benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}
