package domain_test

import (
	"bytes"
	"encoding/json"
	"errors"
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
