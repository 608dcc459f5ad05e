package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestServeRefusesBadSecret: serve does not start with a webhook secret
// whose key is empty, not base64 or too short, and says why.
func TestServeRefusesBadSecret(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	for secret, want := range map[string]string{
		"whsec_":     "SEAM_WEBHOOK_SECRET is empty",
		"whsec_!!!":  "SEAM_WEBHOOK_SECRET is not a valid whsec_... secret",
		"whsec_AA==": "SEAM_WEBHOOK_SECRET holds a 1-byte key, under the minimum of 16 bytes",
	} {
		got := runCLIWith(t, loadConfig(environ{"SEAM_WEBHOOK_SECRET": secret}.get), "", "serve", "--db", db, "--addr", "127.0.0.1:0")
		assert.Equal(t, 1, got.code, "%q: %s", secret, got.stderr)
		assert.Contains(t, got.stderr, want, "%q", secret)
		assert.Empty(t, got.stdout, "%q", secret)
		assert.NoFileExists(t, db, "refused before the database is opened")
	}
}
