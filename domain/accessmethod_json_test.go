package domain_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
)

var foldGoldenEvents = []foldE{
	{1, "created", "2026-01-05T09:00:00.5+01:00", `{"created_at":"2026-01-05T08:00:01Z","access_method_id":"7A6B5C4D-3E2F-4A1B-8C9D-0E1F2A3B4C5D","workspace_id":"2B3C4D5E-6F70-4812-9A3B-4C5D6E7F8091","access_grant_ids":["A0000000-0000-4000-8000-00000000000A"],"access_grant_keys":["booking-42"]}`},
	{2, "card_encoding_required", "08:01:00.123456789", ""},
	{3, "delay_in_issuing", "08:02", ""},
	{4, "issued", "08:03", `{"code":"4321","is_backup_code":true,"access_grant_ids":["F0000000-0000-4000-8000-00000000000F"],"access_grant_keys":["Booking-7"]}`},
	{5, "revoked", "08:04", ""},
	{6, "failed_to_issue", "08:05", ""},
	{7, "delay_in_issuing", "08:06", ""},
	{8, "reissued", "08:07:00.120", ""},
	{9, "failed_to_issue", "08:08", ""},
	{10, "delay_in_issuing", "08:09", ""},
	{11, "created", "08:10", `{"event_id":"E0000000-0000-4000-8000-000000000011"}`},
	{12, "deleted", "08:11:00.123456789", ""},
	{13, "revoked", "08:12", `{"event_id":"E0000000-0000-4000-8000-000000000013"}`},
}

const foldGoldenJSON = `{
  "access_method_id": "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d",
  "workspace_id": "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091",
  "status": "deleted",
  "is_issued": false,
  "mode": "card",
  "is_encoding_required": false,
  "code": "4321",
  "code_redacted": false,
  "is_backup_code": true,
  "access_grant_ids": ["a0000000-0000-4000-8000-00000000000a", "f0000000-0000-4000-8000-00000000000f"],
  "access_grant_keys": ["Booking-7", "booking-42"],
  "created_at": "2026-01-05T08:00:00.5Z",
  "first_seen_at": "2026-01-05T08:00:00.5Z",
  "issued_at": "2026-01-05T08:03:00Z",
  "last_issued_at": "2026-01-05T08:07:00.12Z",
  "revoked_at": "2026-01-05T08:04:00Z",
  "deleted_at": "2026-01-05T08:11:00.123456789Z",
  "issue_count": 1,
  "reissue_count": 1,
  "revoke_count": 1,
  "warnings": [
    {"warning_code": "pulled_backup_access_code", "created_at": "2026-01-05T08:03:00Z"},
    {"warning_code": "delay_in_issuing", "created_at": "2026-01-05T08:09:00Z"}
  ],
  "errors": [
    {"error_code": "failed_to_issue", "created_at": "2026-01-05T08:08:00Z"}
  ],
  "last_event": {
    "event_id": "e0000000-0000-4000-8000-000000000013",
    "event_type": "access_method.revoked",
    "occurred_at": "2026-01-05T08:12:00Z"
  },
  "version": 13,
  "anomalies": [
    {"event_id": "e0000000-0000-4000-8000-000000000011", "event_type": "access_method.created", "reason": "duplicate_created"},
    {"event_id": "e0000000-0000-4000-8000-000000000013", "event_type": "access_method.revoked", "reason": "after_deleted"}
  ]
}`

// foldMinimalEvents folds to a state where every field that can be null or empty is.
var foldMinimalEvents = []foldE{{1, "delay_in_issuing", "08:00", ""}}

const foldMinimalJSON = `{
  "access_method_id": "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d",
  "workspace_id": "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091",
  "status": "created",
  "is_issued": false,
  "mode": null,
  "is_encoding_required": false,
  "code": null,
  "code_redacted": false,
  "is_backup_code": null,
  "access_grant_ids": [],
  "access_grant_keys": [],
  "created_at": null,
  "first_seen_at": "2026-01-05T08:00:00Z",
  "issued_at": null,
  "last_issued_at": null,
  "revoked_at": null,
  "deleted_at": null,
  "issue_count": 0,
  "reissue_count": 0,
  "revoke_count": 0,
  "warnings": [{"warning_code": "delay_in_issuing", "created_at": "2026-01-05T08:00:00Z"}],
  "errors": [],
  "last_event": {
    "event_id": "e0000000-0000-4000-8000-000000000001",
    "event_type": "access_method.delay_in_issuing",
    "occurred_at": "2026-01-05T08:00:00Z"
  },
  "version": 1,
  "anomalies": []
}`

