package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/store"
)

// TestWebhookFullDisk: a webhook whose commit SQLite refuses for want of
// room (a page limit on the writer, as a full disk gives) answers 503
// unavailable with Retry-After, so Seam retries it, and stores nothing.
func TestWebhookFullDisk(t *testing.T) {
	env := newWebhookEnv(t, api.WebhookOptions{Secret: webhookSecret})
	ctx := context.Background()
	require.NoError(t, env.p.DB().Update(ctx, func(tx *store.Tx) error {
		var pages int
		if err := tx.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages))
		return err
	}))
	plain, _, _ := pickEvents(t, 1)
	body := withField(t, plain[0].Raw, "note", `"`+strings.Repeat("x", 200<<10)+`"`)
	before := env.count(t)
	res := env.post(t, bytes.NewReader(body), signed(t, body))
	require.Equal(t, http.StatusServiceUnavailable, res.status, "%s", res.body)
	assert.Equal(t, "unavailable", res.json(t)["error"].(map[string]any)["type"])
	assert.Contains(t, string(res.body), "cannot take writes now")
	assert.Equal(t, "30", res.header.Get("Retry-After"))
	assert.Equal(t, before, env.count(t), "nothing is stored")
}
