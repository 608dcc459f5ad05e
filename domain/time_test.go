package domain_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
)

func TestParseTime(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the instant in UTC, RFC 3339 with 9 fractional digits
	}{
		{"whole seconds", "2025-01-01T00:00:00Z", "2025-01-01T00:00:00.000000000Z"},
		{"millis", "2025-01-01T00:00:00.000Z", "2025-01-01T00:00:00.000000000Z"},
		{"one digit", "2025-01-01T12:34:56.7Z", "2025-01-01T12:34:56.700000000Z"},
		{"six digits", "2025-06-16T16:56:00.123456Z", "2025-06-16T16:56:00.123456000Z"},
		{"nine digits", "2025-06-16T16:56:00.123456789Z", "2025-06-16T16:56:00.123456789Z"},
		{"lowercase t and z", "2025-06-16t16:56:00.5z", "2025-06-16T16:56:00.500000000Z"},
		{"positive offset", "2025-01-01T05:30:00+05:30", "2025-01-01T00:00:00.000000000Z"},
		{"positive offset crosses midnight", "2025-01-01T01:00:00.25+05:30", "2024-12-31T19:30:00.250000000Z"},
		{"negative offset crosses midnight", "2024-12-31T20:00:00-08:00", "2025-01-01T04:00:00.000000000Z"},
		{"zero offset", "2025-01-01T00:00:00+00:00", "2025-01-01T00:00:00.000000000Z"},
		{"minus zero offset", "2025-01-01T00:00:00-00:00", "2025-01-01T00:00:00.000000000Z"},
		{"max offset", "2025-01-01T00:00:00+23:59", "2024-12-31T00:01:00.000000000Z"},
		{"leap day", "2024-02-29T23:59:59Z", "2024-02-29T23:59:59.000000000Z"},
		{"leap day of a 400 year", "2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000000000Z"},
		{"end of month 30", "2025-04-30T00:00:00Z", "2025-04-30T00:00:00.000000000Z"},
		{"end of year", "2025-12-31T23:59:59.999999999Z", "2025-12-31T23:59:59.999999999Z"},
		{"leap second normalised", "2016-12-31T23:59:60Z", "2017-01-01T00:00:00.000000000Z"},
		{"year 1", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := domain.ParseTime(tt.in)
			require.True(t, ok, "ParseTime(%q) refused", tt.in)
			assert.Equal(t, tt.want, got.Format("2006-01-02T15:04:05.000000000Z07:00"))
			assert.Equal(t, time.UTC, got.Location(), "ParseTime(%q) must return UTC", tt.in)
		})
	}
}

func TestParseTimeRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"date only", "2025-01-01"},
		{"no zone", "2025-01-01T00:00:00"},
		{"no zone with fraction", "2025-01-01T00:00:00.123"},
		{"month 13", "2025-13-01T00:00:00Z"},
		{"month 0", "2025-00-01T00:00:00Z"},
		{"day 32", "2025-01-32T00:00:00Z"},
		{"day 0", "2025-01-00T00:00:00Z"},
		{"feb 30", "2024-02-30T00:00:00Z"},
		{"feb 29 of a common year", "2025-02-29T00:00:00Z"},
		{"feb 29 of a century", "1900-02-29T00:00:00Z"},
		{"apr 31", "2025-04-31T00:00:00Z"},
		{"hour 24", "2025-01-01T24:00:00Z"},
		{"minute 60", "2025-01-01T00:60:00Z"},
		{"second 61", "2025-01-01T00:00:61Z"},
		{"ten fractional digits", "2025-01-01T00:00:00.1234567890Z"},
		{"empty fraction", "2025-01-01T12:00:00.Z"},
		{"comma fraction", "2025-01-01T12:00:00,5Z"},
		{"space instead of T", "2025-01-01 00:00:00Z"},
		{"offset +25:00", "2025-01-01T00:00:00+25:00"},
		{"offset +24:00", "2025-01-01T00:00:00+24:00"},
		{"offset minutes 60", "2025-01-01T00:00:00+05:60"},
		{"offset without colon", "2025-01-01T00:00:00+0530"},
		{"offset hours only", "2025-01-01T00:00:00+05"},
		{"offset with seconds", "2025-01-01T00:00:00+05:30:00"},
		{"zone name", "2025-01-01T00:00:00UTC"},
		{"Z and offset", "2025-01-01T00:00:00Z+00:00"},
		{"trailing space", "2025-01-01T00:00:00Z "},
		{"leading space", " 2025-01-01T00:00:00Z"},
		{"single digit month", "2025-1-01T00:00:00Z"},
		{"slashes", "2025/01/01T00:00:00Z"},
		{"negative year", "-025-01-01T00:00:00Z"},
		{"signed month", "2025-+1-01T00:00:00Z"},
		{"non-ascii digit", "2025-01-0\u0661T00:00:00Z"},
		{"unix seconds", "1735689600"},
		{"rfc 1123", "Wed, 01 Jan 2025 00:00:00 GMT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := domain.ParseTime(tt.in)
			assert.False(t, ok, "ParseTime(%q) accepted, got %s", tt.in, got)
		})
	}
}

