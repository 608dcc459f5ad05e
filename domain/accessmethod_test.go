package domain_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
)

// Ids of the fold tests. Payloads may spell them in uppercase; output is lowercase.
const (
	foldWorkspace = "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"
	foldMethod    = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"
	foldGrantA    = "a0000000-0000-4000-8000-00000000000a"
	foldGrantB    = "b0000000-0000-4000-8000-00000000000b"

	// foldIDPrefix starts every event id of these tests: event n is foldID(n).
	foldIDPrefix = "e0000000-0000-4000-8000-"
	// foldDay is the day every clock of these tests falls on.
	foldDay = "2026-01-05T"
)

// foldID returns the id of event n.
func foldID(n int) string { return fmt.Sprintf("%s%012d", foldIDPrefix, n) }

// foldTime expands a clock ("08:01" or "08:01:02.5") to an RFC 3339 time in
// UTC on foldDay; a full time (containing a "T") is returned unchanged.
func foldTime(clock string) string {
	if strings.Contains(clock, "T") {
		return clock
	}
	if len(clock) == len("08:01") {
		clock += ":00"
	}
	return foldDay + clock + "Z"
}

// foldE describes one event of a scenario.
type foldE struct {
	n   int    // the event id is foldID(n)
	typ string // "issued" means access_method.issued; a type with a dot is kept
	at  string // occurred_at (and created_at), as foldTime reads it
	x   string // a JSON object whose members are set over the defaults ("" for none)
}

func foldType(typ string) string {
	if strings.Contains(typ, ".") {
		return typ
	}
	return "access_method." + typ
}

// foldPayload returns the JSON text of the event d describes.
func foldPayload(tb testing.TB, d foldE) []byte {
	tb.Helper()
	typ := foldType(d.typ)
	m := map[string]any{
		"event_id":     foldID(d.n),
		"event_type":   typ,
		"workspace_id": foldWorkspace,
		"created_at":   foldTime(d.at),
		"occurred_at":  foldTime(d.at),
	}
	switch {
	case strings.HasPrefix(typ, "access_method."):
		m["access_method_id"] = foldMethod
	case strings.HasPrefix(typ, "access_grant."):
		m["access_grant_id"] = foldGrantA
	}
	if d.x != "" {
		var extra map[string]any
		require.NoError(tb, json.Unmarshal([]byte(d.x), &extra), "extra members of event #%d", d.n)
		for k, v := range extra {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	require.NoError(tb, err)
	return b
}

// foldEvent parses the event d describes.
func foldEvent(tb testing.TB, d foldE) *domain.Event {
	tb.Helper()
	b := foldPayload(tb, d)
	e, err := domain.ParseEvent(b)
	require.NoError(tb, err, "payload %s", b)
	return e
}

// foldEvents parses the events ds describe, in the order given.
func foldEvents(tb testing.TB, ds ...foldE) []*domain.Event {
	tb.Helper()
	out := make([]*domain.Event, len(ds))
	for i, d := range ds {
		out[i] = foldEvent(tb, d)
	}
	return out
}

// foldRun folds the events ds describe in the order given, both with
// FoldAccessMethod and with NewAccessMethod + Apply, and checks that the two
// agree.
func foldRun(tb testing.TB, ds ...foldE) *domain.AccessMethod {
	tb.Helper()
	events := foldEvents(tb, ds...)
	got := domain.FoldAccessMethod(events)
	require.NotNil(tb, got, "FoldAccessMethod returned nil")

	byApply := domain.NewAccessMethod(domain.MustParseID(foldMethod), domain.MustParseID(foldWorkspace))
	for _, e := range events {
		byApply.Apply(e)
	}
	require.Equal(tb, byApply, got, "NewAccessMethod+Apply (want) and FoldAccessMethod (got) disagree")
	return got
}

// foldSorted returns a copy of events sorted by fold key.
func foldSorted(events []*domain.Event) []*domain.Event {
	out := slices.Clone(events)
	slices.SortFunc(out, func(a, b *domain.Event) int { return a.Key().Compare(b.Key()) })
	return out
}

// foldJSON marshals v.
func foldJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	require.NoError(tb, err)
	return string(b)
}

// foldCompact compacts an indented golden JSON text, keeping key order.
func foldCompact(tb testing.TB, s string) string {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, json.Compact(&buf, []byte(s)))
	return buf.String()
}

