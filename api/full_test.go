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

// fillDisk makes db refuse the next append for want of room. On SQLite a
// page limit on the writer gives the error a full disk gives. A PostgreSQL
// server's disk cannot be filled from a test, so a trigger on the log
// raises disk_full (SQLSTATE 53100), the error of a server out of room.
func fillDisk(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		if db.Engine() == store.Postgres {
			if _, err := tx.ExecContext(ctx, `CREATE FUNCTION fill_disk() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `CREATE TRIGGER fill_disk BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION fill_disk()`)
			return err
		}
		var pages int
		if err := tx.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages))
		return err
	}))
}

// TestWebhookFullDisk: a webhook whose commit the database refuses for want
// of room answers 503 unavailable with Retry-After, so Seam retries it, and
// stores nothing.
func TestWebhookFullDisk(t *testing.T) {
	env := newWebhookEnv(t, api.WebhookOptions{Secret: webhookSecret})
	fillDisk(t, env.p.DB())
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