// TestParseTimeMatchesTimeParse checks that ParseTime agrees with the
// standard library on inputs both accept.
func TestParseTimeMatchesTimeParse(t *testing.T) {
	for _, s := range []string{
		"2025-01-01T00:00:00Z",
		"2025-06-16T16:56:00.000000Z",
		"2025-06-16T16:56:00.123456789+05:30",
		"1999-12-31T23:59:59.5-12:00",
		"2262-04-11T23:47:16.854775807Z",
		"1677-09-21T00:12:43.145224192Z",
	} {
		got, ok := domain.ParseTime(s)
		require.True(t, ok, "ParseTime(%q) refused", s)
		want, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		assert.True(t, got.Equal(want), "ParseTime(%q) = %s, want %s", s, got, want)
	}
}

func TestTimeInRange(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"1677-09-21T00:12:43.145224191Z", false},
		{"1677-09-21T00:12:43.145224192Z", true},
		{"1970-01-01T00:00:00Z", true},
		{"2262-04-11T23:47:16.854775807Z", true},
		{"2262-04-11T23:47:16.854775808Z", false},
		{"0001-01-01T00:00:00Z", false},
		{"9999-12-31T23:59:59Z", false},
	}
	for _, tt := range tests {
		tm, ok := domain.ParseTime(tt.in)
		require.True(t, ok, "ParseTime(%q) refused", tt.in)
		assert.Equal(t, tt.want, domain.InRange(tm), "InRange(%s)", tt.in)
	}
}

func TestFormatTime(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+30*60)
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"utc whole seconds", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), "2025-01-01T00:00:00Z"},
		{"trailing zeros trimmed", time.Date(2025, 1, 1, 0, 0, 0, 100_000_000, time.UTC), "2025-01-01T00:00:00.1Z"},
		{"micros", time.Date(2025, 6, 16, 16, 56, 0, 123_456_000, time.UTC), "2025-06-16T16:56:00.123456Z"},
		{"nanos", time.Date(2025, 6, 16, 16, 56, 0, 123_456_789, time.UTC), "2025-06-16T16:56:00.123456789Z"},
		{"converted to utc", time.Date(2025, 1, 1, 5, 30, 0, 0, ist), "2025-01-01T00:00:00Z"},
		{"local zone converted", time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("X", -8*3600)), "2025-01-01T08:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, domain.FormatTime(tt.in))
		})
	}
}

func TestFormatNanos(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "1970-01-01T00:00:00Z"},
		{1, "1970-01-01T00:00:00.000000001Z"},
		{-1, "1969-12-31T23:59:59.999999999Z"},
		{1735689600_500_000_000, "2025-01-01T00:00:00.5Z"},
		{math.MaxInt64, "2262-04-11T23:47:16.854775807Z"},
		{math.MinInt64, "1677-09-21T00:12:43.145224192Z"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, domain.FormatNanos(tt.in), "FormatNanos(%d)", tt.in)
	}
}

// TestFormatTimeRoundTrip checks that what FormatTime prints ParseTime reads
// back to the same nanosecond.
func TestFormatTimeRoundTrip(t *testing.T) {
	for _, ns := range []int64{
		0, 1, -1, 999_999_999, 1_000_000_000, 1735689600_123_456_789,
		math.MaxInt64, math.MinInt64, math.MaxInt64 / 3, math.MinInt64 / 7,
	} {
		s := domain.FormatNanos(ns)
		got, ok := domain.ParseTime(s)
		require.True(t, ok, "ParseTime(FormatNanos(%d) = %q) refused", ns, s)
		assert.Equal(t, ns, got.UnixNano(), "ParseTime(%q)", s)
	}
}
