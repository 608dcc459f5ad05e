package domain_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
)

func TestKeyCompare(t *testing.T) {
	a := domain.MustParseID("00000000-0000-0000-0000-00000000000a")
	b := domain.MustParseID("00000000-0000-0000-0000-00000000000b")
	nine := domain.MustParseID("99999999-9999-9999-9999-999999999999")
	upperA := domain.MustParseID("AAAAAAAA-0000-0000-0000-000000000000")
	tests := []struct {
		name string
		k, o domain.Key
		want int
	}{
		{"equal", domain.Key{OccurredAt: 5, CreatedAt: 5, EventID: a}, domain.Key{OccurredAt: 5, CreatedAt: 5, EventID: a}, 0},
		{"zero keys", domain.Key{}, domain.Key{}, 0},
		{"occurred_at first", domain.Key{OccurredAt: 1, CreatedAt: 9, EventID: b}, domain.Key{OccurredAt: 2, CreatedAt: 0, EventID: a}, -1},
		{"occurred_at later", domain.Key{OccurredAt: 3, CreatedAt: 0, EventID: a}, domain.Key{OccurredAt: 2, CreatedAt: 9, EventID: b}, 1},
		{"then created_at", domain.Key{OccurredAt: 2, CreatedAt: 1, EventID: b}, domain.Key{OccurredAt: 2, CreatedAt: 2, EventID: a}, -1},
		{"then created_at later", domain.Key{OccurredAt: 2, CreatedAt: 3, EventID: a}, domain.Key{OccurredAt: 2, CreatedAt: 2, EventID: b}, 1},
		{"then event_id", domain.Key{OccurredAt: 2, CreatedAt: 2, EventID: a}, domain.Key{OccurredAt: 2, CreatedAt: 2, EventID: b}, -1},
		{"event_id later", domain.Key{EventID: b}, domain.Key{EventID: a}, 1},
		{"event_id as lowercase text: 9 before a", domain.Key{EventID: nine}, domain.Key{EventID: upperA}, -1},
		{"extreme times do not overflow", domain.Key{OccurredAt: math.MinInt64}, domain.Key{OccurredAt: math.MaxInt64}, -1},
		{"extreme times do not overflow reversed", domain.Key{CreatedAt: math.MaxInt64}, domain.Key{CreatedAt: math.MinInt64}, 1},
		{"negative times", domain.Key{OccurredAt: -2}, domain.Key{OccurredAt: -1}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.k.Compare(tt.o))
			assert.Equal(t, -tt.want, tt.o.Compare(tt.k), "reversed")
		})
	}
}

// TestKeyCompareSortsLikeLowercaseText checks that sorting keys that differ
// only in event_id gives the order of their lowercase ids as strings.
func TestKeyCompareSortsLikeLowercaseText(t *testing.T) {
	ids := []string{
		"FFFFFFFF-0000-0000-0000-000000000000",
		"0a000000-0000-0000-0000-000000000000",
		"A0000000-0000-0000-0000-000000000000",
		"09000000-0000-0000-0000-000000000000",
		"0A000000-0000-0000-0000-000000000001",
		"00000000-0000-0000-0000-000000000000",
	}
	var keys []domain.Key
	var want []string
	for _, s := range ids {
		keys = append(keys, domain.Key{OccurredAt: 7, CreatedAt: 7, EventID: domain.MustParseID(s)})
		want = append(want, strings.ToLower(s))
	}
	slices.SortFunc(keys, domain.Key.Compare)
	slices.Sort(want)
	var got []string
	for _, k := range keys {
		got = append(got, k.EventID.String())
	}
	assert.Equal(t, want, got)
}

func TestEventKey(t *testing.T) {
	e, err := domain.ParseEvent(mk(domain.TypeIssued, nil))
	require.NoError(t, err)
	want := domain.Key{
		OccurredAt: mustNanos(t, "2025-06-16T16:55:59.5Z"),
		CreatedAt:  mustNanos(t, "2025-06-16T16:56:00.123456Z"),
		EventID:    domain.MustParseID(eventID),
	}
	assert.Equal(t, want, e.Key())
}

func TestSameJSON(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"identical", `{"a":1}`, `{"a":1}`, true},
		{"key order", `{"a":1,"b":"x"}`, `{"b":"x","a":1}`, true},
		{"whitespace", `{"a":1,"b":[1,2]}`, " {\n  \"a\" : 1 ,\t\"b\": [ 1, 2 ]\n}\n", true},
		{"nested key order", `{"o":{"x":1,"y":{"p":true,"q":null}}}`, `{"o":{"y":{"q":null,"p":true},"x":1}}`, true},
		{"string escapes", `{"a":"\u00e9\/"}`, `{"a":"é/"}`, true},
		{"different value", `{"a":1}`, `{"a":2}`, false},
		{"different string", `{"code":"1234"}`, `{"code":"1235"}`, false},
		{"number literal kept", `{"a":1}`, `{"a":1.0}`, false},
		{"number vs string", `{"a":1}`, `{"a":"1"}`, false},
		{"extra key", `{"a":1}`, `{"a":1,"b":null}`, false},
		{"array order matters", `{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{"null vs absent", `{"a":null}`, `{}`, false},
		{"large integers kept exactly", `{"n":12345678901234567890}`, `{"n":12345678901234567891}`, false},
		{"invalid json", `{"a":1}`, `{"a":1`, false},
		{"both invalid and different", `{"a"`, `{"b"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, domain.SameJSON([]byte(tt.a), []byte(tt.b)))
			assert.Equal(t, tt.want, domain.SameJSON([]byte(tt.b), []byte(tt.a)), "reversed")
		})
	}
}

func TestSameJSONEvents(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(examplesDir(), "docs-card-encoding-guide__access_method.issued.json"))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	compact, err := json.Marshal(m) // sorted keys, no whitespace
	require.NoError(t, err)
	require.NotEqual(t, b, compact)

	assert.True(t, domain.SameJSON(b, compact))
	m["occurred_at"] = "2025-06-16T16:56:00.000001Z"
	changed, err := json.Marshal(m)
	require.NoError(t, err)
	assert.False(t, domain.SameJSON(b, changed))
}

func TestCanonicalJSON(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{" {\n \"z\": [ 3, {\"y\":1.50, \"x\":-0} ] }\n", `{"z":[3,{"x":-0,"y":1.50}]}`},
		{`{"n":12345678901234567890,"e":1e3}`, `{"e":1e3,"n":12345678901234567890}`},
		{`[]`, `[]`},
		{`"s"`, `"s"`},
		{`null`, `null`},
	}
	for _, tt := range tests {
		got, err := domain.CanonicalJSON([]byte(tt.in))
		require.NoError(t, err, "CanonicalJSON(%q)", tt.in)
		assert.Equal(t, tt.want, string(got), "CanonicalJSON(%q)", tt.in)
	}

	_, err := domain.CanonicalJSON([]byte(`{"a":`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "canonical json: ")
	_, err = domain.CanonicalJSON(nil)
	assert.Error(t, err)
}

// TestCanonicalJSONTrailingData checks that input with more than one JSON
// value is refused rather than cut after the first value.
func TestCanonicalJSONTrailingData(t *testing.T) {
	for _, in := range []string{`{"a":1} trailing garbage`, `{"a":1} {"b":2}`, `{"a":1}}`} {
		got, err := domain.CanonicalJSON([]byte(in))
		assert.Error(t, err, "CanonicalJSON(%q) = %s, want an error", in, got)
		assert.False(t, domain.SameJSON([]byte(`{"a":1}`), []byte(in)), "SameJSON(`{\"a\":1}`, %q)", in)
	}
}
