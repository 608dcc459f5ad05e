package projection_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection/projectiontest"
	"github.com/amtrack/amtrack/store"
)

// TestSnapshotAcrossSwap reads the read model in a snapshot that began
// before a rebuild's swap: it must see the read model whole (the old
// tables), never the new tables as empty. On PostgreSQL a snapshot taken
// before a table was created reads it as empty, so without the snapshot's
// ACCESS SHARE locks (store.DB.LockInSnapshots) the count read after the
// swap is 0; with them the swap waits for the snapshot to end.
func TestSnapshotAcrossSwap(t *testing.T) {
	ctx := context.Background()
	p := projectiontest.MustOpen(t)
	projectiontest.Append(t, p, testutil.Events(t, 40, 7), func() int { return 50 })
	var want int
	require.NoError(t, p.DB().Reader().QueryRowContext(ctx, `SELECT count(*) FROM access_methods`).Scan(&want))
	require.Equal(t, 40, want)

	rebuilt := make(chan error, 1)
	err := p.DB().View(ctx, func(s *store.Snapshot) error {
		if _, _, err := s.Log().Head(ctx); err != nil { // the snapshot is taken
			return err
		}
		go func() { _, err := p.Rebuild(ctx, nil); rebuilt <- err }()
		// Long enough for the rebuild of 40 methods to reach its swap.
		select {
		case err := <-rebuilt:
			rebuilt <- err // SQLite: the swap went ahead; the snapshot keeps its tables
		case <-time.After(time.Second):
		}
		var n int
		if err := s.QueryRowContext(ctx, `SELECT count(*) FROM access_methods`).Scan(&n); err != nil {
			return err
		}
		assert.Equal(t, want, n, "access methods seen by a snapshot begun before the swap")
		// A further result set (on PostgreSQL, another session importing
		// the snapshot) asks for its own lock while the swap waits for
		// this snapshot's: the swap must give way, not both wait.
		rows, err := s.QueryContext(ctx, `SELECT count(*) FROM access_methods`)
		if err != nil {
			return err
		}
		defer rows.Close()
		require.True(t, rows.Next())
		require.NoError(t, rows.Scan(&n))
		assert.Equal(t, want, n, "access methods seen by a cursor of that snapshot")
		return rows.Err()
	})
	require.NoError(t, err)
	require.NoError(t, <-rebuilt)
	var n int
	require.NoError(t, p.DB().Reader().QueryRowContext(ctx, `SELECT count(*) FROM access_methods`).Scan(&n))
	assert.Equal(t, want, n, "after the swap")
}
