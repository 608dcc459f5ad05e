package domain

import (
	"encoding/json"
	"sort"
	"time"
)

// Access-method statuses (docs/fold.md).
const (
	StatusCreated          = "created"
	StatusEncodingRequired = "encoding_required"
	StatusIssued           = "issued"
	StatusRevoked          = "revoked"
	StatusDeleted          = "deleted"
)

// Modes of an access method.
const (
	ModeCard = "card"
	ModeCode = "code"
)

// Warning, error and anomaly codes.
const (
	WarningDelayInIssuing   = "delay_in_issuing"
	WarningPulledBackupCode = "pulled_backup_access_code"
	ErrorFailedToIssue      = "failed_to_issue"

	AnomalyAfterDeleted        = "after_deleted"
	AnomalyDuplicateCreated    = "duplicate_created"
	AnomalyRevokedBeforeIssue  = "revoked_before_issue"
	AnomalyReissuedBeforeIssue = "reissued_before_issue"
)

// Time is an instant in Unix nanoseconds that prints as FormatTime does.
type Time int64

// MarshalText writes the time as an RFC 3339 string in UTC (encoding/json
// quotes it).
func (t Time) MarshalText() ([]byte, error) {
	return time.Unix(0, int64(t)).UTC().AppendFormat(nil, time.RFC3339Nano), nil
}

// UnmarshalText reads an RFC 3339 string.
func (t *Time) UnmarshalText(b []byte) error {
	v, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return err
	}
	*t = Time(v.UnixNano())
	return nil
}

// Notice is a warning or an error on an access method.
type Notice struct {
	Code      string `json:"-"`
	CreatedAt Time   `json:"created_at"`
}

// Warning is a Notice printed as {warning_code, created_at}.
type Warning Notice

// MarshalJSON prints {warning_code, created_at}.
func (w Warning) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		WarningCode string `json:"warning_code"`
		CreatedAt   Time   `json:"created_at"`
	}{w.Code, w.CreatedAt})
}

// UnmarshalJSON reads {warning_code, created_at}.
func (w *Warning) UnmarshalJSON(b []byte) error {
	var v struct {
		WarningCode string `json:"warning_code"`
		CreatedAt   Time   `json:"created_at"`
	}
	err := json.Unmarshal(b, &v)
	*w = Warning{Code: v.WarningCode, CreatedAt: v.CreatedAt}
	return err
}

// ErrorNotice is a Notice printed as {error_code, created_at}.
type ErrorNotice Notice

// MarshalJSON prints {error_code, created_at}.
func (n ErrorNotice) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ErrorCode string `json:"error_code"`
		CreatedAt Time   `json:"created_at"`
	}{n.Code, n.CreatedAt})
}

// UnmarshalJSON reads {error_code, created_at}.
func (n *ErrorNotice) UnmarshalJSON(b []byte) error {
	var v struct {
		ErrorCode string `json:"error_code"`
		CreatedAt Time   `json:"created_at"`
	}
	err := json.Unmarshal(b, &v)
	*n = ErrorNotice{Code: v.ErrorCode, CreatedAt: v.CreatedAt}
	return err
}

// EventRef names an event: the state's last_event.
type EventRef struct {
	EventID    ID     `json:"event_id"`
	EventType  string `json:"event_type"`
	OccurredAt Time   `json:"occurred_at"`
}

// Anomaly records an event that broke the lifecycle.
type Anomaly struct {
	EventID   ID     `json:"event_id"`
	EventType string `json:"event_type"`
	Reason    string `json:"reason"`
}

