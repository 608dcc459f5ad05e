package store_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// checkLog runs CheckLog in a snapshot of db.
func checkLog(t *testing.T, db *store.DB, want *store.ChainHead) store.LogCheck {
	t.Helper()
	var c store.LogCheck
	require.NoError(t, db.View(context.Background(), func(s *store.Snapshot) error {
		var err error
		c, err = s.CheckLog(context.Background(), want, 20)
		return err
	}))
	return c
}

// TestChainMigratesOldDatabase: a database written before the chain
// existed (the chain's migration undone) is chained once by the first
// writing open, to the same hashes the appends give, and read only opens
// refuse it until then; an event inserted later without a chain entry is
// reported, never chained by a later open.
func TestChainMigratesOldDatabase(t *testing.T) {
	dbtest.SQLiteOnly(t, "the chain's migration 0003 upgrades an SQLite file written before it; PostgreSQL's schema had the chain from the start")
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "amtrack.db")
	db, err := store.Open(ctx, path, store.Options{})
	require.NoError(t, err)
	batch := pending(testutil.Parse(t, testutil.MethodEvent(1, "created", "")), testutil.Parse(t, testutil.MethodEvent(2, "issued", `,"code":"1234"`)),
		testutil.Parse(t, testutil.MethodEvent(3, "deleted", "")))
	batch[1].Source, batch[1].MessageID = store.SourceWebhook, "msg_2"
	_, err = db.Append(ctx, batch, nil)
	require.NoError(t, err)
	head, err := db.Log().ChainHead(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(3), head.Seq)
	require.NoError(t, db.Close())

	// The database as the previous amtrack left it.
	dbtest.Exec(t, path, "DROP TABLE event_chain", "DROP TABLE log_meta", "DELETE FROM schema_migrations WHERE version = '0003_chain'")
	_, err = store.OpenReadOnly(ctx, path)
	require.ErrorContains(t, err, "migration 0003_chain not applied")

	before := time.Now()
	db, err = store.Open(ctx, path, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	got, err := db.Log().ChainHead(ctx)
	require.NoError(t, err)
	assert.Equal(t, head, got, "the backfill gives the hashes the appends gave")
	c := checkLog(t, db, &head)
	assert.Empty(t, c.Problems)
	assert.Equal(t, head, c.Head)
	assert.Equal(t, int64(3), c.Backfill.To)
	assert.False(t, c.Backfill.At.Before(before.Truncate(time.Second)), "backfilled at %s", c.Backfill.At)

	// Appends go on chaining from the backfilled head.
	_, err = db.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(4, "created", ""))), nil)
	require.NoError(t, err)
	assert.Empty(t, checkLog(t, db, &head).Problems)

	// An event inserted outside amtrack is not chained by the next open,
	// even by the one that ran the backfill's migration.
	require.NoError(t, db.Close())
	insertUnchained(t, path, 4)
	db, err = store.Open(ctx, path, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	problems := strings.Join(checkLog(t, db, nil).Problems, "\n")
	assert.Contains(t, problems, "seq 9: the event has no chain entry: it was inserted outside amtrack")
}

// insertUnchained inserts, outside amtrack, a copy of the event at seq
// from under another event id at seq 9, with no chain entry.
func insertUnchained(t *testing.T, target string, from int) {
	t.Helper()
	newID := dbtest.ByEngine(target, `randomblob(16)`, `decode(md5(random()::text), 'hex')`)
	dbtest.Exec(t, target, `INSERT INTO events (seq, event_id, event_type, workspace_id, occurred_at, created_at, received_at, source, payload)
		SELECT 9, `+newID+`, event_type, workspace_id, occurred_at, created_at, received_at, source, payload FROM events WHERE seq = `+strconv.Itoa(from))
}

// TestInsertedEventIsNotChained: no open chains an event inserted outside
// amtrack, so the check names it.
func TestInsertedEventIsNotChained(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	opts := store.Options{Keyring: dbtest.Keyring(t, target)}
	db, err := store.Open(ctx, target, opts)
	require.NoError(t, err)
	_, err = db.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(1, "created", "")), testutil.Parse(t, testutil.MethodEvent(2, "deleted", ""))), nil)
	require.NoError(t, err)
	assert.Empty(t, checkLog(t, db, nil).Problems)
	require.NoError(t, db.Close())

	insertUnchained(t, target, 2)
	db, err = store.Open(ctx, target, opts)
	require.NoError(t, err)
	defer db.Close()
	// The crude copy differs from its payload too; the chain names it first.
	problems := checkLog(t, db, nil).Problems
	require.NotEmpty(t, problems)
	assert.Equal(t, "seq 9: the event has no chain entry: it was inserted outside amtrack", problems[0])
	_, err = db.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(3, "created", ""))), nil)
	require.NoError(t, err)
	assert.Contains(t, strings.Join(checkLog(t, db, nil).Problems, "\n"), "seq 9: the event has no chain entry: it was inserted outside amtrack",
		"an append after it does not hide it")
}

// TestFreshDatabaseChainsFromTheStart: a new database records no backfill.
func TestFreshDatabaseChainsFromTheStart(t *testing.T) {
	db := MustOpen(t)
	c := checkLog(t, db, nil)
	assert.Empty(t, c.Problems)
	assert.Equal(t, store.ChainHead{}, c.Head)
	assert.Equal(t, int64(0), c.Backfill.To)
	assert.False(t, c.Backfill.At.IsZero())
}

