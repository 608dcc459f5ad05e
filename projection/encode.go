package projection

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/amtrack/amtrack/domain"
)

// The read model's state columns, appended by hand: the bytes
// encoding/json gives for storedMethod and storedGrant, exactly (the
// columns of databases written before, by json.Marshal, must compare
// equal), without its reflection. (Built with GOEXPERIMENT=jsonv2,
// encoding/json writes invalid UTF-8 as the bytes of U+FFFD, not \ufffd:
// TestEncodeLikeJSON fails there.) A rebuild of 200k events spent 8 % of
// its CPU in json.Marshal (docs/performance.md). TestEncodeLikeJSON holds
// the two to the same bytes.

// appendMethod appends storedMethod{s, codeEventID} as JSON.
func appendMethod(b []byte, s *domain.AccessMethod, codeEventID *domain.ID) []byte {
	b = append(b, `{"access_method_id":`...)
	b = appendID(b, s.AccessMethodID)
	b = append(b, `,"workspace_id":`...)
	b = appendID(b, s.WorkspaceID)
	b = append(b, `,"status":`...)
	b = appendString(b, s.Status)
	b = append(b, `,"is_issued":`...)
	b = strconv.AppendBool(b, s.IsIssued)
	b = append(b, `,"mode":`...)
	b = appendStringPtr(b, s.Mode)
	b = append(b, `,"is_encoding_required":`...)
	b = strconv.AppendBool(b, s.IsEncodingRequired)
	b = append(b, `,"code":`...)
	b = appendStringPtr(b, s.Code)
	b = append(b, `,"code_redacted":`...)
	b = strconv.AppendBool(b, s.CodeRedacted)
	if s.CodeForgotten {
		b = append(b, `,"code_forgotten":true`...)
	}
	b = append(b, `,"is_backup_code":`...)
	if s.IsBackupCode == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendBool(b, *s.IsBackupCode)
	}
	b = append(b, `,"access_grant_ids":`...)
	b = appendList(b, s.AccessGrantIDs, appendID)
	b = append(b, `,"access_grant_keys":`...)
	b = appendList(b, s.AccessGrantKeys, appendString)
	b = append(b, `,"created_at":`...)
	b = appendTimePtr(b, s.CreatedAt)
	b = append(b, `,"first_seen_at":`...)
	b = appendTime(b, s.FirstSeenAt)
	b = append(b, `,"issued_at":`...)
	b = appendTimePtr(b, s.IssuedAt)
	b = append(b, `,"last_issued_at":`...)
	b = appendTimePtr(b, s.LastIssuedAt)
	b = append(b, `,"revoked_at":`...)
	b = appendTimePtr(b, s.RevokedAt)
	b = append(b, `,"deleted_at":`...)
	b = appendTimePtr(b, s.DeletedAt)
	b = append(b, `,"issue_count":`...)
	b = strconv.AppendInt(b, int64(s.IssueCount), 10)
	b = append(b, `,"reissue_count":`...)
	b = strconv.AppendInt(b, int64(s.ReissueCount), 10)
	b = append(b, `,"revoke_count":`...)
	b = strconv.AppendInt(b, int64(s.RevokeCount), 10)
	b = append(b, `,"warnings":`...)
	b = appendNotices(b, "warning_code", s.Warnings)
	b = append(b, `,"errors":`...)
	b = appendNotices(b, "error_code", s.Errors)
	b = append(b, `,"last_event":{"event_id":`...)
	b = appendID(b, s.LastEvent.EventID)
	b = append(b, `,"event_type":`...)
	b = appendString(b, s.LastEvent.EventType)
	b = append(b, `,"occurred_at":`...)
	b = appendTime(b, s.LastEvent.OccurredAt)
	b = append(b, `},"version":`...)
	b = strconv.AppendInt(b, int64(s.Version), 10)
	b = append(b, `,"anomalies":`...)
	b = appendList(b, s.Anomalies, func(b []byte, a domain.Anomaly) []byte {
		b = append(b, `{"event_id":`...)
		b = appendID(b, a.EventID)
		b = append(b, `,"event_type":`...)
		b = appendString(b, a.EventType)
		b = append(b, `,"reason":`...)
		b = appendString(b, a.Reason)
		return append(b, '}')
	})
	if codeEventID != nil {
		b = append(b, `,"code_event_id":`...)
		b = appendID(b, *codeEventID)
	}
	return append(b, '}')
}

// appendGrant appends storedGrant{g, its keys} as JSON, with
// access_methods as stored: empty.
func appendGrant(b []byte, g *domain.AccessGrant) []byte {
	b = append(b, `{"summary":{"access_grant_id":`...)
	b = appendID(b, g.AccessGrantID)
	b = append(b, `,"access_grant_keys":`...)
	b = appendList(b, g.AccessGrantKeys, appendString)
	b = append(b, `,"access_methods":[],"starts_at":`...)
	b = appendStringPtr(b, g.StartsAt)
	b = append(b, `,"ends_at":`...)
	b = appendStringPtr(b, g.EndsAt)
	b = append(b, `,"is_deleted":`...)
	b = strconv.AppendBool(b, g.IsDeleted)
	b = append(b, `,"deleted_at":`...)
	b = appendTimePtr(b, g.DeletedAt)
	b = append(b, `,"first_event_at":`...)
	b = appendTime(b, g.FirstEventAt)
	b = append(b, `,"last_event_at":`...)
	b = appendTime(b, g.LastEventAt)
	b = append(b, `,"event_count":`...)
	b = strconv.AppendInt(b, int64(g.EventCount), 10)
	b = append(b, '}')
	for _, k := range []struct {
		name string
		key  *domain.Key
	}{{"starts_key", g.StartsKey}, {"ends_key", g.EndsKey}, {"deleted_key", g.DeletedKey}} {
		if k.key == nil {
			continue
		}
		b = append(b, `,"`+k.name+`":{"OccurredAt":`...)
		b = strconv.AppendInt(b, k.key.OccurredAt, 10)
		b = append(b, `,"CreatedAt":`...)
		b = strconv.AppendInt(b, k.key.CreatedAt, 10)
		b = append(b, `,"EventID":`...)
		b = appendID(b, k.key.EventID)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendNotices appends warnings or errors, each as {codeName, created_at}.
func appendNotices[N domain.Warning | domain.ErrorNotice](b []byte, codeName string, ns []N) []byte {
	return appendList(b, ns, func(b []byte, n N) []byte {
		b = append(b, `{"`+codeName+`":`...)
		b = appendString(b, domain.Notice(n).Code)
		b = append(b, `,"created_at":`...)
		b = appendTime(b, domain.Notice(n).CreatedAt)
		return append(b, '}')
	})
}

// appendList appends xs as a JSON array of each appended by one, null when
// xs is nil (as encoding/json writes a nil slice).
func appendList[T any](b []byte, xs []T, one func([]byte, T) []byte) []byte {
	if xs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = one(b, x)
	}
	return append(b, ']')
}

func appendID(b []byte, id domain.ID) []byte {
	b = append(b, '"')
	b, _ = id.AppendText(b) // never fails
	return append(b, '"')
}

func appendStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

// appendTime appends t as domain.Time.MarshalText gives it, quoted.
func appendTime(b []byte, t domain.Time) []byte {
	b = append(b, '"')
	b = time.Unix(0, int64(t)).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendTimePtr(b []byte, t *domain.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	return appendTime(b, *t)
}

// appendString appends s as a JSON string the way encoding/json does:
// HTML-safe (<, > and & escaped), invalid UTF-8 as U+FFFD, U+2028 and
// U+2029 escaped.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
