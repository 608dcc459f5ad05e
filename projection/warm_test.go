package projection_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/projection/projectiontest"
	"github.com/amtrack/amtrack/store"
)

// TestWarmReadsEveryBtree: before its swap a rebuild reads every page of
// the live tables and their indexes, so that the swap's DROP TABLE finds
// them in the cache. Each read must be planned on the b-tree it is meant
// to read (a count(*) the planner moved to a smaller index would leave the
// table's pages cold), and no table or index may be left out.
func TestWarmReadsEveryBtree(t *testing.T) {
	dbtest.SQLiteOnly(t, "PostgreSQL's DROP TABLE unlinks files: nothing is read first")
	ctx := context.Background()
	p := projectiontest.MustOpen(t)
	projectiontest.Append(t, p, testutil.Events(t, 30, 3), func() int { return 7 })
	_, err := p.Rebuild(ctx, nil) // the live tables are a rebuild's generation
	require.NoError(t, err)
	err = p.DB().View(ctx, func(s *store.Snapshot) error {
		reads, err := projection.WarmReads(ctx, s)
		require.NoError(t, err)
		live := []string{"access_methods", "access_method_grants", "access_method_keys", "access_grants"}
		var tables, indexes []string
		for _, r := range reads {
			plan := fmt.Sprint(dbtest.Rows(t, s, `EXPLAIN QUERY PLAN `+r.Query))
			t.Logf("%s: %s", r.Btree, plan)
			if slices.Contains(live, r.Btree) {
				assert.NotContains(t, plan, "INDEX", "the read of table %s", r.Btree)
				tables = append(tables, r.Btree)
				continue
			}
			assert.Contains(t, plan, "INDEX "+r.Btree, "the read of index %s", r.Btree)
			indexes = append(indexes, r.Btree)
		}
		assert.ElementsMatch(t, live, tables)
		// Each table's indexes: access_methods and access_grants by id,
		// the grants and keys by method.
		assert.Len(t, indexes, 4, "%v", indexes)
		return nil
	})
	require.NoError(t, err)
}
