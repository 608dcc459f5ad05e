package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
)

// checkpointDB opens a new SQLite file that checkpoints at pages.
func checkpointDB(t *testing.T, pages int) (*DB, string) {
	t.Helper()
	dbtest.SQLiteOnly(t, "the WAL is SQLite's")
	path := filepath.Join(t.TempDir(), "a.db")
	db, err := Open(context.Background(), path, Options{CheckpointPages: pages, Keyring: dbtest.Keyring(t, path)})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db, path
}

// TestCheckpointsBesideTheWriter: a commit that takes the WAL past
// CheckpointPages returns with its frames still in the WAL (the writer's
// connection does not checkpoint; before, its commit copied them all), and
// the checkpointer then copies them on its own connection, all but what
// the writer's next commit copies. A commit that leaves fewer frames starts
// nothing.
func TestCheckpointsBesideTheWriter(t *testing.T) {
	ctx := context.Background()
	db, path := checkpointDB(t, 64)
	assert.EqualValues(t, 64, db.ckpt.pages)
	var autocheckpoint int
	require.NoError(t, db.write.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&autocheckpoint))
	assert.Equal(t, 0, autocheckpoint)

	other, err := sql.Open(driverName, "file:"+path)
	require.NoError(t, err)
	defer other.Close()
	pending := func() (log, copied int64) {
		_, log, copied, err := walFrames(ctx, other, "NOOP")
		require.NoError(t, err)
		return log, copied
	}
	write := func(pages int) {
		require.NoError(t, db.Update(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS filler (b BLOB)`)
			if err == nil {
				_, err = tx.ExecContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
					INSERT INTO filler SELECT randomblob(3000) FROM c`, pages)
			}
			return err
		}))
	}
	allCopied := func() bool { log, copied := pending(); return log > 0 && copied == log }
	// Let Open's own writes be copied first (they are under 64 pages: a
	// checkpoint started by hand).
	_, _, _, err = walFrames(ctx, other, "PASSIVE")
	require.NoError(t, err)
	require.True(t, allCopied())

	db.ckpt.lock() // the checkpointer cannot begin
	write(300)
	log, copied := pending()
	assert.GreaterOrEqual(t, log-copied, int64(300), "the commit checkpointed on the writer (%d frames, %d copied)", log, copied)
	db.ckpt.unlock()
	require.Eventually(t, allCopied, 10*time.Second, 5*time.Millisecond, "the checkpointer copied nothing")
	// It left the tail (here nothing) to the writer's next commit, which
	// copies it. (SQLite counts the frames copied before the round ends:
	// wait for the round.)
	db.ckpt.lock()
	tail := db.ckpt.tail.Load()
	db.ckpt.unlock()
	assert.True(t, tail)
	write(5)
	assert.False(t, db.ckpt.tail.Load())
	assert.True(t, allCopied(), "the writer left the tail")

	// Under the threshold: the checkpointer looks, and copies nothing.
	write(5)
	// Each send waits for the checkpointer to take the kick before it: once
	// the second is taken, the commit's is handled.
	db.ckpt.kick <- struct{}{}
	db.ckpt.kick <- struct{}{}
	db.ckpt.lock()
	log, copied = pending()
	db.ckpt.unlock()
	assert.Less(t, copied, log, "a commit of a few pages was checkpointed")
}

// TestCheckpointsLetTheWALStartOver: under writes that never pause, the
// WAL still starts over, so it stays near the threshold instead of holding
// every frame ever written (a checkpoint beside a busy writer never finds
// all of the WAL copied; the writer copies the last of it).
func TestCheckpointsLetTheWALStartOver(t *testing.T) {
	ctx := context.Background()
	db, _ := checkpointDB(t, 64)
	require.NoError(t, db.Update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE filler (k INTEGER PRIMARY KEY, b BLOB)`)
		return err
	}))
	const commits, rows = 400, 10 // a page each, and the index's
	var most int64
	for i := range commits {
		require.NoError(t, db.Update(ctx, func(tx *Tx) error {
			// Rows overwritten at random: many distinct pages a commit.
			_, err := tx.ExecContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
				INSERT OR REPLACE INTO filler SELECT abs(random()) % 2000, randomblob(3000) FROM c`, rows)
			return err
		}))
		if i%20 == 19 {
			_, log, _, err := walFrames(ctx, db.write, "NOOP")
			require.NoError(t, err)
			most = max(most, log)
		}
	}
	// Never started over, the WAL would hold every frame: over 4,000.
	assert.Less(t, most, int64(commits*rows/4), "the WAL did not start over")
}

