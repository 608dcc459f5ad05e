package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/keyring"
	"github.com/amtrack/amtrack/store"
)

// copySource returns a log of n events of generate's stream (codes among
// them, so sealed bytes and data keys), appended in batches of 500 with
// webhook message ids and fixed arrival times, each batch after the first
// holding an event already stored (a seq gap), then one method's codes
// forgotten (an event more) and a sync checkpoint.
func copySource(t *testing.T, n int) *store.DB {
	t.Helper()
	return fillSource(t, MustOpen(t), n)
}

// fillSource appends copySource's log to db and returns it.
func fillSource(t *testing.T, db *store.DB, n int) *store.DB {
	t.Helper()
	ctx := context.Background()
	events := testutil.ParseAll(t, testutil.First(t, n, 7))
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var forget domain.ID
	for start := 0; start < len(events); start += 500 {
		var batch []store.Pending
		for i, e := range events[start:min(start+500, len(events))] {
			p := store.Pending{Event: e, Source: store.SourceFile, ReceivedAt: at.Add(time.Duration(start+i) * time.Millisecond)}
			if i%3 == 0 {
				p.Source, p.MessageID = store.SourceWebhook, fmt.Sprintf("msg_%d", start+i)
			}
			if e.Code != nil && forget == (domain.ID{}) {
				forget = e.AccessMethodID
			}
			batch = append(batch, p)
			if i == 10 && start > 0 { // a retry of an event stored before
				batch = append(batch, store.Pending{Event: events[start-1], Source: store.SourceWebhook, MessageID: "retry"})
			}
		}
		_, err := db.Append(ctx, batch, nil)
		require.NoError(t, err)
	}
	require.NotEqual(t, domain.ID{}, forget, "the stream has codes")
	_, err := db.Forget(ctx, []domain.ID{forget}, nil)
	require.NoError(t, err)
	require.NoError(t, db.SetSyncCheckpoint(ctx, "https://connect.getseam.com", at))
	seq, count, err := db.Head(ctx)
	require.NoError(t, err)
	require.EqualValues(t, n+1, count, "the events and the forgetting")
	if n > 500 {
		require.Greater(t, seq, count, "the log has seq gaps")
	}
	return db
}

// rows returns every row of query on db's readers, each column as the
// driver gives it.
func rows(t *testing.T, db *store.DB, query string) [][]any {
	t.Helper()
	return dbtest.Rows(t, db.Reader(), query)
}

// allRecords returns every record of db's log, read with its key. (Limit
// 0, "all", is an SQLite LIMIT -1, which PostgreSQL refuses.)
func allRecords(t *testing.T, db *store.DB) []store.Record {
	t.Helper()
	page, err := db.Log().Events(context.Background(), store.EventFilter{Limit: 1 << 30})
	require.NoError(t, err)
	return page.Records
}

// logTables are the queries whose rows a copy keeps as they are.
var logTables = []string{
	`SELECT seq, event_id, event_type, workspace_id, occurred_at, created_at, access_method_id, method_stream, access_grant_id,
		access_grant_ids, access_grant_keys, has_code, is_backup_code, access_grant_key, starts_at, ends_at,
		received_at, source, message_id, payload, sealed FROM events ORDER BY seq`,
	`SELECT seq, hash FROM event_chain ORDER BY seq`,
	`SELECT stream, kind, id FROM event_streams ORDER BY stream`,
	`SELECT grant_stream, occurred_at, created_at, event_id, seq FROM event_grants ORDER BY grant_stream, occurred_at, created_at, event_id`,
	`SELECT access_method_id, wrapped IS NULL, created_at, forgotten_at FROM method_keys ORDER BY access_method_id`,
	`SELECT endpoint, checkpoint, updated_at FROM sync_state ORDER BY endpoint`,
}

