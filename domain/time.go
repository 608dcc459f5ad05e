package domain

import (
	"math"
	"time"
)

// Time bounds: event times are kept as int64 Unix nanoseconds, which cover
// 1677-09-21 to 2262-04-11. Times outside are refused with a clear message.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// ParseTime parses an RFC 3339 date-time with a zone ("Z" or ±hh:mm) and 0-9
// fractional digits, the form Seam's schemas call "date-time". It is stricter
// than time.Parse (no missing zone, no out-of-range fields) and returns the
// time in UTC.
func ParseTime(s string) (time.Time, bool) {
	// YYYY-MM-DDTHH:MM:SS
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if rest != "" && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		frac := rest[1:n]
		if len(frac) == 0 || len(frac) > 9 {
			return time.Time{}, false
		}
		v, _ := digits(frac)
		for i := len(frac); i < 9; i++ {
			v *= 10
		}
		nsec = v
		rest = rest[n:]
	}
	offset := 0
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digits(rest[1:3])
		om, okm := digits(rest[4:6])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	// A leap second (:60) is normalised into the next minute, as time.Date does.
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).Add(-time.Duration(offset) * time.Second)
	return t, true
}

// InRange reports whether t can be stored as int64 Unix nanoseconds.
func InRange(t time.Time) bool { return !t.Before(minTime) && !t.After(maxTime) }

// FormatTime prints t in UTC as RFC 3339 with only the fractional digits
// needed (time.RFC3339Nano), the form of every time amtrack prints.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// FormatNanos prints Unix nanoseconds as FormatTime does.
func FormatNanos(ns int64) string { return FormatTime(time.Unix(0, ns)) }

func digits(s string) (int, bool) {
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
