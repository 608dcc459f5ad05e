package domain

import (
	"encoding/hex"
	"fmt"
)

// ID is a Seam identifier: 16 bytes written as hex 8-4-4-4-12. Seam calls
// them UUIDs, but real payloads carry ids without valid RFC 4122 version
// bits, so any hex of that shape is accepted. The zero ID is a valid id.
type ID [16]byte

// ParseID parses an 8-4-4-4-12 hex id in any case.
func ParseID(s string) (ID, bool) {
	var id ID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return id, false
		}
		id[j] = hi<<4 | lo
		j++
		i += 2
	}
	return id, true
}

// MustParseID parses s or panics; for tests and constants.
func MustParseID(s string) ID {
	id, ok := ParseID(s)
	if !ok {
		panic(fmt.Sprintf("domain: bad id %q", s))
	}
	return id
}

// IDFromBytes converts a 16-byte slice (as stored) into an ID.
func IDFromBytes(b []byte) (ID, bool) {
	var id ID
	if len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String returns the id in lowercase 8-4-4-4-12 form.
func (id ID) String() string {
	var b [36]byte
	id.encode(&b)
	return string(b[:])
}

// AppendText appends the lowercase form to b (encoding.TextAppender).
func (id ID) AppendText(b []byte) ([]byte, error) {
	var t [36]byte
	id.encode(&t)
	return append(b, t[:]...), nil
}

func (id ID) encode(b *[36]byte) {
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
}

// MarshalText writes the lowercase form, so ids print the same everywhere.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses an id in any case.
func (id *ID) UnmarshalText(b []byte) error {
	v, ok := ParseID(string(b))
	if !ok {
		return fmt.Errorf("%q is not an id (hex 8-4-4-4-12)", b)
	}
	*id = v
	return nil
}
