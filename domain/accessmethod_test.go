package domain_test

import (
	"testing"
)

// TestAccessMethodTransitions has one case per row of the transition table
// (docs/fold.md), each reached from a state where every effect of the row shows.
func TestAccessMethodTransitions(t *testing.T) {
	foldCheck(t, []foldCase{
		{
			name:   "created",
			events: []foldE{{1, "created", "08:00", foldXGrantA}},
			want: foldView{
				Status: "created", GrantIDs: []string{foldGrantA}, GrantKeys: []string{"booking-1"},
				CreatedAt: "08:00", FirstSeenAt: "08:00", LastEvent: "#1 created@08:00", Version: 1,
			},
		},
		{
			name: "card_encoding_required",
			events: []foldE{
				{1, "created", "08:00", ""},
				{2, "card_encoding_required", "08:01", foldXGrantA},
			},
			want: foldView{
				Status: "encoding_required", Mode: "card", IsEncodingRequired: true,
				GrantIDs: []string{foldGrantA}, GrantKeys: []string{"booking-1"},
				CreatedAt: "08:00", FirstSeenAt: "08:00",
				LastEvent: "#2 card_encoding_required@08:01", Version: 2,
			},
		},
		{
			name: "issued",
			events: []foldE{
				{1, "created", "08:00", foldXGrantA},
				{2, "delay_in_issuing", "08:01", ""},
				{3, "failed_to_issue", "08:02", ""},
				{4, "issued", "08:03", foldXPin},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "1234", IsBackupCode: "false",
				GrantIDs: []string{foldGrantA}, GrantKeys: []string{"booking-1"},
				CreatedAt: "08:00", FirstSeenAt: "08:00", IssuedAt: "08:03", LastIssuedAt: "08:03",
				Counts: [3]int{1, 0, 0}, LastEvent: "#4 issued@08:03", Version: 4,
			},
		},
		{
			name: "issued after card_encoding_required",
			events: []foldE{
				{1, "created", "08:00", ""},
				{2, "card_encoding_required", "08:01", ""},
				{3, "delay_in_issuing", "08:02", ""},
				{4, "issued", "08:03", foldXGrantB},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "card",
				GrantIDs: []string{foldGrantB}, GrantKeys: []string{"booking-2"},
				CreatedAt: "08:00", FirstSeenAt: "08:00", IssuedAt: "08:03", LastIssuedAt: "08:03",
				Counts: [3]int{1, 0, 0}, LastEvent: "#4 issued@08:03", Version: 4,
			},
		},
		{
			name: "reissued",
			events: []foldE{
				{1, "created", "08:00", foldXGrantA},
				{2, "issued", "08:01", foldXPin},
				{3, "revoked", "08:02", ""},
				{4, "delay_in_issuing", "08:03", ""},
				{5, "failed_to_issue", "08:04", ""},
				{6, "reissued", "08:05", foldXPin2},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "5678", IsBackupCode: "false",
				GrantIDs: []string{foldGrantA}, GrantKeys: []string{"booking-1"},
				CreatedAt: "08:00", FirstSeenAt: "08:00", IssuedAt: "08:01", LastIssuedAt: "08:05",
				RevokedAt: "08:02", Counts: [3]int{1, 1, 1}, LastEvent: "#6 reissued@08:05", Version: 6,
			},
		},
		{
			name: "reissued after card_encoding_required",
			events: []foldE{
				{1, "issued", "08:01", ""},
				{2, "revoked", "08:02", ""},
				{3, "card_encoding_required", "08:03", ""},
				{4, "reissued", "08:04", ""},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "card",
				FirstSeenAt: "08:01", IssuedAt: "08:01", LastIssuedAt: "08:04", RevokedAt: "08:02",
				Counts: [3]int{1, 1, 1}, LastEvent: "#4 reissued@08:04", Version: 4,
			},
		},
		{
			name: "revoked",
			events: []foldE{
				{1, "created", "08:00", ""},
				{2, "issued", "08:01", foldXPin},
				{3, "revoked", "08:02", foldXGrantB},
			},
			want: foldView{
				Status: "revoked", Mode: "code", Code: "1234", IsBackupCode: "false",
				GrantIDs: []string{foldGrantB}, GrantKeys: []string{"booking-2"},
				CreatedAt: "08:00", FirstSeenAt: "08:00", IssuedAt: "08:01", LastIssuedAt: "08:01",
				RevokedAt: "08:02", Counts: [3]int{1, 0, 1}, LastEvent: "#3 revoked@08:02", Version: 3,
			},
		},
		{
			name: "delay_in_issuing",
			events: []foldE{
				{1, "created", "08:00", ""},
				{2, "card_encoding_required", "08:01", ""},
				{3, "delay_in_issuing", "08:02", foldXGrantA},
			},
			want: foldView{
				Status: "encoding_required", Mode: "card", IsEncodingRequired: true,
				GrantIDs: []string{foldGrantA}, GrantKeys: []string{"booking-1"},
				CreatedAt: "08:00", FirstSeenAt: "08:00",
				Warnings:  []string{"delay_in_issuing@08:02"},
				LastEvent: "#3 delay_in_issuing@08:02", Version: 3,
			},
		},
		{
			name: "failed_to_issue",
			events: []foldE{
				{1, "created", "08:00", ""},
				{2, "failed_to_issue", "08:03", foldXGrantA},
			},
			want: foldView{
				Status:   "created",
				GrantIDs: []string{foldGrantA}, GrantKeys: []string{"booking-1"},
				CreatedAt: "08:00", FirstSeenAt: "08:00",
				Errors:    []string{"failed_to_issue@08:03"},
				LastEvent: "#2 failed_to_issue@08:03", Version: 2,
			},
		},
		{
			name: "deleted",
			events: []foldE{
				{1, "created", "08:00", foldXGrantA},
				{2, "issued", "08:01", foldXPin},
				{3, "deleted", "08:02", foldXGrantB},
			},
			want: foldView{
				Status: "deleted", Mode: "code", Code: "1234", IsBackupCode: "false",
				GrantIDs: []string{foldGrantA, foldGrantB}, GrantKeys: []string{"booking-1", "booking-2"},
				CreatedAt: "08:00", FirstSeenAt: "08:00", IssuedAt: "08:01", LastIssuedAt: "08:01",
				DeletedAt: "08:02", Counts: [3]int{1, 0, 0}, LastEvent: "#3 deleted@08:02", Version: 3,
			},
		},
	})
}

