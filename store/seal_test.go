package store_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/keyring"
	"github.com/amtrack/amtrack/store"
)

// sealEvents are events that name codes: issued ones (extracted), one with
// a code nested in an unknown member, a grant event (no access method: the
// log-wide key) with one, and one without any.
func sealEvents(tb testing.TB) (events []*domain.Event, codes []string) {
	tb.Helper()
	raws := []string{
		testutil.MethodEvent(1, "issued", `,"code":"K4821Z"`),
		testutil.MethodEvent(2, "reissued", `,"code":"K0042Z","is_backup_code":true`),
		testutil.MethodEvent(3, "created", `,"device":{"Code":"K7777Z"}`),
		`{"event_id":"` + testutil.EventID(4) + `","event_type":"access_grant.created","workspace_id":"` + testutil.WorkspaceID +
			`","created_at":"2026-03-01T10:00:04Z","occurred_at":"2026-03-01T10:00:04Z","access_grant_id":"` + testutil.GrantID +
			`","note":{"code":"K5150Z"}}`,
		testutil.MethodEvent(5, "revoked", ""),
	}
	for _, raw := range raws {
		events = append(events, testutil.Parse(tb, raw))
	}
	return events, []string{"K4821Z", "K0042Z", "K7777Z", "K5150Z"}
}

// storedHolds reports whether the database at target holds s in clear:
// any of an SQLite database's files; on PostgreSQL any row of any table
// of its schema, as text (where a BYTEA column prints as hex) or as the
// bytes of a BYTEA column.
func storedHolds(tb testing.TB, target, s string) bool {
	tb.Helper()
	if !dbtest.IsPostgres(target) {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(target + suffix)
			if os.IsNotExist(err) {
				continue
			}
			require.NoError(tb, err)
			if bytes.Contains(b, []byte(s)) {
				return true
			}
		}
		return false
	}
	ctx := context.Background()
	raw := dbtest.Raw(tb, target)
	rows, err := raw.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	require.NoError(tb, err)
	var tables []string
	for rows.Next() {
		var name string
		require.NoError(tb, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(tb, rows.Err())
	require.Contains(tb, tables, "events")
	for _, table := range tables {
		var n int
		require.NoError(tb, raw.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` t WHERE strpos(t::text, $1) > 0 OR strpos(t::text, $2) > 0`,
			s, hex.EncodeToString([]byte(s))).Scan(&n))
		if n > 0 {
			return true
		}
	}
	return false
}

// TestSealedLog: the log stores no code in clear, even before a clean
// close (on SQLite the WAL holds the commits), and reads every payload back
// as received with the key; without it, payloads come back without codes
// and revealing a code says the key is needed. It appends events as the
// parser hands them over (Prepared: redacted already) and as other callers
// do (redacted by the writer).
func TestSealedLog(t *testing.T) {
	for _, prepared := range []bool{false, true} {
		t.Run(map[bool]string{false: "unprepared", true: "prepared"}[prepared], func(t *testing.T) {
			testSealedLog(t, prepared)
		})
	}
}