// foldView is an AccessMethod written compactly for table tests: a null is
// "" (or a nil list), a time on foldDay is its clock ("08:01",
// "08:00:00.5"), an event id foldID(n) is "#n", an access_method.* type
// loses its prefix. It has every field of the state but LastKey.
type foldView struct {
	Status             string
	IsIssued           bool
	Mode               string
	IsEncodingRequired bool
	Code               string
	CodeRedacted       bool
	IsBackupCode       string // "", "true" or "false"
	GrantIDs           []string
	GrantKeys          []string
	CreatedAt          string
	FirstSeenAt        string
	IssuedAt           string
	LastIssuedAt       string
	RevokedAt          string
	DeletedAt          string
	Counts             [3]int   // issue_count, reissue_count, revoke_count
	Warnings           []string // "code@clock"
	Errors             []string // "code@clock"
	LastEvent          string   // "#n type@clock"
	Version            int
	Anomalies          []string // "#n type reason"
}

func foldClock(t domain.Time) string {
	s := domain.FormatNanos(int64(t))
	if !strings.HasPrefix(s, foldDay) || !strings.HasSuffix(s, "Z") {
		return s
	}
	c := strings.TrimSuffix(strings.TrimPrefix(s, foldDay), "Z")
	if len(c) == len("08:01:00") && strings.HasSuffix(c, ":00") {
		c = c[:len("08:01")]
	}
	return c
}

func foldClockPtr(t *domain.Time) string {
	if t == nil {
		return ""
	}
	return foldClock(*t)
}

func foldShortID(id domain.ID) string {
	s := id.String()
	if rest, ok := strings.CutPrefix(s, foldIDPrefix); ok {
		if n, err := strconv.Atoi(rest); err == nil {
			return "#" + strconv.Itoa(n)
		}
	}
	return s
}

func foldShortType(t string) string { return strings.TrimPrefix(t, "access_method.") }

func foldStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// foldViewOf writes s as a foldView.
func foldViewOf(s *domain.AccessMethod) foldView {
	v := foldView{
		Status:             s.Status,
		IsIssued:           s.IsIssued,
		Mode:               foldStr(s.Mode),
		IsEncodingRequired: s.IsEncodingRequired,
		Code:               foldStr(s.Code),
		CodeRedacted:       s.CodeRedacted,
		CreatedAt:          foldClockPtr(s.CreatedAt),
		FirstSeenAt:        foldClock(s.FirstSeenAt),
		IssuedAt:           foldClockPtr(s.IssuedAt),
		LastIssuedAt:       foldClockPtr(s.LastIssuedAt),
		RevokedAt:          foldClockPtr(s.RevokedAt),
		DeletedAt:          foldClockPtr(s.DeletedAt),
		Counts:             [3]int{s.IssueCount, s.ReissueCount, s.RevokeCount},
		LastEvent:          fmt.Sprintf("%s %s@%s", foldShortID(s.LastEvent.EventID), foldShortType(s.LastEvent.EventType), foldClock(s.LastEvent.OccurredAt)),
		Version:            s.Version,
	}
	if s.IsBackupCode != nil {
		v.IsBackupCode = strconv.FormatBool(*s.IsBackupCode)
	}
	for _, id := range s.AccessGrantIDs {
		v.GrantIDs = append(v.GrantIDs, id.String())
	}
	v.GrantKeys = append(v.GrantKeys, s.AccessGrantKeys...)
	for _, w := range s.Warnings {
		v.Warnings = append(v.Warnings, w.Code+"@"+foldClock(w.CreatedAt))
	}
	for _, e := range s.Errors {
		v.Errors = append(v.Errors, e.Code+"@"+foldClock(e.CreatedAt))
	}
	for _, a := range s.Anomalies {
		v.Anomalies = append(v.Anomalies, fmt.Sprintf("%s %s %s", foldShortID(a.EventID), foldShortType(a.EventType), a.Reason))
	}
	return v
}