// TestAccessMethodJSON checks the output form (docs/fold.md): field order,
// times, ids, empty lists and nulls.
func TestAccessMethodJSON(t *testing.T) {
	for _, tt := range []struct {
		name   string
		events []foldE
		golden string
	}{
		{"full", foldGoldenEvents, foldGoldenJSON},
		{"minimal", foldMinimalEvents, foldMinimalJSON},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := foldRun(t, tt.events...)
			got := foldJSON(t, s)
			want := foldCompact(t, tt.golden)
			assert.Equal(t, want, got)
		})
	}
}

// TestAccessMethodRedacted checks Redacted (docs/api.md): code null and
// code_redacted true only when a code exists, on a copy.
func TestAccessMethodRedacted(t *testing.T) {
	t.Run("with a code", func(t *testing.T) {
		s := foldRun(t, foldGoldenEvents...)
		before := foldJSON(t, s)

		r := s.Redacted()
		require.NotNil(t, r)
		require.NotSame(t, s, r)
		want := strings.Replace(foldCompact(t, foldGoldenJSON), `"code":"4321","code_redacted":false`, `"code":null,"code_redacted":true`, 1)
		require.NotEqual(t, foldCompact(t, foldGoldenJSON), want, "the golden text must contain the code")
		assert.Equal(t, want, foldJSON(t, r))
		assert.NotContains(t, foldJSON(t, r), "4321")
		assert.Equal(t, s.LastKey, r.LastKey, "LastKey")

		// The original is untouched.
		assert.Equal(t, before, foldJSON(t, s))
		require.NotNil(t, s.Code)
		assert.Equal(t, "4321", *s.Code)
		assert.False(t, s.CodeRedacted)

		// Redacting twice changes nothing more.
		assert.Equal(t, want, foldJSON(t, r.Redacted()))
	})
	t.Run("without a code", func(t *testing.T) {
		for _, events := range [][]foldE{
			foldMinimalEvents,
			{{1, "issued", "08:00", foldXNoCode}, {2, "card_encoding_required", "08:01", ""}},
		} {
			s := foldRun(t, events...)
			before := foldJSON(t, s)
			r := s.Redacted()
			assert.Equal(t, before, foldJSON(t, r), "no code: nothing to redact")
			assert.False(t, r.CodeRedacted)
			assert.Nil(t, r.Code)
			assert.Equal(t, before, foldJSON(t, s))
		}
	})
}

// TestAccessMethodJSONRoundTrip checks Unmarshal(Marshal(s)) == s, but for
// LastKey and CodeEventID (the read model stores them beside the JSON).
func TestAccessMethodJSONRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name   string
		events []foldE
	}{
		{"full", foldGoldenEvents},
		{"minimal", foldMinimalEvents},
		{"redacted", foldGoldenEvents},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := foldRun(t, tt.events...)
			if tt.name == "redacted" {
				s = s.Redacted()
			}
			b, err := json.Marshal(s)
			require.NoError(t, err)

			var got domain.AccessMethod
			require.NoError(t, json.Unmarshal(b, &got))
			assert.Equal(t, domain.Key{}, got.LastKey, "LastKey is not in the JSON")
			assert.Nil(t, got.CodeEventID, "CodeEventID is not in the JSON")

			want := *s
			want.LastKey, want.CodeEventID = domain.Key{}, nil
			assert.Equal(t, want, got)

			again, err := json.Marshal(&got)
			require.NoError(t, err)
			assert.Equal(t, string(b), string(again))
		})
	}
}

// foldScenarios are event sets given in an arrival order that is not their fold order.
