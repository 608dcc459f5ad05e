package api_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/internal/testutil"
)

// TestLogHead: GET /v1/log/head answers the chain's last seq and hash,
// which move with each append; an empty log's head is seq 0, zero hash.
func TestLogHead(t *testing.T) {
	type head struct {
		Seq  int64  `json:"seq"`
		Hash string `json:"hash"`
	}
	get := func(c *client) head {
		t.Helper()
		res := c.get("/v1/log/head")
		require.Equal(t, http.StatusOK, res.status, string(res.body))
		var h head
		require.NoError(t, json.Unmarshal(res.body, &h))
		return h
	}

	empty := MustOpen(t)
	assert.Equal(t, head{Seq: 0, Hash: strings.Repeat("0", 64)}, get(newClient(t, api.NewServer(empty, api.Options{}).Handler())))

	p, events := seeded(t)
	c := newClient(t, api.NewServer(p, api.Options{}).Handler())
	got := get(c)
	want, err := p.LogHead(context.Background())
	require.NoError(t, err)
	assert.Equal(t, head{Seq: want.Seq, Hash: hex.EncodeToString(want.Hash[:])}, got)
	assert.Equal(t, int64(len(events)), got.Seq)
	assert.NotEqual(t, strings.Repeat("0", 64), got.Hash)

	appendEvents(t, p, testutil.Events(t, 1, 99))
	after := get(c)
	assert.Greater(t, after.Seq, got.Seq)
	assert.NotEqual(t, got.Hash, after.Hash)
}
