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
	base := chainHash(prev, 1, 2, "file", nil, []byte("{}"))
	for name, h := range map[string][sha256.Size]byte{
		"prev":                chainHash([sha256.Size]byte{1}, 1, 2, "file", nil, []byte("{}")),
		"seq":                 chainHash(prev, 2, 2, "file", nil, []byte("{}")),
		"received_at":         chainHash(prev, 1, 3, "file", nil, []byte("{}")),
		"source":              chainHash(prev, 1, 2, "sync", nil, []byte("{}")),
		"empty message id":    chainHash(prev, 1, 2, "file", &empty, []byte("{}")),
		"source into id":      chainHash(prev, 1, 2, "fil", &[]string{"e"}[0], []byte("{}")),
		"id into payload":     chainHash(prev, 1, 2, "file", &a, []byte("b{}")),
		"payload":             chainHash(prev, 1, 2, "file", nil, []byte("{} ")),
		"source into payload": chainHash(prev, 1, 2, "fi", nil, []byte("le{}")),
	} {
		assert.NotEqual(t, base, h, name)
	}
	assert.NotEqual(t, chainHash(prev, 1, 2, "file", &ab, nil), chainHash(prev, 1, 2, "file", &a, []byte("b")))
	assert.Equal(t, base, chainHash(prev, 1, 2, "file", nil, []byte("{}")), "the hash is a function of its fields")
}
