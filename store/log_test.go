package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/store"
)

// TestLogRefusesDamagedIDs stores rows whose id columns are not 16 bytes
// (what a damaged file or a foreign writer could leave) and requires every
// read to fail with an internal error naming the row, not to hand out a
// zero or truncated id.
func TestLogRefusesDamagedIDs(t *testing.T) {
	id := func(b byte, n int) []byte {
		out := make([]byte, n)
		for i := range out {
			out[i] = b
		}
		return out
	}
	for _, tc := range []struct {
		name                           string
		eventID, workspaceID, methodID []byte
		grantIDs                       []byte
		want                           string
	}{
		{"event_id", id(1, 15), id(2, 16), nil, nil, "event_id"},
		{"workspace_id", id(1, 16), id(2, 3), nil, nil, "workspace_id"},
		{"access_method_id", id(1, 16), id(2, 16), id(3, 17), nil, "access_method_id"},
		{"access_grant_ids", id(1, 16), id(2, 16), id(3, 16), id(4, 20), "access_grant_ids"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustOpen(t)
			err := db.Update(ctx, func(tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO events (seq, event_id, event_type, workspace_id, occurred_at,
					created_at, access_method_id, access_grant_ids, received_at, source, payload)
					VALUES (7, ?, 'access_method.created', ?, 1, 1, ?, ?, 1, 'file', '{}')`,
					tc.eventID, tc.workspaceID, tc.methodID, tc.grantIDs)
				return err
			})
			require.NoError(t, err)
			_, err = db.Log().Events(ctx, store.EventFilter{})
			require.Error(t, err)
			assert.Equal(t, domain.EInternal, domain.ErrorCode(err))
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "seq 7")
		})
	}
}
