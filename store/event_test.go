package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// MustOpen opens a fresh database on the engine under test.
func MustOpen(tb testing.TB) *store.DB {
	tb.Helper()
	return openTarget(tb, dbtest.Target(tb))
}

// openTarget opens target (again) with its test key, closing it when tb
// ends: a second call on one target is another process's handle.
func openTarget(tb testing.TB, target string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), target, store.Options{Keyring: dbtest.Keyring(tb, target)})
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	return db
}

func pending(evs ...*domain.Event) []store.Pending {
	out := make([]store.Pending, len(evs))
	for i, e := range evs {
		out[i] = store.Pending{Event: e, Source: store.SourceFile}
	}
	return out
}

// dump returns every log row, for comparing before and after.
func dump(tb testing.TB, db *store.DB) []store.Record {
	tb.Helper()
	page, err := db.Log().Events(context.Background(), store.EventFilter{})
	require.NoError(tb, err)
	return page.Records
}

func TestAppendDuplicateAndConflict(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	first := testutil.Parse(t, testutil.MethodEvent(1, "issued", `,"code":"1234"`))
	out, err := db.Append(ctx, pending(first, testutil.Parse(t, testutil.MethodEvent(2, "revoked", ""))), nil)
	require.NoError(t, err)
	require.Len(t, out, 2)
	assert.False(t, out[0].Duplicate)
	assert.Less(t, out[0].Seq, out[1].Seq, "seq follows arrival order")
	before := dump(t, db)

	// The same JSON value with other key order and whitespace is a duplicate.
	reordered, err := domain.ParseEvent([]byte(`{ "code" : "1234", "access_grant_keys":["booking-1001"],
		"access_grant_ids":["` + testutil.GrantID + `"], "access_method_id":"` + testutil.MethodID(1) + `",
		"occurred_at":"2026-03-01T10:00:01.250Z", "created_at":"2026-03-01T10:00:01.250Z",
		"workspace_id":"` + testutil.WorkspaceID + `", "event_type":"access_method.issued",
		"event_description":"An access method event.", "event_id":"` + testutil.EventID(1) + `"}`))
	require.NoError(t, err)
	// An id in upper case is the same id.
	upper := testutil.Parse(t, testutil.MethodEvent(2, "revoked", ""))
	upper.Raw = []byte(string(upper.Raw))
	conflict := testutil.Parse(t, testutil.MethodEvent(1, "issued", `,"code":"9999"`))

	out, err = db.Append(ctx, pending(reordered, upper, conflict), nil)
	require.NoError(t, err)
	assert.Equal(t, store.Outcome{Seq: before[0].Seq, Duplicate: true}, out[0])
	assert.Equal(t, store.Outcome{Seq: before[1].Seq, Duplicate: true}, out[1])
	require.Error(t, out[2].Err)
	assert.Equal(t, domain.EConflict, domain.ErrorCode(out[2].Err))
	assert.Contains(t, out[2].Err.Error(), "different body")
	assert.Equal(t, before, dump(t, db), "duplicates and conflicts change nothing stored")
}

func TestAppendDuplicateWithinBatch(t *testing.T) {
	db := MustOpen(t)
	e := testutil.Parse(t, testutil.MethodEvent(1, "created", ""))
	out, err := db.Append(context.Background(), pending(e, e, e), nil)
	require.NoError(t, err)
	assert.False(t, out[0].Duplicate)
	assert.True(t, out[1].Duplicate)
	assert.True(t, out[2].Duplicate)
	assert.Len(t, dump(t, db), 1)
}

func TestAppendKeepsRawBytesAndFields(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	raw := []byte(`{"event_id":"ABCDEF00-0000-0000-0000-00000000000A",  "event_type":"access_method.issued","workspace_id":"11111111-1111-1111-1111-111111111111","created_at":"2026-01-01T00:00:00.5+01:00","occurred_at":"2026-01-01T00:00:00Z","access_method_id":"22222222-2222-2222-2222-222222222222","access_grant_keys":["k1","k2"],"code":"0042","is_backup_code":false,"x":{"y":[1,2]}}`)
	e, err := domain.ParseEvent(raw)
	require.NoError(t, err)
	_, err = db.Append(ctx, []store.Pending{{Event: e, Source: store.SourceWebhook, MessageID: "msg_1"}}, nil)
	require.NoError(t, err)
	got, err := db.Event(ctx, domain.MustParseID("abcdef00-0000-0000-0000-00000000000a"))
	require.NoError(t, err)
	assert.Equal(t, raw, got.Event.Raw, "payload kept byte for byte")
	assert.Equal(t, "abcdef00-0000-0000-0000-00000000000a", got.Event.ID.String())
	assert.Equal(t, store.SourceWebhook, got.Source)
	assert.Equal(t, "msg_1", got.MessageID)
	assert.Equal(t, []string{"k1", "k2"}, got.Event.AccessGrantKeys)
	assert.Empty(t, got.Event.AccessGrantIDs)
	assert.Nil(t, got.Event.Code, "the log's fields say a code was carried, never which")
	assert.True(t, got.Event.CodeSealed)
	code, err := db.Log().Code(ctx, got.Event.ID)
	require.NoError(t, err)
	assert.Equal(t, "0042", code)
	require.NotNil(t, got.Event.IsBackupCode)
	assert.False(t, *got.Event.IsBackupCode)
	assert.Equal(t, e.OccurredAt, got.Event.OccurredAt)
	assert.Equal(t, e.CreatedAt, got.Event.CreatedAt)

	_, err = db.Event(ctx, domain.MustParseID("abcdef00-0000-0000-0000-00000000000b"))
	assert.Equal(t, domain.ENotFound, domain.ErrorCode(err))
}

func TestLogIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	_, err := db.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(1, "created", ""))), nil)
	require.NoError(t, err)
	before := dump(t, db)
	stmts := []string{
		`UPDATE events SET event_type = 'x'`,
		`UPDATE events SET payload = '{}' WHERE seq = 1`,
		`DELETE FROM events`,
		`UPDATE event_grants SET seq = 7`,
		`DELETE FROM event_grants`,
	}
	// Each engine's way to overwrite a row by inserting over it: SQLite's
	// REPLACE deletes the old row (recursive triggers make that fire the
	// delete trigger), PostgreSQL's upsert updates it.
	if db.Engine() == store.Postgres {
		stmts = append(stmts,
			`INSERT INTO events SELECT * FROM events ON CONFLICT (seq) DO UPDATE SET event_type = excluded.event_type`,
			`INSERT INTO event_grants SELECT * FROM event_grants ON CONFLICT (grant_stream, occurred_at, created_at, event_id) DO UPDATE SET seq = excluded.seq`)
	} else {
		stmts = append(stmts,
			`INSERT OR REPLACE INTO events SELECT * FROM events`,
			`REPLACE INTO event_grants SELECT * FROM event_grants`)
	}
	for _, stmt := range stmts {
		err := db.Update(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, stmt)
			return err
		})
		require.Error(t, err, stmt)
		assert.Contains(t, err.Error(), "append-only", stmt)
	}
	assert.Equal(t, before, dump(t, db))
}

// TestLogRefusesTruncate: on PostgreSQL, TRUNCATE, which fires no row
// trigger, is refused for every log table by its statement trigger, from
// any session (here a plain one, as psql's), with CASCADE or not; nothing
// of the log changes. SQLite has no TRUNCATE (its DELETE without WHERE
// still fires the row triggers, which TestLogIsAppendOnly covers).
func TestLogRefusesTruncate(t *testing.T) {
	ctx := context.Background()
	target := dbtest.NewSchema(t, dbtest.PostgresURL(t))
	db := openTarget(t, target)
	_, err := db.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(1, "issued", `,"code":"K1234Z"`))), nil)
	require.NoError(t, err)
	before := dump(t, db)
	raw := dbtest.Raw(t, target)
	tables := []string{"events", "event_streams", "event_grants", "event_chain", "log_meta"}
	counts := func() map[string]int {
		out := map[string]int{}
		for _, table := range tables {
			var n int
			require.NoError(t, raw.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n))
			out[table] = n
		}
		return out
	}
	had := counts()
	for _, table := range tables {
		require.Positive(t, had[table], "%s has rows to lose", table)
	}
	for _, table := range tables {
		// Without CASCADE a referenced table (events, event_streams) is
		// refused for its foreign keys before any trigger runs; with it,
		// the named table's trigger fires first.
		_, err := raw.ExecContext(ctx, `TRUNCATE `+table)
		assert.Error(t, err, "TRUNCATE %s", table)
		_, err = raw.ExecContext(ctx, `TRUNCATE `+table+` CASCADE`)
		assert.ErrorContains(t, err, table+" is append-only: TRUNCATE is not allowed", "TRUNCATE %s CASCADE", table)
	}
	assert.Equal(t, had, counts())
	assert.Equal(t, before, dump(t, db))
	assert.Empty(t, checkLog(t, db, nil).Problems)
}

func TestApplyErrorRollsBack(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	_, err := db.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(1, "created", ""))), nil)
	require.NoError(t, err)
	before := dump(t, db)
	boom := fmt.Errorf("boom")
	_, err = db.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(2, "issued", ""))), func(context.Context, *store.Tx, []store.Record) error {
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, before, dump(t, db), "a failed apply stores nothing")
}

func TestReopenKeepsLogAndMigrations(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	opts := store.Options{Keyring: dbtest.Keyring(t, target)}
	db, err := store.Open(ctx, target, opts)
	require.NoError(t, err)
	_, err = db.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(1, "created", ""))), nil)
	require.NoError(t, err)
	var migrations int
	require.NoError(t, db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&migrations))
	require.Positive(t, migrations)
	require.NoError(t, db.Close())

	db, err = store.Open(ctx, target, opts)
	require.NoError(t, err)
	defer db.Close()
	seq, n, err := db.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), seq)
	assert.Equal(t, int64(1), n)
	var again int
	require.NoError(t, db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&again))
	assert.Equal(t, migrations, again, "a reopen applies no migration twice")
	if db.Engine() == store.SQLite {
		// WAL is a property of the file, kept across opens.
		var mode string
		require.NoError(t, db.Reader().QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode))
		assert.Equal(t, "wal", mode)
	}
}
