package domain_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
)

// TestAccessMethodAnomalies has one case per anomaly (docs/fold.md).
func TestAccessMethodAnomalies(t *testing.T) {
	cases := []foldCase{
		{
			name: "after_deleted changes nothing but version, last_event and anomalies",
			events: []foldE{
				{1, "created", "08:00", foldXGrantA},
				{2, "card_encoding_required", "08:01", ""},
				{3, "deleted", "08:02", ""},
				{4, "issued", "08:03", `{"code":"4321","is_backup_code":true,"access_grant_ids":["b0000000-0000-4000-8000-00000000000b"],"access_grant_keys":["booking-2"]}`},
			},
			want: foldView{
				Status: "deleted", Mode: "card", IsEncodingRequired: true,
				GrantIDs: []string{foldGrantA}, GrantKeys: []string{"booking-1"},
				CreatedAt: "08:00", FirstSeenAt: "08:00", DeletedAt: "08:02",
				LastEvent: "#4 issued@08:03", Version: 4,
				Anomalies: []string{"#4 issued after_deleted"},
			},
		},
		{
			name: "duplicate_created changes nothing but version, last_event and anomalies",
			events: []foldE{
				{1, "created", "08:00", foldXGrantA},
				{2, "issued", "08:01", foldXPin},
				{3, "created", "08:02", foldXGrantB},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "1234", IsBackupCode: "false",
				GrantIDs: []string{foldGrantA}, GrantKeys: []string{"booking-1"},
				CreatedAt: "08:00", FirstSeenAt: "08:00", IssuedAt: "08:01", LastIssuedAt: "08:01",
				Counts: [3]int{1, 0, 0}, LastEvent: "#3 created@08:02", Version: 3,
				Anomalies: []string{"#3 created duplicate_created"},
			},
		},
		{
			name: "revoked_before_issue is recorded and applied",
			events: []foldE{
				{1, "created", "08:00", foldXGrantA},
				{2, "delay_in_issuing", "08:01", ""},
				{3, "revoked", "08:02", foldXGrantB},
			},
			want: foldView{
				Status:   "revoked",
				GrantIDs: []string{foldGrantA, foldGrantB}, GrantKeys: []string{"booking-1", "booking-2"},
				CreatedAt: "08:00", FirstSeenAt: "08:00", RevokedAt: "08:02",
				Warnings: []string{"delay_in_issuing@08:01"},
				Counts:   [3]int{0, 0, 1}, LastEvent: "#3 revoked@08:02", Version: 3,
				Anomalies: []string{"#3 revoked revoked_before_issue"},
			},
		},
		{
			name: "revoked_before_issue on every revoke before an issue",
			events: []foldE{
				{1, "revoked", "08:00", ""},
				{2, "revoked", "08:01", ""},
				{3, "issued", "08:02", ""},
				{4, "revoked", "08:03", ""},
			},
			want: foldView{
				Status: "revoked", FirstSeenAt: "08:00", IssuedAt: "08:02", LastIssuedAt: "08:02", RevokedAt: "08:03",
				Counts: [3]int{1, 0, 3}, LastEvent: "#4 revoked@08:03", Version: 4,
				Anomalies: []string{"#1 revoked revoked_before_issue", "#2 revoked revoked_before_issue"},
			},
		},
		{
			name: "reissued_before_issue is recorded and applied",
			events: []foldE{
				{1, "created", "08:00", ""},
				{2, "delay_in_issuing", "08:01", ""},
				{3, "reissued", "08:02", `{"code":"1234","is_backup_code":true,"access_grant_ids":["a0000000-0000-4000-8000-00000000000a"]}`},
				{4, "revoked", "08:03", ""}, // a reissue counts as an issue
			},
			want: foldView{
				Status: "revoked", Mode: "code", Code: "1234", IsBackupCode: "true",
				GrantIDs:  []string{foldGrantA},
				CreatedAt: "08:00", FirstSeenAt: "08:00", IssuedAt: "08:02", LastIssuedAt: "08:02", RevokedAt: "08:03",
				Warnings: []string{"pulled_backup_access_code@08:02"},
				Counts:   [3]int{0, 1, 1}, LastEvent: "#4 revoked@08:03", Version: 4,
				Anomalies: []string{"#3 reissued reissued_before_issue"},
			},
		},
		// Only the first rule that applies is recorded.
		{
			name: "created after deleted is after_deleted only",
			events: []foldE{
				{1, "created", "08:00", ""},
				{2, "deleted", "08:01", ""},
				{3, "created", "08:02", foldXGrantA},
			},
			want: foldView{
				Status: "deleted", CreatedAt: "08:00", FirstSeenAt: "08:00", DeletedAt: "08:01",
				LastEvent: "#3 created@08:02", Version: 3,
				Anomalies: []string{"#3 created after_deleted"},
			},
		},
		{
			name: "revoked and reissued after deleted are after_deleted only",
			events: []foldE{
				{1, "deleted", "08:00", ""},
				{2, "revoked", "08:01", ""},
				{3, "reissued", "08:02", foldXPin},
			},
			want: foldView{
				Status: "deleted", FirstSeenAt: "08:00", DeletedAt: "08:00",
				LastEvent: "#3 reissued@08:02", Version: 3,
				Anomalies: []string{"#2 revoked after_deleted", "#3 reissued after_deleted"},
			},
		},
	}
	// Every type after deleted is after_deleted.
	for i, typ := range domain.MethodEventTypes {
		short := foldShortType(typ)
		cases = append(cases, foldCase{
			name: "after_deleted " + short,
			events: []foldE{
				{1, "created", "08:00", foldXGrantA},
				{2, "deleted", "08:01", ""},
				{3 + i, typ, "08:02", `{"code":"1234","access_grant_ids":["b0000000-0000-4000-8000-00000000000b"],"access_grant_keys":["booking-2"]}`},
			},
			want: foldView{
				Status: "deleted", GrantIDs: []string{foldGrantA}, GrantKeys: []string{"booking-1"},
				CreatedAt: "08:00", FirstSeenAt: "08:00", DeletedAt: "08:01",
				LastEvent: fmt.Sprintf("#%d %s@08:02", 3+i, short), Version: 3,
				Anomalies: []string{fmt.Sprintf("#%d %s after_deleted", 3+i, short)},
			},
		})
	}
	foldCheck(t, cases)
}

