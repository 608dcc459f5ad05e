package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/store"
)

func TestSyncCheckpoint(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	opts := store.Options{Keyring: dbtest.Keyring(t, target)}
	db, err := store.Open(ctx, target, opts)
	require.NoError(t, err)

	const endpoint = "https://connect.getseam.com"
	_, ok, err := db.SyncCheckpoint(ctx, endpoint)
	require.NoError(t, err)
	assert.False(t, ok, "a new database has no checkpoint")

	first := time.Date(2026, 11, 27, 9, 12, 44, 123456789, time.UTC)
	require.NoError(t, db.SetSyncCheckpoint(ctx, endpoint, first))
	got, ok, err := db.SyncCheckpoint(ctx, endpoint+"/")
	require.NoError(t, err)
	require.True(t, ok, "a trailing slash names the same endpoint")
	assert.True(t, got.Equal(first), "got %s, want %s", got, first)
	assert.Equal(t, time.UTC, got.Location())

	// Checkpoints are per endpoint, and a later write replaces an earlier
	// one even when it is earlier in time (a resumed partial backfill).
	require.NoError(t, db.SetSyncCheckpoint(ctx, "http://127.0.0.1:9999", first.Add(time.Hour)))
	earlier := first.Add(-48 * time.Hour)
	require.NoError(t, db.SetSyncCheckpoint(ctx, endpoint, earlier))
	got, _, err = db.SyncCheckpoint(ctx, endpoint)
	require.NoError(t, err)
	assert.True(t, got.Equal(earlier), "got %s, want %s", got, earlier)
	other, _, err := db.SyncCheckpoint(ctx, "http://127.0.0.1:9999")
	require.NoError(t, err)
	assert.True(t, other.Equal(first.Add(time.Hour)))

	// The checkpoint survives reopening, and sync_state is not the log: a
	// checkpoint write appends nothing.
	require.NoError(t, db.Close())
	db, err = store.Open(ctx, target, opts)
	require.NoError(t, err)
	defer db.Close()
	got, ok, err = db.SyncCheckpoint(ctx, endpoint)
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, got.Equal(earlier))
	seq, count, err := db.Head(ctx)
	require.NoError(t, err)
	assert.Zero(t, seq)
	assert.Zero(t, count)
}

func TestSyncCheckpointCanceled(t *testing.T) {
	db := MustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := db.SetSyncCheckpoint(ctx, "https://connect.getseam.com", time.Now())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "write sync checkpoint")
	_, ok, err := db.SyncCheckpoint(context.Background(), "https://connect.getseam.com")
	require.NoError(t, err)
	assert.False(t, ok, "nothing was stored")
}