// AccessMethod is the state of one access method (docs/fold.md), folded from its
// events in fold order. Field names follow Seam's access_method object.
type AccessMethod struct {
	AccessMethodID     ID      `json:"access_method_id"`
	WorkspaceID        ID      `json:"workspace_id"`
	Status             string  `json:"status"`
	IsIssued           bool    `json:"is_issued"`
	Mode               *string `json:"mode"`
	IsEncodingRequired bool    `json:"is_encoding_required"`
	Code               *string `json:"code"`
	CodeRedacted       bool    `json:"code_redacted"`
	// CodeForgotten is set, on revealing, when the code was destroyed
	// with its access method's key (amtrack forget); never stored.
	CodeForgotten   bool          `json:"code_forgotten,omitempty"`
	IsBackupCode    *bool         `json:"is_backup_code"`
	AccessGrantIDs  []ID          `json:"access_grant_ids"`
	AccessGrantKeys []string      `json:"access_grant_keys"`
	CreatedAt       *Time         `json:"created_at"`
	FirstSeenAt     Time          `json:"first_seen_at"`
	IssuedAt        *Time         `json:"issued_at"`
	LastIssuedAt    *Time         `json:"last_issued_at"`
	RevokedAt       *Time         `json:"revoked_at"`
	DeletedAt       *Time         `json:"deleted_at"`
	IssueCount      int           `json:"issue_count"`
	ReissueCount    int           `json:"reissue_count"`
	RevokeCount     int           `json:"revoke_count"`
	Warnings        []Warning     `json:"warnings"`
	Errors          []ErrorNotice `json:"errors"`
	LastEvent       EventRef      `json:"last_event"`
	Version         int           `json:"version"`
	Anomalies       []Anomaly     `json:"anomalies"`

	// LastKey is the fold-order key of the last event folded.
	LastKey Key `json:"-"`
	// CodeEventID names the event that carried the current code (nil
	// before any code): the read model stores this reference, never the
	// code, which is revealed by opening that event in the log.
	CodeEventID *ID `json:"-"`
}

// Folds reports whether events of type t fold into access-method state.
func Folds(t string) bool {
	switch t {
	case TypeCreated, TypeIssued, TypeCardEncodingRequired, TypeReissued,
		TypeRevoked, TypeDeleted, TypeDelayInIssuing, TypeFailedToIssue:
		return true
	}
	return false
}

// NewAccessMethod returns the state before any event of the method.
func NewAccessMethod(id, workspace ID) *AccessMethod {
	return &AccessMethod{
		AccessMethodID:  id,
		WorkspaceID:     workspace,
		Status:          StatusCreated,
		AccessGrantIDs:  []ID{},
		AccessGrantKeys: []string{},
		Warnings:        []Warning{},
		Errors:          []ErrorNotice{},
		Anomalies:       []Anomaly{},
	}
}

// FoldAccessMethod folds events (already in fold order) into a new state;
// it returns nil when none of them folds.
func FoldAccessMethod(events []*Event) *AccessMethod {
	var s *AccessMethod
	for _, e := range events {
		if !Folds(e.Type) {
			continue
		}
		if s == nil {
			s = NewAccessMethod(e.AccessMethodID, e.WorkspaceID)
		}
		s.Apply(e)
	}
	return s
}

// Apply folds one event into s (docs/fold.md). Events must be applied in
// fold order; events whose type does not fold are ignored.
func (s *AccessMethod) Apply(e *Event) {
	if !Folds(e.Type) {
		return
	}
	at := Time(e.OccurredAt)
	if s.Version == 0 {
		s.FirstSeenAt = at
	}
	s.Version++
	s.LastEvent = EventRef{EventID: e.ID, EventType: e.Type, OccurredAt: at}
	s.LastKey = e.Key()

	// Anomalies that make the event change nothing else.
	switch {
	case s.Status == StatusDeleted:
		s.anomaly(e, AnomalyAfterDeleted)
		return
	case e.Type == TypeCreated && s.CreatedAt != nil:
		s.anomaly(e, AnomalyDuplicateCreated)
		return
	}
	issuedBefore := s.IssueCount+s.ReissueCount > 0
	s.AccessGrantIDs = unionIDs(s.AccessGrantIDs, e.AccessGrantIDs)
	s.AccessGrantKeys = unionStrings(s.AccessGrantKeys, e.AccessGrantKeys)

	switch e.Type {
	case TypeCreated:
		s.Status = StatusCreated
		s.CreatedAt = &at
	case TypeCardEncodingRequired:
		s.Status = StatusEncodingRequired
		s.IsEncodingRequired = true
		s.Mode = ptr(ModeCard)
	case TypeIssued, TypeReissued:
		if e.Type == TypeIssued {
			s.IssueCount++
		} else {
			if !issuedBefore {
				s.anomaly(e, AnomalyReissuedBeforeIssue)
			}
			s.ReissueCount++
		}
		s.Status = StatusIssued
		if s.IssuedAt == nil {
			s.IssuedAt = &at
		}
		s.LastIssuedAt = &at
		s.IsEncodingRequired = false
		s.Warnings = removeNotice(s.Warnings, WarningDelayInIssuing)
		s.Errors = removeNotice(s.Errors, ErrorFailedToIssue)
		if e.CarriesCode() {
			s.Code = clonePtr(e.Code)
			s.CodeEventID = ptr(e.ID)
			backup := e.IsBackupCode != nil && *e.IsBackupCode
			s.IsBackupCode = &backup
			if s.Mode == nil {
				s.Mode = ptr(ModeCode)
			}
			if backup {
				s.Warnings = addNotice(s.Warnings, WarningPulledBackupCode, at)
			} else {
				s.Warnings = removeNotice(s.Warnings, WarningPulledBackupCode)
			}
		}
	case TypeRevoked:
		if !issuedBefore {
			s.anomaly(e, AnomalyRevokedBeforeIssue)
		}
		s.Status = StatusRevoked
		s.RevokedAt = &at
		s.RevokeCount++
	case TypeDelayInIssuing:
		s.Warnings = addNotice(s.Warnings, WarningDelayInIssuing, at)
	case TypeFailedToIssue:
		s.Errors = addNotice(s.Errors, ErrorFailedToIssue, at)
	case TypeDeleted:
		s.Status = StatusDeleted
		s.DeletedAt = &at
	}
	s.IsIssued = s.Status == StatusIssued
}

