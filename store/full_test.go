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

// TestFullDiskIsUnavailable: a write that the engine refuses for want of
// room is an unavailable error, so that a webhook answers 503 and Seam
// retries; nothing of the batch is stored. On SQLite the refusal is
// SQLITE_FULL, here from a page limit on the writer connection, as a full
// disk gives; on PostgreSQL it is the server's disk_full (SQLSTATE 53100),
// raised here by a trigger as a server whose disk filled would.
func TestFullDiskIsUnavailable(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	_, err := db.Append(ctx, pending(testutil.Parse(t, testutil.MethodEvent(1, "created", ""))), nil)
	require.NoError(t, err)
	before := dump(t, db)
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		if db.Engine() == store.Postgres {
			_, err := tx.ExecContext(ctx, `CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION USING ERRCODE = 'disk_full', MESSAGE = 'could not extend file: No space left on device'; END $$;
				CREATE TRIGGER disk_full BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION disk_full()`)
			return err
		}
		var pages int
		if err := tx.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages))
		return err
	}))
	big := `,"note":"` + strings.Repeat("x", 64<<10) + `"`
	var batch []*domain.Event
	for n := 2; n < 40; n++ {
		batch = append(batch, testutil.Parse(t, testutil.MethodEvent(n, "issued", big)))
	}
	_, err = db.Append(ctx, pending(batch...), nil)
	require.Error(t, err)
	assert.Equal(t, domain.EUnavailable, domain.ErrorCode(err), "%v", err)
	assert.Contains(t, domain.ErrorMessage(err), "cannot take writes now")
	assert.Contains(t, err.Error(), dbtest.ByEngine(db.Path(), "full", "No space left on device"), "the cause stays in the chain")
	assert.Equal(t, before, dump(t, db), "nothing of the batch is stored")
}
