package domain_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
)

var foldScenarios = []struct {
	name   string
	events []foldE
	// Fields of the state folded in fold order.
	status, code, last string
	anomalies          int
}{
	{
		name: "card lifecycle with other types",
		events: []foldE{
			{7, "reissued", "08:06", foldXGrantA},
			{90, "access_grant.created", "07:59", ""},
			{3, "delay_in_issuing", "08:02", ""},
			{8, "deleted", "08:07", ""},
			{1, "created", "08:00", foldXGrantB},
			{5, "revoked", "08:04", ""},
			{2, "card_encoding_required", "08:01", ""},
			{91, "access_method.foo", "09:00", ""},
			{6, "card_encoding_required", "08:05", ""},
			{4, "issued", "08:03", ""},
		},
		status: "deleted", last: "#8 deleted@08:07",
	},
	{
		name: "pin with ties on occurred_at",
		events: []foldE{
			{6, "reissued", "08:04", ""},
			// Same occurred_at: created_at decides, whatever the event ids.
			{1, "issued", "08:01", `{"code":"1111","created_at":"2026-01-05T08:01:05Z"}`},
			{2, "issued", "08:01", `{"code":"2222","created_at":"2026-01-05T08:01:02Z"}`},
			{5, "revoked", "08:03", ""},
			// Same occurred_at and created_at: the lowercase event id decides (a < b).
			{3, "reissued", "08:02", `{"code":"4444","is_backup_code":true,"event_id":"B0000000-0000-4000-8000-000000000003"}`},
			{4, "reissued", "08:02", `{"code":"3333","event_id":"a0000000-0000-4000-8000-000000000004"}`},
		},
		status: "issued", code: "4444", last: "#6 reissued@08:04",
	},
	{
		name: "anomalies",
		events: []foldE{
			{6, "issued", "08:05", foldXPin},
			{5, "deleted", "08:04", ""},
			{4, "created", "08:03", ""},
			{3, "created", "08:02", ""},
			{2, "reissued", "08:01", foldXPin2},
			{1, "revoked", "08:00", ""},
		},
		status: "deleted", code: "5678", last: "#6 issued@08:05", anomalies: 4,
	},
	{
		name: "warnings and errors",
		events: []foldE{
			{6, "delay_in_issuing", "08:04", ""},
			{5, "failed_to_issue", "08:04", ""},
			{4, "issued", "08:03", foldXBackup},
			{3, "delay_in_issuing", "08:02", ""},
			{2, "failed_to_issue", "08:01", ""},
			{1, "delay_in_issuing", "08:00", ""},
			{7, "failed_to_issue", "08:06", ""},
		},
		status: "issued", code: "9999", last: "#7 failed_to_issue@08:06",
	},
}

// TestFoldOrderIndependence checks that folding events sorted by Key gives
// the same JSON whatever order they arrived in (docs/fold.md).
func TestFoldOrderIndependence(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sc := range foldScenarios {
		t.Run(sc.name, func(t *testing.T) {
			events := foldEvents(t, sc.events...)
			want := domain.FoldAccessMethod(foldSorted(events))
			require.NotNil(t, want)
			wantJSON := foldJSON(t, want)

			v := foldViewOf(want)
			assert.Equal(t, sc.status, v.Status, "status")
			assert.Equal(t, sc.code, v.Code, "code")
			assert.Equal(t, sc.last, v.LastEvent, "last_event")
			assert.Len(t, v.Anomalies, sc.anomalies, "anomalies %v", v.Anomalies)

			// The arrival order, if folded unsorted, would differ: the test
			// would not notice a fold that ignored the sort otherwise.
			if unsorted := domain.FoldAccessMethod(events); unsorted != nil {
				assert.NotEqual(t, wantJSON, foldJSON(t, unsorted), "arrival order must not already be fold order")
			}

			for i := range 200 {
				shuffled := slices.Clone(events)
				rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
				got := domain.FoldAccessMethod(foldSorted(shuffled))
				if !assert.Equal(t, wantJSON, foldJSON(t, got), "shuffle %d", i) {
					return
				}
				assert.Equal(t, want.LastKey, got.LastKey, "LastKey")
			}
		})
	}
}

// TestFoldOrderScenarios pins the full states of the scenarios whose results
// depend on tie-breaking and on warnings ordering.
func TestFoldOrderScenarios(t *testing.T) {
	sorted := func(sc int) []foldE {
		events := foldEvents(t, foldScenarios[sc].events...)
		byID := map[domain.ID]foldE{}
		for i, e := range events {
			byID[e.ID] = foldScenarios[sc].events[i]
		}
		var out []foldE
		for _, e := range foldSorted(events) {
			out = append(out, byID[e.ID])
		}
		return out
	}
	foldCheck(t, []foldCase{
		{
			name:   "pin with ties on occurred_at",
			events: sorted(1),
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "4444", IsBackupCode: "true",
				FirstSeenAt: "08:01", IssuedAt: "08:01", LastIssuedAt: "08:04", RevokedAt: "08:03",
				Warnings: []string{"pulled_backup_access_code@08:02"},
				Counts:   [3]int{2, 3, 1}, LastEvent: "#6 reissued@08:04", Version: 6,
			},
		},
		{
			name:   "anomalies",
			events: sorted(2),
			want: foldView{
				Status: "deleted", Mode: "code", Code: "5678", IsBackupCode: "false",
				CreatedAt: "08:02", FirstSeenAt: "08:00", IssuedAt: "08:01", LastIssuedAt: "08:01",
				RevokedAt: "08:00", DeletedAt: "08:04",
				Counts: [3]int{0, 1, 1}, LastEvent: "#6 issued@08:05", Version: 6,
				Anomalies: []string{
					"#1 revoked revoked_before_issue",
					"#2 reissued reissued_before_issue",
					"#4 created duplicate_created",
					"#6 issued after_deleted",
				},
			},
		},
		{
			name:   "warnings and errors",
			events: sorted(3),
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "9999", IsBackupCode: "true",
				FirstSeenAt: "08:00", IssuedAt: "08:03", LastIssuedAt: "08:03",
				Warnings: []string{"pulled_backup_access_code@08:03", "delay_in_issuing@08:04"},
				Errors:   []string{"failed_to_issue@08:04"},
				Counts:   [3]int{1, 0, 0}, LastEvent: "#7 failed_to_issue@08:06", Version: 7,
			},
		},
	})
}
