package domain_test

import (
	"bytes"
	"encoding/json"
	"fmt"
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