// TestCopyKeepsEveryRow: a copy into a database with another key holds
// the same rows, byte for byte (the data keys rewrapped), so the same
// chain; the codes open there with its own key; a forgotten method stays
// forgotten.
func TestCopyKeepsEveryRow(t *testing.T) {
	ctx := context.Background()
	src := copySource(t, 1500)
	dst := MustOpen(t)
	var reports []int64
	res, err := store.Copy(ctx, src, dst, func(done, total int64) {
		reports = append(reports, done)
		assert.EqualValues(t, 1501, total)
	})
	require.NoError(t, err)
	assert.False(t, res.Already)
	assert.EqualValues(t, 1501, res.Events)
	assert.Equal(t, res.Source, res.Target)
	assert.True(t, res.Rewrapped, "a fresh database has a key of its own")
	assert.NotEqual(t, res.SourceKey, res.TargetKey)
	assert.Positive(t, res.DataKeys)
	assert.Equal(t, []int64{1000, 1501}, reports, "progress after each batch")
	for _, q := range logTables {
		assert.Equal(t, rows(t, src, q), rows(t, dst, q), q)
	}
	head, err := dst.Log().ChainHead(ctx)
	require.NoError(t, err)
	assert.Equal(t, res.Source, head)

	// Every payload reads back the same, codes revealed with dst's key,
	// and forgotten ones forgotten on both.
	want, got := allRecords(t, src), allRecords(t, dst)
	require.Len(t, got, len(want))
	codes, forgotten := 0, 0
	for i := range want {
		assert.Equal(t, want[i].Seq, got[i].Seq)
		assert.Equal(t, string(want[i].Event.Raw), string(got[i].Event.Raw), "seq %d", want[i].Seq)
		assert.Equal(t, want[i].CodeForgotten(), got[i].CodeForgotten(), "seq %d", want[i].Seq)
		if got[i].CodeForgotten() {
			forgotten++
		}
		if want[i].Event.CarriesCode() && !want[i].CodeForgotten() {
			codes++
			w, err := src.Log().Code(ctx, want[i].Event.ID)
			require.NoError(t, err)
			g, err := dst.Log().Code(ctx, got[i].Event.ID)
			require.NoError(t, err)
			assert.Equal(t, w, g)
		}
	}
	assert.Positive(t, codes)
	assert.Positive(t, forgotten)
	check := checkLog(t, dst, &res.Source)
	assert.Empty(t, check.Problems)
	assert.Equal(t, res.Source, check.Head)
}

// TestCopySameKey: into a database with the source's key the data keys go
// as they are.
func TestCopySameKey(t *testing.T) {
	ctx := context.Background()
	k, _, err := keyring.Generate()
	require.NoError(t, err)
	src := fillSource(t, openWithKey(t, dbtest.Target(t), k), 300)
	dst := openWithKey(t, dbtest.Target(t), k)
	res, err := store.Copy(ctx, src, dst, nil)
	require.NoError(t, err)
	assert.False(t, res.Rewrapped)
	assert.Equal(t, k.ID(), res.SourceKey)
	assert.Equal(t, k.ID(), res.TargetKey)
	q := `SELECT access_method_id, wrapped FROM method_keys ORDER BY access_method_id`
	assert.Equal(t, rows(t, src, q), rows(t, dst, q))
}

// openWithKey opens target with the key k.
func openWithKey(t *testing.T, target string, k *keyring.Keyring) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), target, store.Options{Keyring: k})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestCopyCancelled: a copy cancelled halfway leaves the target without
// events or data keys, and the next copy starts again and completes.
func TestCopyCancelled(t *testing.T) {
	src := copySource(t, 2500)
	dst := MustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := store.Copy(ctx, src, dst, func(done, total int64) {
		if done >= 1000 {
			cancel()
		}
	})
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	_, count, err := dst.Head(context.Background())
	require.NoError(t, err)
	assert.Zero(t, count, "nothing committed")
	assert.Empty(t, rows(t, dst, `SELECT access_method_id FROM method_keys`))

	res, err := store.Copy(context.Background(), src, dst, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 2501, res.Events)
	assert.Equal(t, res.Source, res.Target)
}

// TestCopyTargetWithEvents: a copy into its own complete copy writes
// nothing (Already); into another log, or a copy the source has grown past,
// it is a conflict that changes nothing.
func TestCopyTargetWithEvents(t *testing.T) {
	ctx := context.Background()
	src := copySource(t, 600)
	dst := MustOpen(t)
	first, err := store.Copy(ctx, src, dst, nil)
	require.NoError(t, err)
	again, err := store.Copy(ctx, src, dst, nil)
	require.NoError(t, err)
	assert.True(t, again.Already)
	assert.Zero(t, again.Events)
	assert.Equal(t, first.Source, again.Target)

	_, err = src.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(900001, "created", ""))), nil)
	require.NoError(t, err)
	_, err = store.Copy(ctx, src, dst, nil)
	assert.Equal(t, domain.EConflict, domain.ErrorCode(err), "%v", err)
	assert.ErrorContains(t, err, "already holds the first 601 events")
	assert.ErrorContains(t, err, "1 more since")

	other := MustOpen(t)
	_, err = other.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(900002, "created", ""))), nil)
	require.NoError(t, err)
	_, err = store.Copy(ctx, src, other, nil)
	assert.Equal(t, domain.EConflict, domain.ErrorCode(err), "%v", err)
	assert.ErrorContains(t, err, "not a copy of")
	_, count, err := other.Head(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, count, "the other log is left as it was")
}