func (s *AccessMethod) anomaly(e *Event, reason string) {
	s.Anomalies = append(s.Anomalies, Anomaly{EventID: e.ID, EventType: e.Type, Reason: reason})
}

// Redacted returns a copy of s with the PIN code hidden (docs/api.md): code is
// null and code_redacted true when a code exists.
func (s *AccessMethod) Redacted() *AccessMethod {
	c := *s
	if c.HasCode() {
		c.Code = nil
		c.CodeRedacted = true
	}
	return &c
}

// HasCode reports whether the method has a code, whether or not its value
// is at hand (Code may be nil when it is sealed in the log: CodeEventID
// names the event that carries it).
func (s *AccessMethod) HasCode() bool { return s.Code != nil || s.CodeEventID != nil }

// notice is implemented by Warning and ErrorNotice.
type notice interface {
	~struct {
		Code      string `json:"-"`
		CreatedAt Time   `json:"created_at"`
	}
}

// addNotice adds code (raised at) unless present, keeping (created_at, code) order.
func addNotice[N notice](list []N, code string, at Time) []N {
	for _, n := range list {
		if Notice(n).Code == code {
			return list
		}
	}
	list = append(list, N(Notice{Code: code, CreatedAt: at}))
	sort.Slice(list, func(i, j int) bool {
		a, b := Notice(list[i]), Notice(list[j])
		if a.CreatedAt != b.CreatedAt {
			return a.CreatedAt < b.CreatedAt
		}
		return a.Code < b.Code
	})
	return list
}

func removeNotice[N notice](list []N, code string) []N {
	out := make([]N, 0, len(list))
	for _, n := range list {
		if Notice(n).Code != code {
			out = append(out, n)
		}
	}
	return out
}

// unionIDs adds ids to the sorted set set.
func unionIDs(set, ids []ID) []ID {
	for _, id := range ids {
		i := sort.Search(len(set), func(i int) bool { return compareID(set[i], id) >= 0 })
		if i < len(set) && set[i] == id {
			continue
		}
		set = append(set, ID{})
		copy(set[i+1:], set[i:])
		set[i] = id
	}
	return set
}

// unionStrings adds values to the sorted set set.
func unionStrings(set, values []string) []string {
	for _, v := range values {
		i := sort.SearchStrings(set, v)
		if i < len(set) && set[i] == v {
			continue
		}
		set = append(set, "")
		copy(set[i+1:], set[i:])
		set[i] = v
	}
	return set
}

func compareID(a, b ID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func ptr[T any](v T) *T { return &v }

// Clone returns a deep copy of s.
func (s *AccessMethod) Clone() *AccessMethod {
	c := *s
	c.Mode = clonePtr(s.Mode)
	c.Code = clonePtr(s.Code)
	c.CodeEventID = clonePtr(s.CodeEventID)
	c.IsBackupCode = clonePtr(s.IsBackupCode)
	c.CreatedAt = clonePtr(s.CreatedAt)
	c.IssuedAt = clonePtr(s.IssuedAt)
	c.LastIssuedAt = clonePtr(s.LastIssuedAt)
	c.RevokedAt = clonePtr(s.RevokedAt)
	c.DeletedAt = clonePtr(s.DeletedAt)
	c.AccessGrantIDs = append([]ID{}, s.AccessGrantIDs...)
	c.AccessGrantKeys = append([]string{}, s.AccessGrantKeys...)
	c.Warnings = append([]Warning{}, s.Warnings...)
	c.Errors = append([]ErrorNotice{}, s.Errors...)
	c.Anomalies = append([]Anomaly{}, s.Anomalies...)
	return &c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