func testSealedLog(t *testing.T, prepared bool) {
	ctx := context.Background()
	target := dbtest.Target(t)
	db := openWithKey(t, target, dbtest.Keyring(t, target))
	events, codes := sealEvents(t)
	batch := pending(events...)
	if prepared {
		for i := range batch {
			batch[i] = store.Prepared(batch[i])
		}
	}
	out, err := db.Append(ctx, batch, nil)
	require.NoError(t, err)
	for _, o := range out {
		require.NoError(t, o.Err)
	}
	// The search finds what is stored in clear: the event ids.
	require.True(t, storedHolds(t, target, events[0].ID.String()[24:]), "the search must find a stored id")
	for _, code := range codes {
		assert.False(t, storedHolds(t, target, code), "code %s in clear before any close", code)
	}

	page, err := db.Log().Events(ctx, store.EventFilter{})
	require.NoError(t, err)
	require.Len(t, page.Records, len(events))
	for i, rec := range page.Records {
		assert.Equal(t, string(events[i].Raw), string(rec.Event.Raw), "the payload as received, opened with the key")
	}
	for i, want := range []string{"K4821Z", "K0042Z"} {
		got, err := db.Log().Code(ctx, events[i].ID)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err = db.Log().Code(ctx, events[4].ID)
	assert.Equal(t, domain.ENotFound, domain.ErrorCode(err), "an event without a code")

	// The same events again are duplicates, compared with the opened bytes;
	// another body under the same id is a conflict.
	out, err = db.Append(ctx, pending(events...), nil)
	require.NoError(t, err)
	for _, o := range out {
		assert.True(t, o.Duplicate)
	}
	changed := testutil.Parse(t, testutil.MethodEvent(1, "issued", `,"code":"K9999Z"`))
	out, err = db.Append(ctx, pending(changed), nil)
	require.NoError(t, err)
	assert.Equal(t, domain.EConflict, domain.ErrorCode(out[0].Err))
	require.NoError(t, db.Close())

	// Without the key: everything reads, but no code.
	ro, page := withoutKey(t, target)
	for i, rec := range page.Records {
		assert.Equal(t, string(domain.RedactPayload(events[i].Raw)), string(rec.Event.Raw), "the payload without its codes")
	}
	_, err = ro.Log().Code(ctx, events[0].ID)
	assert.Equal(t, domain.EInvalid, domain.ErrorCode(err))
	assert.ErrorContains(t, err, "revealing codes needs the database's key")
	assert.ErrorContains(t, ro.RequireKey(), "revealing codes needs the database's key")
}

// TestOpenWithAnotherKey: a database refuses a key other than the one it
// recorded, for writing and for reading.
func TestOpenWithAnotherKey(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	right, _, err := keyring.Generate()
	require.NoError(t, err)
	db, err := store.Open(ctx, target, store.Options{Keyring: right, KeySource: "the right key"})
	require.NoError(t, err)
	events, _ := sealEvents(t)
	_, err = db.Append(ctx, pending(events...), nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	pg := dbtest.IsPostgres(target)
	if !pg {
		_, err = os.Stat(store.KeyPath(target))
		assert.True(t, os.IsNotExist(err), "a given key makes no key file")
	}

	wrong, _, err := keyring.Generate()
	require.NoError(t, err)
	opts := store.Options{Keyring: wrong, KeySource: "the other key"}
	want := "the other key (key id " + wrong.ID() + ") does not open the database at " + store.Redact(target) + " (key id " + right.ID() + ")"
	_, err = store.Open(ctx, target, opts)
	assert.Equal(t, domain.EInvalid, domain.ErrorCode(err))
	assert.ErrorContains(t, err, want)
	_, err = store.OpenReadOnlyOptions(ctx, target, opts)
	assert.ErrorContains(t, err, want)
	// Without any key, a writing open is refused: on SQLite, where the key
	// file beside it would be used, it makes none; PostgreSQL has no file
	// beside it, so its key must always be given.
	_, err = store.Open(ctx, target, store.Options{})
	assert.Equal(t, domain.EInvalid, domain.ErrorCode(err))
	if pg {
		assert.ErrorContains(t, err, "the PostgreSQL database "+store.Redact(target)+" needs its key given")
	} else {
		assert.ErrorContains(t, err, "no key file at "+store.KeyPath(target)+", and the codes of the database at "+target+
			" are sealed with key id "+right.ID())
		_, err = os.Stat(store.KeyPath(target))
		assert.True(t, os.IsNotExist(err), "a refused open makes no key file")
	}

	db, err = store.OpenReadOnlyOptions(ctx, target, store.Options{Keyring: right})
	require.NoError(t, err)
	defer db.Close()
	got, err := db.Log().Code(ctx, events[1].ID)
	require.NoError(t, err)
	assert.Equal(t, "K0042Z", got)
}

// TestEventsByteBudgetSealed: a page of sealed events stopped by its byte
// budget says so (no ScannedTo), whatever the sizes of the stored payload
// and of the opened one, so the next page does not skip events.
func TestEventsByteBudgetSealed(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	var events []*domain.Event
	for n := 1; n <= 4; n++ {
		events = append(events, testutil.Parse(t, testutil.MethodEvent(n, "issued", `,"code":"K48`+string(rune('0'+n))+`Z"`)))
	}
	_, err := db.Append(ctx, pending(events...), nil)
	require.NoError(t, err)
	stored := len(domain.RedactPayload(events[0].Raw))
	require.Greater(t, stored, len(events[0].Raw), "the stored payload is the longer")

	page, err := db.Log().Events(ctx, store.EventFilter{EventType: domain.TypeIssued, MaxBytes: stored, MaxScan: 2})
	require.NoError(t, err)
	require.Len(t, page.Records, 2, "the budget counts the payloads as read back")
	assert.Zero(t, page.ScannedTo)
}

// withoutKey opens the closed database at target read only without its key
// (on SQLite, its key file beside it moved away), closed when t ends, and
// reads its first page of events.
func withoutKey(t *testing.T, target string) (*store.DB, store.EventPage) {
	t.Helper()
	if !dbtest.IsPostgres(target) {
		require.NoError(t, os.Rename(store.KeyPath(target), target+".moved"))
	}
	ro, err := store.OpenReadOnly(context.Background(), target)
	require.NoError(t, err)
	t.Cleanup(func() { ro.Close() })
	page, err := ro.Log().Events(context.Background(), store.EventFilter{})
	require.NoError(t, err)
	return ro, page
}

// TestPreparedThenAnotherEvent: a Pending given another event after
// Prepared stores that event's payload without its codes, not the
// redaction of the first.
func TestPreparedThenAnotherEvent(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	db := openWithKey(t, target, dbtest.Keyring(t, target))
	events, codes := sealEvents(t)
	p := store.Prepared(pending(events[4])[0]) // no code
	p.Event = events[0]                        // a code
	out, err := db.Append(ctx, []store.Pending{p}, nil)
	require.NoError(t, err)
	require.NoError(t, out[0].Err)
	assert.False(t, storedHolds(t, target, codes[0]), "the code in clear")
	require.NoError(t, db.Close())

	_, page := withoutKey(t, target)
	require.Len(t, page.Records, 1)
	assert.Equal(t, string(domain.RedactPayload(events[0].Raw)), string(page.Records[0].Event.Raw))
}