// TestCheckpointerStops: Close stops the checkpointer and closes its
// connection, and then the WAL is copied and removed by the last close.
func TestCheckpointerStops(t *testing.T) {
	db, path := checkpointDB(t, 0)
	c := db.ckpt
	require.NoError(t, db.Close())
	select {
	case <-c.done:
	default:
		t.Fatal("the checkpointer still runs after Close")
	}
	assert.Equal(t, 0, c.conn.Stats().OpenConnections)
	assert.NoFileExists(t, path+"-wal")
}

func TestVersionAtLeast(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    bool
	}{
		{"3.54.1", true}, {"3.51.0", true}, {"4.0.0", true}, {"3.50.4", false},
		{"3.9.0", false}, {"2.99.0", false}, {"3", false}, {"", false}, {"x.y.z", false},
	} {
		assert.Equal(t, tc.want, versionAtLeast(tc.version, 3, 51), tc.version)
	}
}

// TestCatchUpBoundsTheWritersShare: the frames a catch-up leaves to the
// writer's next commit are at most the threshold, unless the copies lose
// ground for catchUpMaxRounds rounds; a round that copies nothing, or finds
// another checkpoint under way, leaves nothing to the writer. Each case is a
// script of (frames in the WAL, frames copied) the rounds return.
func TestCatchUpBoundsTheWritersShare(t *testing.T) {
	const pages = 1600
	type frames struct{ log, copied int64 }
	outpaced := make([]frames, catchUpMaxRounds)
	for i := range outpaced { // the writer appends two thresholds a round
		outpaced[i] = frames{int64(4000 + 3200*i), int64(1000 + 3200*i)}
	}
	for _, tc := range []struct {
		name   string
		rounds []frames
		busy   bool
		want   int // rounds run
		tail   bool
		held   bool // a hold waits for the catch-up
	}{
		{"caught up in one round", []frames{{2000, 1950}}, false, 1, true, false},
		{"few left after three rounds", []frames{{4000, 3000}, {6000, 5000}, {7000, 6500}}, false, 3, true, false},
		// Before the bound, the third round handed the writer 2,000 frames here.
		{"too many left after three rounds", []frames{{4000, 2000}, {6000, 4000}, {8000, 6000}, {8500, 8000}}, false, 4, true, false},
		{"the writer outpaces every round", outpaced, false, catchUpMaxRounds, true, false},
		{"a reader holds the frames", []frames{{4000, 500}}, false, 1, false, false},
		{"another checkpoint is under way", []frames{{4000, 2000}}, true, 1, false, false},
		// Forget's TRUNCATE waits: the catch-up ends after its round.
		{"a hold waits", []frames{{4000, 2000}, {6000, 4000}}, false, 1, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &checkpointer{pages: pages}
			if tc.held {
				c.holds.Store(1)
			}
			i := 0
			n := c.catchUp(500, func() (bool, int64, int64, error) {
				require.Less(t, i, len(tc.rounds), "more rounds than scripted")
				f := tc.rounds[i]
				i++
				return tc.busy, f.log, f.copied, nil
			})
			assert.Equal(t, tc.want, n)
			assert.Equal(t, tc.tail, c.tail.Load())
		})
	}
}

