package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// member is one name/value pair of a JSON object; value is the raw literal,
// a slice of the input.
type member struct {
	name  string
	value []byte
}

// members are an object's members in input order.
type members []member

// lookup returns the value of the last member called name: the one
// encoding/json keeps when a name repeats.
func (ms members) lookup(name string) ([]byte, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].name == name {
			return ms[i].value, true
		}
	}
	return nil, false
}

// splitObject returns the members of b, or false when b is not valid JSON or
// not an object. It decides exactly as json.Unmarshal into a
// map[string]json.RawMessage, in one validating pass and one split, with no
// copies of the values.
func splitObject(b []byte) (members, bool) {
	if !json.Valid(b) {
		return nil, false
	}
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return nil, false
	}
	return objectMembers(b[i:]), true
}

// objectMembers returns the members of b, a JSON object (from its opening
// brace) in a document already validated.
func objectMembers(b []byte) members {
	ms := make(members, 0, 16)
	i := skipSpace(b, 1)
	if b[i] == '}' {
		return ms
	}
	for {
		end := valueEnd(b, i)
		name, _ := jsonString(b[i:end])       // a valid document has valid names
		i = skipSpace(b, skipSpace(b, end)+1) // past the colon
		end = valueEnd(b, i)
		ms = append(ms, member{name: name, value: b[i:end]})
		i = skipSpace(b, end)
		if b[i] == '}' {
			return ms
		}
		i = skipSpace(b, i+1) // past the comma
	}
}

// splitArray returns the items of b, a JSON array from a document already
// validated.
func splitArray(b []byte) [][]byte {
	var items [][]byte
	i := skipSpace(b, 1)
	if b[i] == ']' {
		return items
	}
	for {
		end := valueEnd(b, i)
		items = append(items, b[i:end])
		i = skipSpace(b, end)
		if b[i] == ']' {
			return items
		}
		i = skipSpace(b, i+1)
	}
}

// valueEnd returns the index just past the value that starts at b[i], in a
// document already validated.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && !isDelimiter(b[j]) {
		j++
	}
	return j
}

// stringEnd returns the index just past the string literal at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// isDelimiter reports whether c ends a number or a literal.
func isDelimiter(c byte) bool {
	return c == ',' || c == '}' || c == ']' || isSpace(c)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// isSpace reports whether c is one of jsonSpace.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// jsonString decodes the JSON string literal v. A literal with no escape,
// no control character and only valid UTF-8 (nearly every one Seam sends)
// is its own text; any other goes through encoding/json, so every literal
// decodes exactly as json.Unmarshal decodes it.
func jsonString(v []byte) (string, bool) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && isPlainString(v[1:len(v)-1]) {
		return string(v[1 : len(v)-1]), true
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// isPlainString reports whether b, the inside of a JSON string literal,
// decodes to itself: the same test encoding/json makes before unquoting.
func isPlainString(b []byte) bool {
	ascii := true
	for _, c := range b {
		switch {
		case c == '\\' || c == '"' || c < ' ':
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return ascii || utf8.Valid(b)
}

// badText is where a JSON document holds text that is not UTF-8: the path
// of the member (names joined by dots, array items as [i]), whether the
// member's name (rather than a string in its value) is at fault, and the
// index of the first bad byte.
type badText struct {
	path string
	name bool
	at   int
}

// findBadUTF8 returns the first member name or string, in the JSON value
// at b[i] of a document already validated, that is not valid UTF-8. path is
// the value's own path.
func findBadUTF8(b []byte, i int, path string) (badText, bool) {
	switch b[i] {
	case '"':
		if end := stringEnd(b, i); !utf8.Valid(b[i:end]) {
			return badText{path: path, at: i + firstBadByte(b[i:end])}, true
		}
	case '{':
		i = skipSpace(b, i+1)
		if b[i] == '}' {
			return badText{}, false
		}
		for {
			end := valueEnd(b, i)
			name, _ := jsonString(b[i:end]) // bad bytes become U+FFFD
			sub := name
			if path != "" {
				sub = path + "." + name
			}
			if !utf8.Valid(b[i:end]) {
				return badText{path: sub, name: true, at: i + firstBadByte(b[i:end])}, true
			}
			i = skipSpace(b, skipSpace(b, end)+1)
			if bad, ok := findBadUTF8(b, i, sub); ok {
				return bad, true
			}
			i = skipSpace(b, valueEnd(b, i))
			if b[i] == '}' {
				return badText{}, false
			}
			i = skipSpace(b, i+1)
		}
	case '[':
		i = skipSpace(b, i+1)
		for n := 0; b[i] != ']'; n++ {
			if bad, ok := findBadUTF8(b, i, fmt.Sprintf("%s[%d]", path, n)); ok {
				return bad, true
			}
			if i = skipSpace(b, valueEnd(b, i)); b[i] == ',' {
				i = skipSpace(b, i+1)
			}
		}
	}
	return badText{}, false
}

// firstBadByte returns the index of the first byte of b that does not
// start a valid UTF-8 sequence (len(b) when there is none).
func firstBadByte(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// mayNameCode reports whether raw may have a member whose name decodes to
// "code" in any letter case: it holds a backslash (an escape can spell any
// letter) or a quoted "code". Without either, no name can be code.
func mayNameCode(raw []byte) bool {
	if bytes.IndexByte(raw, '\\') >= 0 {
		return true
	}
	for i := bytes.IndexByte(raw, '"'); i >= 0 && i+5 < len(raw); {
		if raw[i+5] == '"' && bytes.EqualFold(raw[i+1:i+5], []byte("code")) {
			return true
		}
		j := bytes.IndexByte(raw[i+1:], '"')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// isCodeName reports whether a member called name holds a PIN code: name
// is "code" in any letter case, as encoding/json matches a struct field
// tagged "code".
func isCodeName(name string) bool {
	return len(name) == 4 && strings.EqualFold(name, "code")
}
