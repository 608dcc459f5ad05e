package store_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/store"
)

// TestPostgresKeyRequired: a writing open of a PostgreSQL log needs its key
// given (there is no file beside it), a read-only open reads without it
// and says which variables give it when a code is asked for, never naming
// a key file made of the URL.
func TestPostgresKeyRequired(t *testing.T) {
	ctx := context.Background()
	target := dbtest.NewSchema(t, dbtest.PostgresURL(t))
	_, err := store.Open(ctx, target, store.Options{})
	require.Error(t, err)
	assert.Equal(t, domain.EInvalid, domain.ErrorCode(err))
	assert.Contains(t, err.Error(), "AMTRACK_KEY_FILE")

	openTarget(t, target).Close()
	ro, err := store.OpenReadOnly(ctx, target)
	require.NoError(t, err)
	defer ro.Close()
	err = ro.RequireKey()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AMTRACK_KEY_FILE or AMTRACK_KEY")
	assert.NotContains(t, err.Error(), ".key")
}

// TestRedactHidesPasswords: a PostgreSQL URL's password, in the user info
// or as a parameter, never reaches a message; a path is left as it is.
func TestRedactHidesPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://amtrack:s3cret@db:5432/amtrack":       "postgres://amtrack:xxxxx@db:5432/amtrack",
		"postgresql://db/amtrack?password=s3cret&x=1":     "postgresql://db/amtrack?password=xxxxx&x=1",
		"postgres://amtrack@db/amtrack?search_path=audit": "postgres://amtrack@db/amtrack?search_path=audit",
		"/var/lib/amtrack/a.db":                           "/var/lib/amtrack/a.db",
	} {
		got := store.Redact(in)
		assert.Equal(t, want, got, in)
		assert.NotContains(t, got, "s3cret")
	}
	assert.Equal(t, store.Postgres, store.EngineOf("PostgreSQL://x/y"))
	assert.Equal(t, store.SQLite, store.EngineOf("postgres.db"))
	_, err := url.Parse(store.Redact("postgres://a:b@c/d"))
	assert.NoError(t, err)
}
