package store

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeStrings(t *testing.T) {
	for _, want := range [][]string{
		{}, {""}, {"a"}, {"a", "b"}, {"", ""}, {`x","y`}, {`q"uote`}, {"<&>"}, {"booking-1", "é", "\u0000"}, {`back\slash`},
	} {
		b, err := json.Marshal(want)
		require.NoError(t, err)
		got, err := decodeStrings(string(b))
		require.NoError(t, err)
		assert.Equal(t, want, got, "decode %s", b)
	}
}
