package store

import (
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestChainHashFieldsAreDelimited: moving bytes from one field to the next
// changes the hash.
func TestChainHashFieldsAreDelimited(t *testing.T) {
	var prev [sha256.Size]byte
	empty, ab, a := "", "ab", "a"
	base := chainHash(prev, 1, 2, "file", nil, []byte("{}"), nil)
	for name, h := range map[string][sha256.Size]byte{
		"prev":                chainHash([sha256.Size]byte{1}, 1, 2, "file", nil, []byte("{}"), nil),
		"seq":                 chainHash(prev, 2, 2, "file", nil, []byte("{}"), nil),
		"received_at":         chainHash(prev, 1, 3, "file", nil, []byte("{}"), nil),
		"source":              chainHash(prev, 1, 2, "sync", nil, []byte("{}"), nil),
		"empty message id":    chainHash(prev, 1, 2, "file", &empty, []byte("{}"), nil),
		"source into id":      chainHash(prev, 1, 2, "fil", &[]string{"e"}[0], []byte("{}"), nil),
		"id into payload":     chainHash(prev, 1, 2, "file", &a, []byte("b{}"), nil),
		"payload":             chainHash(prev, 1, 2, "file", nil, []byte("{} "), nil),
		"source into payload": chainHash(prev, 1, 2, "fi", nil, []byte("le{}"), nil),
		"sealed, empty":       chainHash(prev, 1, 2, "file", nil, []byte("{}"), []byte{}),
		"sealed":              chainHash(prev, 1, 2, "file", nil, []byte("{}"), []byte("x")),
		"payload into sealed": chainHash(prev, 1, 2, "file", nil, []byte("{"), []byte("}")),
	} {
		assert.NotEqual(t, base, h, name)
	}
	assert.NotEqual(t, chainHash(prev, 1, 2, "file", &ab, nil, nil), chainHash(prev, 1, 2, "file", &a, []byte("b"), nil))
	assert.Equal(t, base, chainHash(prev, 1, 2, "file", nil, []byte("{}"), nil), "the hash is a function of its fields")
}
