package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEventsQueryPlans checks that listing the log is a range scan: by seq,
// or by event type through its index, never a scan of the whole log.
func TestEventsQueryPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "a.db"), Options{})
	require.NoError(t, err)
	defer db.Close()
	for _, tc := range []struct {
		byType bool
		args   []any
		want   string
	}{
		{false, []any{0, 10}, "SEARCH events USING INTEGER PRIMARY KEY (rowid>?)"},
		{true, []any{0, "access_method.deleted", 10}, "SEARCH events USING INDEX events_event_type (event_type=? AND rowid>?)"},
	} {
		rows, err := db.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+eventsQuery(tc.byType), tc.args...)
		require.NoError(t, err)
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
			plan = append(plan, detail)
		}
		require.NoError(t, rows.Err())
		rows.Close()
		assert.Equal(t, []string{tc.want}, plan, "by type: %v", tc.byType)
	}
}
