package store_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
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

// TestPostgresWriterLockWait: a write that waits past LockWait for the
// writer lock (another session holds it: a process that froze mid-write)
// is unavailable, so a webhook answers 503 and is retried, instead of
// waiting for as long as that session lives.
func TestPostgresWriterLockWait(t *testing.T) {
	ctx := context.Background()
	target := dbtest.NewSchema(t, dbtest.PostgresURL(t))
	db, err := store.Open(ctx, target, store.Options{Keyring: dbtest.Keyring(t, target), LockWait: 200 * time.Millisecond})
	require.NoError(t, err)
	defer db.Close()

	raw := dbtest.Raw(t, target)
	holder, err := raw.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = holder.ExecContext(ctx, `SELECT pg_advisory_xact_lock(1634562155, hashtext(current_schema()))`)
	require.NoError(t, err)
	_, err = db.Append(ctx, pending(testutil.ParseAll(t, testutil.First(t, 3, 1))...), nil)
	require.Error(t, err)
	assert.Equal(t, domain.EUnavailable, domain.ErrorCode(err), "%v", err)
	require.NoError(t, holder.Rollback())

	_, err = db.Append(ctx, pending(testutil.ParseAll(t, testutil.First(t, 3, 1))...), nil)
	require.NoError(t, err, "once the lock is free")
}

// TestPostgresReplicaTriggerIsAltered: a trigger switched to fire only for
// replicas (ENABLE REPLICA TRIGGER) does not fire in amtrack's sessions:
// the check reports it altered, and a writing open recreates it.
func TestPostgresReplicaTriggerIsAltered(t *testing.T) {
	ctx := context.Background()
	target := dbtest.NewSchema(t, dbtest.PostgresURL(t))
	openTarget(t, target).Close()
	dbtest.Exec(t, target, `ALTER TABLE events ENABLE REPLICA TRIGGER events_no_update`,
		`ALTER TABLE event_chain ENABLE ALWAYS TRIGGER event_chain_no_update`)
	ro, err := store.OpenReadOnly(ctx, target)
	require.NoError(t, err)
	problems, err := ro.Log().Triggers(ctx)
	ro.Close()
	require.NoError(t, err)
	assert.Equal(t, []store.TriggerProblem{{Name: "events_no_update", Altered: true}}, problems,
		"replica-only is altered; ALWAYS still fires")
	db := openTarget(t, target)
	assert.Equal(t, problems, db.RepairedTriggers())
	problems, err = db.Log().Triggers(ctx)
	require.NoError(t, err)
	assert.Empty(t, problems)
}
