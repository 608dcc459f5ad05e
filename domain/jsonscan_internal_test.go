package domain

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

// jsonStringSeeds are string literals on both sides of jsonString's fast
// path: plain ones it copies, and escapes, control characters and bad UTF-8
// it hands to encoding/json.
var jsonStringSeeds = []string{
	`""`,
	`"plain ascii"`,
	`"5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0f"`,
	`"2025-01-05T08:00:00.123456789Z"`,
	`"caf\u00e9"`,
	"\"caf\xc3\xa9\"",   // é as UTF-8
	"\"\xef\xbf\xbd\"",  // U+FFFD written out
	"\"\xff\"",          // invalid UTF-8: becomes U+FFFD
	"\"\xed\xa0\x80\"",  // a UTF-8-encoded surrogate half
	"\"\xe2\x82\"",      // a truncated sequence
	`"tab\there"`,       // an escape
	`"quote \" inside"`, // an escaped quote
	`"\ud83d\ude00"`,    // a surrogate pair
	`"\ud83d"`,          // a lone surrogate
	`"back\\slash"`,     // an escaped backslash
	"\"raw\ttab\"",      // a raw control character: invalid JSON
	`"unterminated`,     // not a literal
	`x"`,                // not a literal
	`"`,                 // one quote
}

// TestJSONStringMatchesEncodingJSON: the fast path decides every literal
// exactly as json.Unmarshal does.
func TestJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, lit := range jsonStringSeeds {
		checkJSONString(t, []byte(lit))
	}
}

func FuzzJSONString(f *testing.F) {
	for _, lit := range jsonStringSeeds {
		f.Add([]byte(lit))
	}
	f.Fuzz(func(t *testing.T, lit []byte) { checkJSONString(t, lit) })
}

func checkJSONString(t *testing.T, lit []byte) {
	t.Helper()
	var want string
	wantOK := json.Unmarshal(lit, &want) == nil
	got, ok := jsonString(lit)
	assert.Equal(t, wantOK, ok, "ok for %q", lit)
	if wantOK {
		assert.Equal(t, want, got, "text of %q", lit)
	}
}

// splitObjectSeeds are documents on both sides of splitObject: objects with
// nesting, escapes, repeated names and odd spacing, and everything that is
// not an object.
var splitObjectSeeds = []string{
	`{}`,
	` { } `,
	`{"a":1}`,
	`{"a":1,"a":"second"}`,
	`{"a" : [1, {"b": "]}"}, []] , "c":{"d":{"e":null}}}`,
	`{"ev\u0065nt_id":"x","q\"uote":"\\","tab\t":true}`,
	"{\"\xff\":1}",
	"{\r\n\t\"a\"\t:\r\n-1.5e+10\n}",
	`{"a":"\ud83d"}`,
	`{"s":"}{][,:"}`,
	`null`,
	`[]`,
	`[{"a":1}]`,
	`"{}"`,
	`12`,
	`{"a":1,}`,
	`{"a":1} {}`,
	`{"a"}`,
	`{`,
	``,
}

// TestSplitObjectMatchesEncodingJSON: splitObject accepts exactly what
// json.Unmarshal into a map accepts (not null), and every name finds the
// value the map keeps.
func TestSplitObjectMatchesEncodingJSON(t *testing.T) {
	for _, doc := range splitObjectSeeds {
		checkSplitObject(t, []byte(doc))
	}
}

func FuzzSplitObject(f *testing.F) {
	for _, doc := range splitObjectSeeds {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) { checkSplitObject(t, doc) })
}

func checkSplitObject(t *testing.T, doc []byte) {
	t.Helper()
	var want map[string]json.RawMessage
	wantOK := json.Unmarshal(doc, &want) == nil && want != nil
	got, ok := splitObject(doc)
	if !assert.Equal(t, wantOK, ok, "ok for %q", doc) || !ok {
		return
	}
	names := map[string]bool{}
	for _, m := range got {
		names[m.name] = true
	}
	assert.Len(t, names, len(want), "names of %q", doc)
	for name, v := range want {
		gv, found := got.lookup(name)
		assert.True(t, found, "%q in %q", name, doc)
		assert.Equal(t, string(v), string(gv), "value of %q in %q", name, doc)
		if len(v) > 0 && v[0] == '[' {
			var items []json.RawMessage
			assert.NoError(t, json.Unmarshal(v, &items))
			split := splitArray(gv)
			assert.Len(t, split, len(items), "items of %q", v)
			for i := range min(len(items), len(split)) {
				assert.Equal(t, string(items[i]), string(split[i]), "item %d of %q", i, v)
			}
		}
	}
}
