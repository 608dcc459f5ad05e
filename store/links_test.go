package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// TestCheckLogGrantLinks: verify's check of the grant links (on SQLite
// read from a sorted copy on disk, not sorted in memory) finds a link
// removed, a link to a grant the event does not name, and links at seqs
// with no event, inside the log and beyond its last event, each once, in
// seq order.
func TestCheckLogGrantLinks(t *testing.T) {
	dbtest.SQLiteOnly(t, "the edits need SQLite's foreign keys off; the sorted copy is SQLite's")
	ctx := context.Background()
	grant := "b0000000-0000-4000-8000-000000000001"
	for _, tc := range []struct {
		name  string
		edits []string
		want  []string
	}{
		{"untouched", nil, nil},
		{"a link removed", []string{"DELETE FROM event_grants WHERE seq = 2"},
			[]string{"seq 2: the link to access_grant " + grant + " (stream"}},
		{"a link to a seq without an event, inside the log", []string{"DELETE FROM events WHERE seq = 3"},
			[]string{"seq 3: the chain has an entry but the log has no event", "seq 3: event_grants links it to grant stream"}},
		{"a link beyond the last event", // the log has 6 events
			[]string{"INSERT INTO event_grants SELECT grant_stream, occurred_at + 1, created_at, event_id, seq + 100 FROM event_grants WHERE seq = 1"},
			[]string{"seq 101: event_grants links it to grant stream"}},
		{"a link to another grant",
			[]string{"INSERT INTO event_grants SELECT grant_stream + 1000, occurred_at, created_at, event_id, seq FROM event_grants WHERE seq = 4"},
			[]string{"seq 4: event_grants links it to grant stream"}},
	} {
		for _, walk := range []bool{false, true} { // the sorted copy's links, and the snapshot's sort
			t.Run(fmt.Sprintf("%s/walk=%v", tc.name, walk), func(t *testing.T) {
				target := dbtest.Target(t)
				db, err := store.Open(ctx, target, store.Options{Keyring: dbtest.Keyring(t, target), WalkIndexes: walk, SortedReads: !walk})
				require.NoError(t, err)
				t.Cleanup(func() { db.Close() })
				var events []*domain.Event
				for i := 1; i <= 6; i++ {
					events = append(events, testutil.Parse(t, testutil.Payload{N: i, Type: "issued", Grant: grant}.JSON()))
				}
				_, err = db.Append(ctx, pending(events...), nil)
				require.NoError(t, err)
				if len(tc.edits) > 0 {
					dbtest.Exec(t, target, append([]string{"DROP TRIGGER events_no_delete", "DROP TRIGGER event_grants_no_delete"}, tc.edits...)...)
				}
				var problems []string // those the triggers dropped for the edits cause are not what this checks
				for _, p := range checkLog(t, db, nil).Problems {
					if !strings.HasPrefix(p, "append-only trigger") {
						problems = append(problems, p)
					}
				}
				require.Len(t, problems, len(tc.want), "%q", problems)
				for i, w := range tc.want {
					assert.Contains(t, problems[i], w)
				}
			})
		}
	}
}
