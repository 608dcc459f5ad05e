package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
)

// checkpointer copies the WAL back into the database file beside the
// writer instead of inside its commits. SQLite's automatic checkpoint runs
// in every commit that leaves wal_autocheckpoint frames or more in the WAL,
// on the writer's connection: that commit (a rebuild's chunk, an ingest's
// batch, a group of webhooks) holds the writer for the whole copy and its
// fsyncs, and every other write waits. The writer's connection has it off
// (wal_autocheckpoint = 0); after each commit, run is told, and on a
// connection of its own it checkpoints once the WAL holds pages frames
// not yet copied, in PASSIVE mode: it never waits for the writer or for a
// reader, and copies what no reader still needs. The writer goes on
// appending to the WAL meanwhile.
//
// SQLite starts the WAL over only at a write that finds all of it copied,
// which a checkpoint racing a busy writer never leaves: the WAL would grow
// without end (a 30,000-webhook load left 528 MB of it, against 68 MB
// with the automatic checkpoint). So the checkpointer catches up in a few
// rounds and then leaves the frames the writer appended during the last
// one to the writer's next commit (committed), which copies them on the
// writer's connection before it lets go of the writer: a pause for those
// frames (at most the threshold's, but for a writer the copies cannot
// catch; see catchUp), not for the whole WAL, after which the next write
// starts it over (as with SQLite's own checkpoint, only once no reader's
// snapshot still needs the WAL's start: readers whose snapshots overlap
// without a gap keep it growing).
type checkpointer struct {
	conn  *sql.DB
	pages int64
	kick  chan struct{} // a commit happened (buffered 1: kicks coalesce)
	// sem is held while a checkpoint runs, and by hold: a lock that a
	// hold can stop waiting for when its context ends.
	sem chan struct{}
	// holds counts the holds waiting for sem: a catch-up ends after its
	// round under way when one waits.
	holds atomic.Int32
	// tail is set when a catch-up copied the WAL as it was when it began:
	// the writer's next commit copies the rest (committed).
	tail   atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}
}

