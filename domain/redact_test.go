package domain_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
)

// oldRedact is RedactPayload as it was for payloads whose only code is a
// top-level "code" spelled plainly: its output must not change for them.
func oldRedact(raw []byte) []byte {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return raw
	}
	if _, ok := fields["code"]; !ok {
		return raw
	}
	delete(fields, "code")
	fields["code_redacted"] = json.RawMessage("true")
	b, err := json.Marshal(fields)
	if err != nil {
		return raw
	}
	return b
}

func TestRedactPayload(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" when the output must be the input, byte for byte
	}{
		{"no code", `{"event_type":"access_method.revoked", "b" : [1, {"x":"y"}]}`, ""},
		{"code only in a value", `{"note":"code","event_description":"a \"code\" was issued"}`, ""},
		{"escape elsewhere", `{"note":"caf\u00e9","codes":"1234"}`, ""},
		{"longer name", `{"code_redacted":true,"pin_code":"1234","c\u006fdes":"1"}`, ""},
		{"not JSON", `{"code":"1234"`, ""},
		{"top level", `{"z":1,"code":"482913","a":"x"}`, `{"a":"x","code_redacted":true,"z":1}`},
		{"escaped name", `{"c\u006fde":"482913","a":"x"}`, `{"a":"x","code_redacted":true}`},
		{"all escaped, upper-case hex", `{"\u0063\u006F\u0064\u0065":"482913"}`, `{"code_redacted":true}`},
		{"upper case", `{"CODE":"482913","Code":"1"}`, `{"code_redacted":true}`},
		{"repeated", `{"code":"482913","a":1,"c\u006fde":"111111","code":"222222"}`, `{"a":1,"code_redacted":true}`},
		{"nested object", `{"a":{"b":{"code":"482913","c":2}},"d":"e"}`, `{"a":{"b":{"c":2,"code_redacted":true}},"d":"e"}`},
		{"in an array", `{"a":[1,{"code":"482913"},[{"cod\u0065":"1"}]]}`, `{"a":[1,{"code_redacted":true},[{"code_redacted":true}]]}`},
		{"code holding an object", `{"code":{"value":"482913"},"x":null}`, `{"code_redacted":true,"x":null}`},
		{"top-level array", `[{"code":"482913"}, 2]`, `[{"code_redacted":true},2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := domain.RedactPayload([]byte(tt.in))
			want := tt.want
			if want == "" {
				want = tt.in
			}
			assert.Equal(t, want, string(got))
		})
	}
}

// TestRedactPayloadUnchangedOutput: payloads with one plain top-level code
// (what Seam sends) print exactly as before.
func TestRedactPayloadUnchangedOutput(t *testing.T) {
	payloads := [][]byte{benchPayload, mk(domain.TypeReissued, kv{"code": "0042", "note": "<&>", "n": raw(`1.50`)})}
	for _, p := range payloads {
		assert.Equal(t, string(oldRedact(p)), string(domain.RedactPayload(p)))
	}
}

// redactGen generates random JSON payloads with PIN codes hidden in them.
type redactGen struct {
	rng     *rand.Rand
	secrets []string // every code value written
}

// codeName spells "code" with random letter case and random \uXXXX escapes
// in mixed-case hex.
func (g *redactGen) codeName() string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range "code" {
		if g.rng.IntN(3) == 0 {
			c -= 'a' - 'A'
		}
		if g.rng.IntN(2) == 0 {
			hex := fmt.Sprintf("%04x", c)
			if g.rng.IntN(2) == 0 {
				hex = strings.ToUpper(hex)
			}
			b.WriteString(`\u` + hex)
		} else {
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// secret returns a new code value: 6 to 9 digits, which no other value of a
// payload can contain (their numbers have at most 3 digits).
func (g *redactGen) secret() string {
	s := fmt.Sprintf("%d%05d", 1+g.rng.IntN(9), g.rng.IntN(100000))
	for range g.rng.IntN(4) {
		s += fmt.Sprint(g.rng.IntN(10))
	}
	g.secrets = append(g.secrets, s)
	return s
}

func (g *redactGen) word() string {
	const letters = "abcdefghijklmnopqrstuvwxyz_ABCDE"
	for {
		b := make([]byte, 1+g.rng.IntN(8))
		for i := range b {
			b[i] = letters[g.rng.IntN(len(letters))]
		}
		if !strings.EqualFold(string(b), "code") {
			return string(b)
		}
	}
}

// value writes a random JSON value; depth bounds the nesting.
func (g *redactGen) value(b *strings.Builder, depth int) {
	switch n := g.rng.IntN(10); {
	case depth > 0 && n < 3:
		g.object(b, depth-1)
	case depth > 0 && n < 5:
		b.WriteString("[")
		for i := range g.rng.IntN(4) {
			if i > 0 {
				b.WriteString(", ")
			}
			g.value(b, depth-1)
		}
		b.WriteString("]")
	case n < 7:
		fmt.Fprintf(b, "%q", g.word())
	case n < 8:
		fmt.Fprint(b, g.rng.IntN(1000))
	default:
		b.WriteString([]string{"true", "false", "null"}[g.rng.IntN(3)])
	}
}

// object writes a random object, with code members among its members
// (sometimes several) holding a secret, possibly inside an object or array.
func (g *redactGen) object(b *strings.Builder, depth int) {
	b.WriteString("{")
	for i := range g.rng.IntN(6) {
		if i > 0 {
			b.WriteString(",")
		}
		if g.rng.IntN(3) == 0 {
			b.WriteString(g.codeName() + ":")
			switch g.rng.IntN(4) {
			case 0:
				fmt.Fprintf(b, `{"v":%q}`, g.secret())
			case 1:
				fmt.Fprintf(b, `[%q]`, g.secret())
			default:
				fmt.Fprintf(b, "%q", g.secret())
			}
			continue
		}
		fmt.Fprintf(b, "%q : ", g.word())
		g.value(b, depth)
	}
	b.WriteString("}")
}

// stripCode returns v without any member named code (in any case), and
// without code_redacted members when markers.
func stripCode(v any, markers bool) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if strings.EqualFold(k, "code") || (markers && k == "code_redacted") {
				continue
			}
			out[k] = stripCode(x, markers)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = stripCode(x, markers)
		}
		return out
	}
	return v
}

// checkNoCode fails when v has a member named code (in any case) or a
// string equal to a secret.
func checkNoCode(t *testing.T, v any, secrets map[string]bool, in []byte) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			require.False(t, strings.EqualFold(k, "code"), "member %q in the redaction of %s", k, in)
			checkNoCode(t, x, secrets, in)
		}
	case []any:
		for _, x := range v {
			checkNoCode(t, x, secrets, in)
		}
	case string:
		require.False(t, secrets[v], "code %q in the redaction of %s", v, in)
	}
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "%s", b)
	return v
}

// TestRedactPayloadProperty: for many random payloads with codes spelled
// in every way, nested and repeated, the redaction decodes to the payload
// without its code members, has no member named code and no code value;
// a payload without a code is returned as it is.
func TestRedactPayloadProperty(t *testing.T) {
	g := &redactGen{rng: rand.New(rand.NewPCG(5, 6))}
	for range 5000 {
		g.secrets = g.secrets[:0]
		var b strings.Builder
		g.object(&b, 3)
		in := []byte(b.String())
		out := domain.RedactPayload(in)
		if len(g.secrets) == 0 {
			require.Equal(t, string(in), string(out))
			continue
		}
		secrets := map[string]bool{}
		for _, s := range g.secrets {
			secrets[s] = true
			require.NotContains(t, string(out), s, "in the redaction of %s", in)
		}
		got := decodeAny(t, out)
		checkNoCode(t, got, secrets, in)
		require.Equal(t, stripCode(decodeAny(t, in), false), stripCode(got, true), "the redaction of %s changed more than its codes", in)
	}
}

func BenchmarkRedactPayload(b *testing.B) {
	plain := mk(domain.TypeRevoked, nil)
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"code", benchPayload}, {"none", plain}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				domain.RedactPayload(bc.in)
			}
		})
	}
}

// FuzzRedactPayload: whatever the input, a redaction of valid JSON is valid
// JSON without a member named code, and an input without one is returned
// as it is.
func FuzzRedactPayload(f *testing.F) {
	f.Add(benchPayload)
	f.Add([]byte(`{"a":[{"c\u006Fde":"1"},{"CODE":{"x":1}}],"code":2,"code":3}`))
	f.Add([]byte(`[{"code":"1"}, "code", {"b": "\"code\""}]`))
	f.Add([]byte(`{"codE" : "1" , "x" : { } }`))
	f.Add([]byte(`{"":[{"CODE":{}}],"":0}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out := domain.RedactPayload(in)
		if !json.Valid(in) {
			require.Equal(t, in, out)
			return
		}
		got := decodeAny(t, out)
		checkNoCode(t, got, nil, in)
		if !hasCodeName(t, in) {
			require.Equal(t, string(in), string(out), "nothing to redact")
		}
	})
}

// hasCodeName reports whether some member name of the valid JSON in, even
// one a later repeated name hides, is code in any letter case.
func hasCodeName(t *testing.T, in []byte) bool {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(in))
	var inObject []bool // per open container: is it an object
	key := false        // the next token is a member name
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			inObject = append(inObject, tok == json.Delim('{'))
			key = tok == json.Delim('{')
			continue
		case json.Delim('}'), json.Delim(']'):
			inObject = inObject[:len(inObject)-1]
		default:
			if s, ok := tok.(string); ok && key && strings.EqualFold(s, "code") {
				return true
			}
			if key {
				key = false
				continue
			}
		}
		key = len(inObject) > 0 && inObject[len(inObject)-1]
	}
}
