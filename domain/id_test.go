package domain_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // lowercase form; "" when the input must be refused
	}{
		{"lowercase", "5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0f", "5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0f"},
		{"uppercase", "5F4E3D2C-1B0A-9F8E-7D6C-5B4A3C2D1E0F", "5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0f"},
		{"mixed case", "aBcDeF01-2345-6789-AbCd-eF0123456789", "abcdef01-2345-6789-abcd-ef0123456789"},
		{"zero", "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"},
		{"all ones", "ffffffff-ffff-ffff-ffff-ffffffffffff", "ffffffff-ffff-ffff-ffff-ffffffffffff"},
		{"not rfc 4122 version bits", "22222222-3333-4444-5555-666666666666", "22222222-3333-4444-5555-666666666666"},
		{"rfc 4122 v4", "7c9e6679-7425-40de-944b-e07fc1f90ae7", "7c9e6679-7425-40de-944b-e07fc1f90ae7"},

		{"empty", "", ""},
		{"too short", "5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0", ""},
		{"too long", "5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0f0", ""},
		{"no dashes", "5f4e3d2c1b0a9f8e7d6c5b4a3c2d1e0f", ""},
		{"dashes misplaced", "5f4e3d2-c1b0a-9f8e-7d6c-5b4a3c2d1e0f", ""},
		{"underscore for dash", "5f4e3d2c_1b0a-9f8e-7d6c-5b4a3c2d1e0f", ""},
		{"non-hex g", "5f4e3d2g-1b0a-9f8e-7d6c-5b4a3c2d1e0f", ""},
		{"non-hex in last group", "5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0z", ""},
		{"braces", "{5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0f}", ""},
		{"urn prefix", "urn:uuid:5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0f", ""},
		{"leading space", " 5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0", ""},
		{"plus sign", "+f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0f", ""},
		{"five dashes", "5f4e3d2c-1b0a-9f8e-7d6c-5b4a-c2d1e0f", ""},
		{"non-ascii", "5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e\u00e9", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := domain.ParseID(tt.in)
			if tt.want == "" {
				assert.False(t, ok, "ParseID(%q) accepted, got %s", tt.in, got)
				return
			}
			require.True(t, ok, "ParseID(%q) refused", tt.in)
			assert.Equal(t, tt.want, got.String())
		})
	}
}

func TestIDBytes(t *testing.T) {
	id := domain.MustParseID("00112233-4455-6677-8899-AABBCCDDEEFF")
	want := []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	assert.Equal(t, want, id[:])

	got, ok := domain.IDFromBytes(want)
	require.True(t, ok)
	assert.Equal(t, id, got)

	_, ok = domain.IDFromBytes(want[:15])
	assert.False(t, ok, "IDFromBytes accepted 15 bytes")
	_, ok = domain.IDFromBytes(append(want, 0))
	assert.False(t, ok, "IDFromBytes accepted 17 bytes")
}

func TestMustParseIDPanics(t *testing.T) {
	assert.PanicsWithValue(t, `domain: bad id "nope"`, func() { domain.MustParseID("nope") })
}

func TestIDText(t *testing.T) {
	id := domain.MustParseID("5F4E3D2C-1B0A-9F8E-7D6C-5B4A3C2D1E0F")

	b, err := json.Marshal(map[string]domain.ID{"id": id})
	require.NoError(t, err)
	assert.Equal(t, `{"id":"5f4e3d2c-1b0a-9f8e-7d6c-5b4a3c2d1e0f"}`, string(b))

	var got struct{ ID domain.ID }
	require.NoError(t, json.Unmarshal([]byte(`{"ID":"5F4E3D2C-1B0A-9F8E-7D6C-5B4A3C2D1E0F"}`), &got))
	assert.Equal(t, id, got.ID)

	var bad domain.ID
	err = bad.UnmarshalText([]byte("abc"))
	require.Error(t, err)
	assert.Equal(t, `"abc" is not an id (hex 8-4-4-4-12)`, err.Error())
	assert.Equal(t, domain.ID{}, bad, "a failed UnmarshalText must leave the id untouched")
}

// TestIDStringRoundTrip checks that String is ParseID's inverse for every
// byte value in every position.
func TestIDStringRoundTrip(t *testing.T) {
	for b := 0; b < 256; b++ {
		var id domain.ID
		for i := range id {
			id[i] = byte(b + i*17)
		}
		s := id.String()
		got, ok := domain.ParseID(s)
		require.True(t, ok, "ParseID(%q) refused", s)
		require.Equal(t, id, got, "ParseID(%q)", s)
		require.Len(t, s, 36)
	}
}