// TestForgetWaitsForACheckpointUnderWay: Forget's TRUNCATE waits for a
// round of the checkpointer under way instead of running beside it (where
// SQLite, which does not wait for the checkpoint lock, would report busy
// and leave the destroyed key's frames in the WAL); once the round ends,
// it truncates the WAL. The round here is the checkpointer's lock held,
// not a checkpoint in SQLite: the test shows the wait, not the busy.
func TestForgetWaitsForACheckpointUnderWay(t *testing.T) {
	ctx := context.Background()
	db, path := checkpointDB(t, 64)
	issued := testutil.Parse(t, testutil.MethodEvent(1, "issued", `,"code":"K4829Z"`))
	_, err := db.Append(ctx, []Pending{{Event: issued, Source: SourceFile}}, nil)
	require.NoError(t, err)
	other, err := sql.Open(driverName, "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer other.Close()

	db.ckpt.lock() // a round under way
	type result struct {
		res ForgetResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := db.Forget(ctx, []domain.ID{issued.AccessMethodID}, nil)
		done <- result{res, err}
	}()
	// Forget's transaction commits; its TRUNCATE then waits for the round.
	require.Eventually(t, func() bool {
		var n int
		err := other.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE event_type = ?`, TypeCodesForgotten).Scan(&n)
		return err == nil && n == 1
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, other.Close()) // no reader of ours keeps the WAL
	select {
	case r := <-done:
		db.ckpt.unlock()
		t.Fatalf("Forget checkpointed beside a round under way: %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	db.ckpt.unlock()
	r := <-done
	require.NoError(t, r.err)
	assert.Len(t, r.res.Forgotten, 1)
	assert.True(t, r.res.Checkpointed, "the WAL is truncated once the round is over")
	fi, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	assert.Zero(t, fi.Size(), "the WAL holds no frame of the destroyed key")
}

// TestHoldEndsWithItsContext: a hold waiting for a round under way gives
// up when its context ends, and takes the lock once the round is over.
func TestHoldEndsWithItsContext(t *testing.T) {
	c := &checkpointer{sem: make(chan struct{}, 1)}
	c.lock() // a round under way
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	type held struct {
		release func()
		err     error
	}
	got := make(chan held, 1)
	go func() {
		release, err := c.hold(ctx)
		got <- held{release, err}
	}()
	select {
	case h := <-got:
		require.ErrorIs(t, h.err, context.DeadlineExceeded)
		assert.Nil(t, h.release)
	case <-time.After(10 * time.Second):
		t.Fatal("the hold kept waiting after its context ended")
	}
	assert.Zero(t, c.holds.Load(), "no hold waits any more")
	c.unlock()
	// A context that has ended already gets its error, also with the lock free.
	for range 20 {
		release, err := c.hold(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Nil(t, release)
	}
	assert.True(t, c.tryLock(), "no ended hold kept the lock")
	c.unlock()
	assert.Panics(t, c.unlock, "an unlock of a free lock")
	release, err := c.hold(context.Background())
	require.NoError(t, err)
	assert.False(t, c.tryLock(), "the hold has the lock")
	release()
	assert.True(t, c.tryLock(), "released")
	c.unlock()

	var none *checkpointer // PostgreSQL, read only
	release, err = none.hold(context.Background())
	require.NoError(t, err)
	release()
}

// TestForgetStopsWaitingWhenCancelled: a Forget whose context ends while
// its TRUNCATE waits for a round under way returns at once, saying that
// the codes are forgotten and the WAL is not truncated.
func TestForgetStopsWaitingWhenCancelled(t *testing.T) {
	db, path := checkpointDB(t, 64)
	issued := testutil.Parse(t, testutil.MethodEvent(1, "issued", `,"code":"K4829Z"`))
	_, err := db.Append(context.Background(), []Pending{{Event: issued, Source: SourceFile}}, nil)
	require.NoError(t, err)
	other, err := sql.Open(driverName, "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer other.Close()

	db.ckpt.lock() // a round under way, for the whole test
	defer db.ckpt.unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := db.Forget(ctx, []domain.ID{issued.AccessMethodID}, nil)
		done <- err
	}()
	require.Eventually(t, func() bool {
		var n int
		err := other.QueryRow(`SELECT count(*) FROM events WHERE event_type = ?`, TypeCodesForgotten).Scan(&n)
		return err == nil && n == 1
	}, 10*time.Second, 5*time.Millisecond, "Forget's transaction committed")
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		assert.ErrorContains(t, err, "the codes are forgotten, but the WAL")
	case <-time.After(10 * time.Second):
		t.Fatal("Forget kept waiting for the round after its context ended")
	}
}