// TestCopyRefusesEditedSource: a source whose row was edited outside
// amtrack fails its chain, and copy refuses it rather than chaining the
// edit afresh.
func TestCopyRefusesEditedSource(t *testing.T) {
	ctx := context.Background()
	path := dbtest.Target(t)
	db, err := store.Open(ctx, path, store.Options{Keyring: dbtest.Keyring(t, path)})
	require.NoError(t, err)
	_, err = db.Append(ctx, pending(testutil.ParseAll(t, testutil.First(t, 50, 3))...), nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	dbtest.Exec(t, path, dbtest.ByEngine(path, `DROP TRIGGER events_no_update`, `DROP TRIGGER events_no_update ON events`),
		`UPDATE events SET received_at = received_at + 1 WHERE seq = 20`)
	src, err := store.OpenReadOnlyOptions(ctx, path, store.Options{Keyring: dbtest.Keyring(t, path)})
	require.NoError(t, err)
	defer src.Close()
	dst := MustOpen(t)
	_, err = store.Copy(ctx, src, dst, nil)
	assert.Equal(t, domain.EInvalid, domain.ErrorCode(err), "%v", err)
	assert.ErrorContains(t, err, "seq 20 of "+path+" does not hash to its chain entry")
	_, count, err := dst.Head(ctx)
	require.NoError(t, err)
	assert.Zero(t, count)
}

// TestCopyNeedsSourceKey: rewrapping the data keys needs the source's key;
// without it the copy is refused and writes nothing.
func TestCopyNeedsSourceKey(t *testing.T) {
	ctx := context.Background()
	k, _, err := keyring.Generate()
	require.NoError(t, err)
	target := dbtest.Target(t)
	fillSource(t, openWithKey(t, target, k), 300)
	// Opened read only without its key (it has no key file beside it).
	src, err := store.OpenReadOnly(ctx, target)
	require.NoError(t, err)
	defer src.Close()
	require.Error(t, src.RequireKey())
	dst := MustOpen(t)
	_, err = store.Copy(ctx, src, dst, nil)
	assert.Equal(t, domain.EInvalid, domain.ErrorCode(err), "%v", err)
	assert.ErrorContains(t, err, "needs the key of")
	assert.Empty(t, rows(t, dst, `SELECT access_method_id FROM method_keys`))
	_, count, err := dst.Head(ctx)
	require.NoError(t, err)
	assert.Zero(t, count)

	// With the same key on both sides the source's key is not needed.
	same := openWithKey(t, dbtest.Target(t), k)
	res, err := store.Copy(ctx, src, same, nil)
	require.NoError(t, err)
	assert.False(t, res.Rewrapped)
}

// TestCopyKeepsHowTheChainStarted: a source whose chain was backfilled when
// it was upgraded (events before that seq cannot show an edit made before
// the upgrade) gives a copy that says the same, though the copy recorded
// its own start, from seq 0, when it was created.
func TestCopyKeepsHowTheChainStarted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := store.Open(ctx, path, store.Options{})
	require.NoError(t, err)
	_, err = db.Append(ctx, pending(testutil.ParseAll(t, testutil.First(t, 30, 5))...), nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	// As an upgrade from before the chain leaves it: chained up to seq 12.
	dbtest.Exec(t, path, `DROP TRIGGER log_meta_no_update`,
		`UPDATE log_meta SET value = 12 WHERE key = 'chain_backfilled_to'`,
		`UPDATE log_meta SET value = 1700000000000000000 WHERE key = 'chain_backfilled_at'`)
	src, err := store.OpenReadOnly(ctx, path)
	require.NoError(t, err)
	defer src.Close()
	want, err := src.Log().Backfill(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 12, want.To)

	dst := MustOpen(t)
	_, err = store.Copy(ctx, src, dst, nil)
	require.NoError(t, err)
	got, err := dst.Log().Backfill(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}