// foldCase is one scenario of a table test and the state it must fold to.
type foldCase struct {
	name   string
	events []foldE
	want   foldView
}

// foldCheck folds each case in the order given and compares the whole state.
func foldCheck(t *testing.T, cases []foldCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s := foldRun(t, tt.events...)
			got := foldViewOf(s)
			assert.Equal(t, tt.want, got, "state after %d events", len(tt.events))

			// The identity fields and the lists are never null.
			assert.Equal(t, foldMethod, s.AccessMethodID.String(), "access_method_id")
			assert.Equal(t, foldWorkspace, s.WorkspaceID.String(), "workspace_id")
			assert.NotNil(t, s.AccessGrantIDs, "access_grant_ids")
			assert.NotNil(t, s.AccessGrantKeys, "access_grant_keys")
			assert.NotNil(t, s.Warnings, "warnings")
			assert.NotNil(t, s.Errors, "errors")
			assert.NotNil(t, s.Anomalies, "anomalies")

			// is_issued is status == issued, whatever the path.
			assert.Equal(t, s.Status == domain.StatusIssued, s.IsIssued, "is_issued against status %q", s.Status)
			// pulled_backup_access_code is present exactly while is_backup_code is true.
			backup := s.IsBackupCode != nil && *s.IsBackupCode
			hasPulled := slices.ContainsFunc(s.Warnings, func(w domain.Warning) bool { return w.Code == domain.WarningPulledBackupCode })
			assert.Equal(t, backup, hasPulled, "pulled_backup_access_code warning against is_backup_code")

			// LastKey is the key of the last folded event.
			var last foldE
			for _, d := range tt.events {
				if domain.Folds(foldType(d.typ)) {
					last = d
				}
			}
			assert.Equal(t, foldEvent(t, last).Key(), s.LastKey, "LastKey")
		})
	}
}

// Grant members of payloads.
const (
	foldXGrantA  = `{"access_grant_ids":["a0000000-0000-4000-8000-00000000000a"],"access_grant_keys":["booking-1"]}`
	foldXGrantB  = `{"access_grant_ids":["b0000000-0000-4000-8000-00000000000b"],"access_grant_keys":["booking-2"]}`
	foldXPin     = `{"code":"1234"}`
	foldXPin2    = `{"code":"5678"}`
	foldXBackup  = `{"code":"9999","is_backup_code":true}`
	foldXNoCode  = `{"is_backup_code":true}`
	foldXPinFals = `{"code":"1234","is_backup_code":false}`
)

// TestAccessMethodTransitions has one case per row of the transition table
// (SPEC §3.3), each reached from a state where every effect of the row shows.
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

// TestAccessMethodRules covers the rules under the transition table (SPEC §3.3).
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

// TestAccessMethodAnomalies has one case per anomaly (SPEC §3.4).
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
// fold leave the state alone (SPEC §1.3).
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

// TestAccessMethodJSON checks the output form (SPEC §3.2, §3.7): field order,
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

// TestAccessMethodRedacted checks Redacted (SPEC §5): code null and
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

// TestAccessMethodJSONRoundTrip checks Unmarshal(Marshal(s)) == s, but for LastKey.
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

			want := *s
			want.LastKey = domain.Key{}
			assert.Equal(t, want, got)

			again, err := json.Marshal(&got)
			require.NoError(t, err)
			assert.Equal(t, string(b), string(again))
		})
	}
}

// foldScenarios are event sets given in an arrival order that is not their fold order.
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
// the same JSON whatever order they arrived in (SPEC §3.1).
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