// TestAccessMethodIgnoresOtherTypes checks that events whose type does not
// fold leave the state alone (docs/events.md).
func TestAccessMethodIgnoresOtherTypes(t *testing.T) {
	others := []foldE{
		{90, "access_method.foo", "07:00", ""},
		{91, "access_grant.created", "07:01", ""},
		{92, "access_grant.access_times_changed", "07:02", `{"starts_at":"2026-02-01T00:00:00Z"}`},
		{93, "acs_credential.issued", "07:03", ""},
		{94, "access_method.issued_backup", "07:04", `{"access_method_id":"7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"}`},
	}
	for _, d := range others {
		assert.False(t, domain.Folds(foldType(d.typ)), "Folds(%q)", d.typ)
	}
	for _, typ := range domain.MethodEventTypes {
		assert.True(t, domain.Folds(typ), "Folds(%q)", typ)
	}
	assert.Len(t, domain.MethodEventTypes, 8)

	t.Run("FoldAccessMethod of no folding event is nil", func(t *testing.T) {
		assert.Nil(t, domain.FoldAccessMethod(foldEvents(t, others...)))
		assert.Nil(t, domain.FoldAccessMethod(nil))
	})

	t.Run("FoldAccessMethod skips them", func(t *testing.T) {
		mixed := []foldE{others[0], others[1], {1, "created", "08:00", ""}, others[2], {2, "issued", "08:01", ""}, others[3], others[4]}
		got := domain.FoldAccessMethod(foldEvents(t, mixed...))
		require.NotNil(t, got)
		want := domain.FoldAccessMethod(foldEvents(t, foldE{1, "created", "08:00", ""}, foldE{2, "issued", "08:01", ""}))
		assert.Equal(t, want, got)
		assert.Equal(t, 2, got.Version, "version")
		assert.Equal(t, "08:00", foldClock(got.FirstSeenAt), "first_seen_at is the first folded event's")
	})

	t.Run("Apply skips them", func(t *testing.T) {
		s := foldRun(t, foldE{1, "created", "08:00", foldXGrantA}, foldE{2, "delay_in_issuing", "08:01", ""})
		before := foldJSON(t, s)
		beforeKey := s.LastKey
		for _, e := range foldEvents(t, others...) {
			s.Apply(e)
		}
		assert.Equal(t, before, foldJSON(t, s))
		assert.Equal(t, beforeKey, s.LastKey, "LastKey")

		fresh := domain.NewAccessMethod(domain.MustParseID(foldMethod), domain.MustParseID(foldWorkspace))
		freshJSON := foldJSON(t, fresh)
		for _, e := range foldEvents(t, others...) {
			fresh.Apply(e)
		}
		assert.Equal(t, freshJSON, foldJSON(t, fresh))
		assert.Equal(t, 0, fresh.Version, "version")
	})
}

func TestNewAccessMethod(t *testing.T) {
	s := domain.NewAccessMethod(domain.MustParseID(strings.ToUpper(foldMethod)), domain.MustParseID(foldWorkspace))
	assert.Equal(t, foldMethod, s.AccessMethodID.String())
	assert.Equal(t, foldWorkspace, s.WorkspaceID.String())
	assert.Equal(t, domain.StatusCreated, s.Status)
	assert.Equal(t, 0, s.Version)
	assert.Equal(t, []domain.ID{}, s.AccessGrantIDs)
	assert.Equal(t, []string{}, s.AccessGrantKeys)
	assert.Equal(t, []domain.Warning{}, s.Warnings)
	assert.Equal(t, []domain.ErrorNotice{}, s.Errors)
	assert.Equal(t, []domain.Anomaly{}, s.Anomalies)
}

// foldGoldenEvents folds to a state where every field has a value.