// startCheckpointer opens a connection to dsn and starts checkpointing the
// WAL whenever a commit leaves pages frames in it not yet copied.
func startCheckpointer(ctx context.Context, dsn string, pages int) (*checkpointer, error) {
	conn, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	conn.SetConnMaxIdleTime(0)
	conn.SetConnMaxLifetime(0)
	// NOOP is SQLite 3.51's: an older SQLite (a build against the
	// system's library) would take it for PASSIVE and copy at every commit.
	var version string
	if err := conn.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&version); err != nil {
		conn.Close()
		return nil, err
	}
	if !versionAtLeast(version, 3, 51) {
		conn.Close()
		return nil, fmt.Errorf("SQLite %s is older than 3.51, which amtrack's checkpoints need", version)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &checkpointer{conn: conn, pages: int64(pages), kick: make(chan struct{}, 1), sem: make(chan struct{}, 1),
		cancel: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c, nil
}

// committed tells the checkpointer that a transaction committed on
// write, the writer's pool, whose lock the caller holds. It never waits for
// a checkpoint, but when the checkpointer has left the tail of the WAL to
// the writer, it copies it, on write.
func (c *checkpointer) committed(ctx context.Context, write *sql.DB) {
	if c.tail.Load() && c.tryLock() {
		// Errors as in run; a checkpoint that failed or found the lock
		// held (another process's checkpoint) leaves the tail for the next
		// commit. The commit is done: the caller's end does not stop it.
		if busy, _, _, err := walFrames(context.WithoutCancel(ctx), write, "PASSIVE"); err == nil && !busy {
			c.tail.Store(false)
		}
		c.unlock()
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		// The look (NOOP) copies nothing and takes no lock of ours: only a
		// catch-up does. An error (the disk full, the file gone) leaves the
		// frames in the WAL, where readers find them: the next commit tries
		// again, and the writer's own next write reports the trouble.
		_, log, copied, err := walFrames(ctx, c.conn, "NOOP")
		if err != nil || log-copied < c.pages {
			continue
		}
		// A tail left to the writer is its: a catch-up now would take the
		// lock its next commit tries for, and leave it nothing to copy
		// (after twelve rounds, more than the threshold is always left).
		// Only once the tail has grown past twice the threshold (the
		// writer's copies found another process's checkpoint, or failed)
		// does the checkpointer catch up again.
		if c.tail.Load() && log-copied < 2*c.pages {
			continue
		}
		c.lock()
		c.catchUp(copied, func() (bool, int64, int64, error) { return walFrames(ctx, c.conn, "PASSIVE") })
		c.unlock()
	}
}

// A catch-up checkpoints, from the frames already copied, until the frames
// left are few (a sixteenth of the threshold) or catchUpRounds have run and
// what is left is at most the threshold, then leaves them to the writer;
// each round copies what the writer appended during the one before. A
// writer that keeps more than the threshold uncopied (a bulk load) gets
// more rounds, up to catchUpMaxRounds, before the rest goes to it whatever
// its size: its share of a copy is what a catch-up leaves (at most the
// threshold, what SQLite's own checkpoint copied in one commit, unless
// twelve rounds do not bring it under) plus what commits add before the
// writer's next one copies it; the writer must take a copy for the WAL
// ever to start over. A hold that waits (Forget's or Compact's TRUNCATE,
// which copies everything) ends the catch-up after its round under way.
const (
	catchUpRounds    = 3
	catchUpMaxRounds = 12
)

// catchUp checkpoints as above through round (a PASSIVE checkpoint on the
// checkpointer's connection), from copied frames. A round that copies
// nothing ends it without handing anything to the writer: a reader's
// snapshot (a rebuild's fold, a verify) still needs the frames, and the
// writer could copy no more (each commit tries again). It returns the
// rounds run.
func (c *checkpointer) catchUp(copied int64, round func() (busy bool, log, copied int64, err error)) int {
	for n := 1; ; n++ {
		busy, log, now, err := round()
		if err != nil || busy || now == copied { // busy: another process checkpoints
			return n
		}
		copied = now
		if left := log - copied; left <= c.pages/16 || n >= catchUpRounds && left <= c.pages || n >= catchUpMaxRounds {
			c.tail.Store(true)
			return n
		}
		if c.holds.Load() > 0 {
			return n
		}
	}
}

// close stops the checkpointer, interrupting a checkpoint under way (the
// frames it did not copy stay in the WAL: the last connection to close
// copies them), and closes its connection.
func (c *checkpointer) close() error {
	c.cancel()
	<-c.done
	return c.conn.Close()
}

// hold keeps the checkpointer from starting a checkpoint until the
// returned release is called: a TRUNCATE checkpoint (Forget, Compact) would
// find the checkpoint lock held by it and report busy, as SQLite does not
// wait for that lock. It waits for a catch-up under way to end its round
// (at most one round: the catch-up sees it waiting), or for ctx to end,
// whose error it then returns. A nil checkpointer (PostgreSQL, read only)
// holds nothing.
func (c *checkpointer) hold(ctx context.Context) (release func(), err error) {
	if c == nil {
		return func() {}, nil
	}
	if err := ctx.Err(); err != nil { // ended already: not a coin toss with a free lock
		return nil, err
	}
	c.holds.Add(1)
	defer c.holds.Add(-1)
	select {
	case c.sem <- struct{}{}:
		return c.unlock, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *checkpointer) lock() { c.sem <- struct{}{} }
func (c *checkpointer) unlock() {
	select {
	case <-c.sem:
	default:
		panic("store: checkpointer unlocked while not locked")
	}
}

func (c *checkpointer) tryLock() bool {
	select {
	case c.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

// walFrames runs PRAGMA wal_checkpoint(mode) on conn and returns whether it
// found the checkpoint lock held (another connection checkpoints), the
// frames in the WAL and how many of them are copied into the database file.
// NOOP copies nothing.
func walFrames(ctx context.Context, conn *sql.DB, mode string) (busy bool, log, copied int64, err error) {
	err = conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &log, &copied)
	return busy, log, copied, err
}

// versionAtLeast reports whether the SQLite version "X.Y.Z" is at least
// major.minor.
func versionAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	x, err1 := strconv.Atoi(parts[0])
	y, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && (x > major || x == major && y >= minor)
}