// TestOpenRepairsTriggers: a writing open recreates a dropped, altered or
// disabled append-only trigger (on PostgreSQL also their function) and
// says so; a read only open does not, and CheckLog names it.
func TestOpenRepairsTriggers(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	opts := store.Options{Keyring: dbtest.Keyring(t, target)}
	db, err := store.Open(ctx, target, opts)
	require.NoError(t, err)
	assert.Empty(t, db.RepairedTriggers())
	require.NoError(t, db.Close())

	// What each engine lets a shell do to the triggers; each yields the
	// problems listed, in trigger name order.
	var tamper []string
	var problems []store.TriggerProblem
	var refused []string // statements the repaired triggers refuse again
	if dbtest.IsPostgres(target) {
		tamper = []string{
			"DROP TRIGGER events_no_delete ON events",
			"DROP TRIGGER event_chain_no_update ON event_chain",
			"CREATE TRIGGER event_chain_no_update BEFORE UPDATE ON event_chain FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()",
			"ALTER TABLE event_grants DISABLE TRIGGER event_grants_no_update",
			"ALTER TABLE log_meta DISABLE TRIGGER USER",
			// The function every trigger calls, made to let everything through.
			"CREATE OR REPLACE FUNCTION amtrack_append_only() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN coalesce(NEW, OLD); END$$",
		}
		problems = []store.TriggerProblem{{Name: "amtrack_append_only()", Altered: true}, {Name: "event_chain_no_update", Altered: true},
			{Name: "event_grants_no_update", Altered: true}, {Name: "events_no_delete"}, {Name: "log_meta_no_delete", Altered: true},
			{Name: "log_meta_no_truncate", Altered: true}, {Name: "log_meta_no_update", Altered: true}}
		refused = []string{"DELETE FROM events", `UPDATE event_chain SET hash = '\x00'::bytea`, "UPDATE event_grants SET seq = seq",
			"UPDATE log_meta SET value = value", "TRUNCATE log_meta"}
	} else {
		tamper = []string{"DROP TRIGGER events_no_delete", "DROP TRIGGER event_chain_no_update",
			"CREATE TRIGGER event_chain_no_update BEFORE UPDATE ON event_chain BEGIN SELECT 1; END"}
		problems = []store.TriggerProblem{{Name: "event_chain_no_update", Altered: true}, {Name: "events_no_delete"}}
		refused = []string{"DELETE FROM events", "UPDATE event_chain SET hash = x'00'"}
	}
	dbtest.Exec(t, target, tamper...)

	ro, err := store.OpenReadOnly(ctx, target)
	require.NoError(t, err)
	assert.Empty(t, ro.RepairedTriggers())
	if dbtest.IsPostgres(target) {
		var want []string
		for _, p := range problems {
			want = append(want, p.String()+": the log may have been edited outside amtrack; run amtrack rebuild (or serve or ingest) to recreate it")
		}
		assert.Equal(t, want, checkLog(t, ro, nil).Problems)
	} else {
		// The messages in full, once.
		assert.Equal(t, []string{
			"append-only trigger event_chain_no_update is not the one amtrack created: the log may have been edited outside amtrack; run amtrack rebuild (or serve or ingest) to recreate it",
			"append-only trigger events_no_delete is missing: the log may have been edited outside amtrack; run amtrack rebuild (or serve or ingest) to recreate it",
		}, checkLog(t, ro, nil).Problems)
	}
	require.NoError(t, ro.Close())

	db, err = store.Open(ctx, target, opts)
	require.NoError(t, err)
	assert.Equal(t, problems, db.RepairedTriggers())
	assert.Empty(t, checkLog(t, db, nil).Problems)
	_, err = db.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(1, "created", ""))), nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	raw := dbtest.Raw(t, target)
	for _, stmt := range refused {
		_, err = raw.Exec(stmt)
		assert.ErrorContains(t, err, "append-only", stmt)
	}

	db, err = store.Open(ctx, target, opts)
	require.NoError(t, err)
	defer db.Close()
	assert.Empty(t, db.RepairedTriggers(), "nothing to repair the second time")
}

// TestAppendOnlyTriggers lists the triggers of every append-only table.
func TestAppendOnlyTriggers(t *testing.T) {
	ts, err := store.AppendOnlyTriggers()
	require.NoError(t, err)
	var names []string
	for _, tr := range ts {
		names = append(names, tr.Name)
		assert.True(t, strings.HasPrefix(tr.SQL, "CREATE TRIGGER "+tr.Name+" "), tr.SQL)
		assert.True(t, strings.HasSuffix(tr.SQL, "END"), tr.SQL)
	}
	assert.Equal(t, []string{"event_chain_no_delete", "event_chain_no_update", "event_grants_no_delete", "event_grants_no_update",
		"event_streams_no_delete", "event_streams_no_update", "events_no_delete", "events_no_update",
		"log_meta_no_delete", "log_meta_no_update"}, names)
}

func TestParseChainHead(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		wantErr string
	}{
		{"12:" + hash, ""},
		{"0:" + strings.Repeat("0", 64), ""},
		{"12", "is not SEQ:HASH"},
		{"x:" + hash, `seq "x" is not a number`},
		{"-1:" + hash, `seq "-1" is not a number of 0 or more`},
		{"12:abc", "the hash must be 64 hex digits"},
		{"12:" + strings.Repeat("zz", 32), "the hash must be 64 hex digits"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h, err := store.ParseChainHead(tt.in)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.in, h.String())
		})
	}
}