// TestAccessMethodRules covers the rules under the transition table (docs/fold.md).
func TestAccessMethodRules(t *testing.T) {
	foldCheck(t, []foldCase{
		// A method first seen through an event that sets no status starts as created.
		{
			name:   "first seen through delay_in_issuing starts created",
			events: []foldE{{1, "delay_in_issuing", "08:00", ""}},
			want: foldView{
				Status: "created", FirstSeenAt: "08:00", Warnings: []string{"delay_in_issuing@08:00"},
				LastEvent: "#1 delay_in_issuing@08:00", Version: 1,
			},
		},
		{
			name:   "first seen through failed_to_issue starts created",
			events: []foldE{{1, "failed_to_issue", "08:00", ""}},
			want: foldView{
				Status: "created", FirstSeenAt: "08:00", Errors: []string{"failed_to_issue@08:00"},
				LastEvent: "#1 failed_to_issue@08:00", Version: 1,
			},
		},
		{
			name:   "first seen through issued has no created_at",
			events: []foldE{{1, "issued", "08:00", ""}},
			want: foldView{
				Status: "issued", IsIssued: true, FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:00",
				Counts: [3]int{1, 0, 0}, LastEvent: "#1 issued@08:00", Version: 1,
			},
		},
		{
			name: "created after other events sets status created and created_at",
			events: []foldE{
				{1, "issued", "08:00", ""},
				{2, "created", "08:01", ""},
			},
			want: foldView{
				Status: "created", CreatedAt: "08:01", FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:00",
				Counts: [3]int{1, 0, 0}, LastEvent: "#2 created@08:01", Version: 2,
			},
		},
		// issue_count counts issued only.
		{
			name: "issue_count counts issued events only",
			events: []foldE{
				{1, "issued", "08:00", ""},
				{2, "reissued", "08:01", ""},
				{3, "reissued", "08:02", ""},
				{4, "issued", "08:03", ""},
			},
			want: foldView{
				Status: "issued", IsIssued: true, FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:03",
				Counts: [3]int{2, 2, 0}, LastEvent: "#4 issued@08:03", Version: 4,
			},
		},
		// code: the latest code carried by an issue or reissue.
		{
			name: "reissue without a code keeps the code",
			events: []foldE{
				{1, "issued", "08:00", foldXPin},
				{2, "revoked", "08:01", ""},
				{3, "reissued", "08:02", ""},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "1234", IsBackupCode: "false",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:02", RevokedAt: "08:01",
				Counts: [3]int{1, 1, 1}, LastEvent: "#3 reissued@08:02", Version: 3,
			},
		},
		{
			name: "issue without a code keeps the code",
			events: []foldE{
				{1, "issued", "08:00", foldXPin},
				{2, "issued", "08:01", `{"code":null,"is_backup_code":null}`},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "1234", IsBackupCode: "false",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:01",
				Counts: [3]int{2, 0, 0}, LastEvent: "#2 issued@08:01", Version: 2,
			},
		},
		{
			name: "the latest code wins",
			events: []foldE{
				{1, "issued", "08:00", `{"code":"1111"}`},
				{2, "reissued", "08:01", `{"code":"2222","is_backup_code":true}`},
				{3, "reissued", "08:02", `{"code":"3333"}`},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "3333", IsBackupCode: "false",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:02",
				Counts: [3]int{1, 2, 0}, LastEvent: "#3 reissued@08:02", Version: 3,
			},
		},
		// is_backup_code: the value on the latest issue or reissue that carried a code.
		{
			name:   "is_backup_code is null before any code",
			events: []foldE{{1, "issued", "08:00", foldXNoCode}},
			want: foldView{
				Status: "issued", IsIssued: true, FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:00",
				Counts: [3]int{1, 0, 0}, LastEvent: "#1 issued@08:00", Version: 1,
			},
		},
		{
			name:   "is_backup_code false given",
			events: []foldE{{1, "issued", "08:00", foldXPinFals}},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "1234", IsBackupCode: "false",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:00",
				Counts: [3]int{1, 0, 0}, LastEvent: "#1 issued@08:00", Version: 1,
			},
		},
		{
			name:   "backup code adds pulled_backup_access_code",
			events: []foldE{{1, "issued", "08:00", foldXBackup}},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "9999", IsBackupCode: "true",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:00",
				Warnings: []string{"pulled_backup_access_code@08:00"},
				Counts:   [3]int{1, 0, 0}, LastEvent: "#1 issued@08:00", Version: 1,
			},
		},
		{
			name: "backup flag on an issue without a code changes nothing",
			events: []foldE{
				{1, "issued", "08:00", foldXPin},
				{2, "reissued", "08:01", foldXNoCode},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "1234", IsBackupCode: "false",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:01",
				Counts: [3]int{1, 1, 0}, LastEvent: "#2 reissued@08:01", Version: 2,
			},
		},
		{
			name: "pulled_backup_access_code stays while is_backup_code is true",
			events: []foldE{
				{1, "issued", "08:00", foldXBackup},
				{2, "revoked", "08:01", ""},
				{3, "reissued", "08:02", ""},
				{4, "reissued", "08:03", `{"code":"8888","is_backup_code":true}`},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "8888", IsBackupCode: "true",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:03", RevokedAt: "08:01",
				Warnings: []string{"pulled_backup_access_code@08:00"},
				Counts:   [3]int{1, 2, 1}, LastEvent: "#4 reissued@08:03", Version: 4,
			},
		},
		{
			name: "a later non-backup code clears pulled_backup_access_code",
			events: []foldE{
				{1, "issued", "08:00", foldXBackup},
				{2, "reissued", "08:01", foldXPin},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "1234", IsBackupCode: "false",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:01",
				Counts: [3]int{1, 1, 0}, LastEvent: "#2 reissued@08:01", Version: 2,
			},
		},
		{
			name: "pulled_backup_access_code raised again takes the new created_at",
			events: []foldE{
				{1, "issued", "08:00", foldXBackup},
				{2, "reissued", "08:01", foldXPin},
				{3, "reissued", "08:02", foldXBackup},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "9999", IsBackupCode: "true",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:02",
				Warnings: []string{"pulled_backup_access_code@08:02"},
				Counts:   [3]int{1, 2, 0}, LastEvent: "#3 reissued@08:02", Version: 3,
			},
		},
		// mode.
		{
			name: "mode card when encoding was required before the code",
			events: []foldE{
				{1, "card_encoding_required", "08:00", ""},
				{2, "issued", "08:01", foldXPin},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "card", Code: "1234", IsBackupCode: "false",
				FirstSeenAt: "08:00", IssuedAt: "08:01", LastIssuedAt: "08:01",
				Counts: [3]int{1, 0, 0}, LastEvent: "#2 issued@08:01", Version: 2,
			},
		},
		{
			name: "mode card when encoding is required after a code",
			events: []foldE{
				{1, "issued", "08:00", foldXPin},
				{2, "revoked", "08:01", ""},
				{3, "card_encoding_required", "08:02", ""},
			},
			want: foldView{
				Status: "encoding_required", Mode: "card", IsEncodingRequired: true, Code: "1234", IsBackupCode: "false",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:00", RevokedAt: "08:01",
				Counts: [3]int{1, 0, 1}, LastEvent: "#3 card_encoding_required@08:02", Version: 3,
			},
		},
		{
			name: "mode stays card after the encoding flag is cleared",
			events: []foldE{
				{1, "card_encoding_required", "08:00", ""},
				{2, "issued", "08:01", ""},
				{3, "revoked", "08:02", ""},
				{4, "reissued", "08:03", foldXPin},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "card", Code: "1234", IsBackupCode: "false",
				FirstSeenAt: "08:00", IssuedAt: "08:01", LastIssuedAt: "08:03", RevokedAt: "08:02",
				Counts: [3]int{1, 1, 1}, LastEvent: "#4 reissued@08:03", Version: 4,
			},
		},
		{
			name: "mode code when a code was issued later",
			events: []foldE{
				{1, "issued", "08:00", ""},
				{2, "reissued", "08:01", foldXPin},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "1234", IsBackupCode: "false",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:01",
				Counts: [3]int{1, 1, 0}, LastEvent: "#2 reissued@08:01", Version: 2,
			},
		},
		{
			name: "mode null for a mobile key issued without a code",
			events: []foldE{
				{1, "created", "08:00", ""},
				{2, "issued", "08:01", ""},
				{3, "revoked", "08:02", ""},
				{4, "reissued", "08:03", ""},
			},
			want: foldView{
				Status: "issued", IsIssued: true, CreatedAt: "08:00", FirstSeenAt: "08:00",
				IssuedAt: "08:01", LastIssuedAt: "08:03", RevokedAt: "08:02",
				Counts: [3]int{1, 1, 1}, LastEvent: "#4 reissued@08:03", Version: 4,
			},
		},
		// Issue clears the encoding flag, the delay warning and the failed error.
		{
			name: "issue clears encoding, delay and failed but not other warnings",
			events: []foldE{
				{1, "issued", "08:00", foldXBackup},
				{2, "revoked", "08:01", ""},
				{3, "card_encoding_required", "08:02", ""},
				{4, "delay_in_issuing", "08:03", ""},
				{5, "failed_to_issue", "08:04", ""},
				{6, "reissued", "08:05", ""},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "card", Code: "9999", IsBackupCode: "true",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:05", RevokedAt: "08:01",
				Warnings: []string{"pulled_backup_access_code@08:00"},
				Counts:   [3]int{1, 1, 1}, LastEvent: "#6 reissued@08:05", Version: 6,
			},
		},
		{
			name: "revoke and delete do not clear warnings or errors",
			events: []foldE{
				{1, "delay_in_issuing", "08:00", ""},
				{2, "failed_to_issue", "08:01", ""},
				{3, "revoked", "08:02", ""},
				{4, "deleted", "08:03", ""},
			},
			want: foldView{
				Status: "deleted", FirstSeenAt: "08:00", RevokedAt: "08:02", DeletedAt: "08:03",
				Warnings: []string{"delay_in_issuing@08:00"}, Errors: []string{"failed_to_issue@08:01"},
				Counts: [3]int{0, 0, 1}, LastEvent: "#4 deleted@08:03", Version: 4,
				Anomalies: []string{"#3 revoked revoked_before_issue"},
			},
		},
		// delay_in_issuing and failed_to_issue are added once.
		{
			name: "delay_in_issuing added once keeps the first created_at",
			events: []foldE{
				{1, "created", "08:00", ""},
				{2, "delay_in_issuing", "08:01", ""},
				{3, "delay_in_issuing", "08:02", ""},
			},
			want: foldView{
				Status: "created", CreatedAt: "08:00", FirstSeenAt: "08:00",
				Warnings:  []string{"delay_in_issuing@08:01"},
				LastEvent: "#3 delay_in_issuing@08:02", Version: 3,
			},
		},
		{
			name: "failed_to_issue added once keeps the first created_at",
			events: []foldE{
				{1, "created", "08:00", ""},
				{2, "failed_to_issue", "08:01", ""},
				{3, "failed_to_issue", "08:02", ""},
			},
			want: foldView{
				Status: "created", CreatedAt: "08:00", FirstSeenAt: "08:00",
				Errors:    []string{"failed_to_issue@08:01"},
				LastEvent: "#3 failed_to_issue@08:02", Version: 3,
			},
		},
		{
			name: "delay and failure raised again after an issue take new created_at",
			events: []foldE{
				{1, "delay_in_issuing", "08:00", ""},
				{2, "failed_to_issue", "08:01", ""},
				{3, "issued", "08:02", ""},
				{4, "revoked", "08:03", ""},
				{5, "delay_in_issuing", "08:04", ""},
				{6, "failed_to_issue", "08:05", ""},
			},
			want: foldView{
				Status: "revoked", FirstSeenAt: "08:00", IssuedAt: "08:02", LastIssuedAt: "08:02", RevokedAt: "08:03",
				Warnings: []string{"delay_in_issuing@08:04"}, Errors: []string{"failed_to_issue@08:05"},
				Counts: [3]int{1, 0, 1}, LastEvent: "#6 failed_to_issue@08:05", Version: 6,
			},
		},
		{
			name: "delay_in_issuing while issued keeps the status",
			events: []foldE{
				{1, "issued", "08:00", ""},
				{2, "delay_in_issuing", "08:01", ""},
			},
			want: foldView{
				Status: "issued", IsIssued: true, FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:00",
				Warnings: []string{"delay_in_issuing@08:01"},
				Counts:   [3]int{1, 0, 0}, LastEvent: "#2 delay_in_issuing@08:01", Version: 2,
			},
		},
		// warnings are ordered by (created_at, code), not by code or by insertion.
		{
			name: "warnings ordered by created_at then code",
			events: []foldE{
				{1, "issued", "08:00", foldXBackup},
				{2, "delay_in_issuing", "08:01", ""},
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "9999", IsBackupCode: "true",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:00",
				Warnings: []string{"pulled_backup_access_code@08:00", "delay_in_issuing@08:01"},
				Counts:   [3]int{1, 0, 0}, LastEvent: "#2 delay_in_issuing@08:01", Version: 2,
			},
		},
		{
			name: "warnings with the same created_at ordered by code",
			events: []foldE{
				{1, "issued", "08:00", foldXBackup},
				{2, "delay_in_issuing", "08:00", ""}, // same occurred_at, later event id
			},
			want: foldView{
				Status: "issued", IsIssued: true, Mode: "code", Code: "9999", IsBackupCode: "true",
				FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:00",
				Warnings: []string{"delay_in_issuing@08:00", "pulled_backup_access_code@08:00"},
				Counts:   [3]int{1, 0, 0}, LastEvent: "#2 delay_in_issuing@08:00", Version: 2,
			},
		},
		// revoked_at is the latest revoke; issued_at the first issue.
		{
			name: "revoked_at is the latest revoke",
			events: []foldE{
				{1, "issued", "08:00", ""},
				{2, "revoked", "08:01", ""},
				{3, "reissued", "08:02", ""},
				{4, "revoked", "08:03", ""},
			},
			want: foldView{
				Status: "revoked", FirstSeenAt: "08:00", IssuedAt: "08:00", LastIssuedAt: "08:02", RevokedAt: "08:03",
				Counts: [3]int{1, 1, 2}, LastEvent: "#4 revoked@08:03", Version: 4,
			},
		},
		// access_grant_ids and access_grant_keys are sorted unions.
		{
			name: "grant ids and keys are sorted unions",
			events: []foldE{
				// Ids sort by their lowercase text, from the first byte on.
				{1, "created", "08:00", `{"access_grant_ids":["F0000000-0000-4000-8000-000000000001","b0000000-0000-4000-8000-0000000000ff"],"access_grant_keys":["z-key","Booking-9"]}`},
				{2, "issued", "08:01", `{"access_grant_ids":["a0000000-0000-4000-8000-00000000007A","f0000000-0000-4000-8000-000000000001"],"access_grant_keys":["booking-1","z-key"]}`},
				{3, "revoked", "08:02", `{"access_grant_ids":null,"access_grant_keys":[]}`},
			},
			want: foldView{
				Status: "revoked", CreatedAt: "08:00", FirstSeenAt: "08:00", IssuedAt: "08:01", LastIssuedAt: "08:01", RevokedAt: "08:02",
				GrantIDs: []string{
					"a0000000-0000-4000-8000-00000000007a",
					"b0000000-0000-4000-8000-0000000000ff",
					"f0000000-0000-4000-8000-000000000001",
				},
				GrantKeys: []string{"Booking-9", "booking-1", "z-key"},
				Counts:    [3]int{1, 0, 1}, LastEvent: "#3 revoked@08:02", Version: 3,
			},
		},
		// Times are printed in UTC with only the digits needed.
		{
			name: "times with offsets and fractions",
			events: []foldE{
				{1, "created", "2026-01-05T09:00:00.500+01:00", ""},
				{2, "issued", "2026-01-05T03:01:02.123456789-05:00", ""},
			},
			want: foldView{
				Status: "issued", IsIssued: true, CreatedAt: "08:00:00.5", FirstSeenAt: "08:00:00.5",
				IssuedAt: "08:01:02.123456789", LastIssuedAt: "08:01:02.123456789",
				Counts: [3]int{1, 0, 0}, LastEvent: "#2 issued@08:01:02.123456789", Version: 2,
			},
		},
	})
}
