package projection_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// TestCacheSeesOtherProcessAfterOtherWrites: another process's commit is
// noticed even when the first transaction to see it caches nothing (a
// write probe, as /readyz runs every second beside ingest or sync). Before,
// that transaction swallowed the change and the next append folded onto a
// stale cached state.
func TestCacheSeesOtherProcessAfterOtherWrites(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	a, b := openHandle(t, target), openHandle(t, target)
	appendOne := func(p interface {
		Append(context.Context, []store.Pending) ([]store.Outcome, error)
	}, n int, typ, extra string) {
		t.Helper()
		raw := testutil.Payload{N: n, Type: typ, Extra: extra}.JSON()
		raw = strings.Replace(raw, testutil.MethodID(n), testutil.MethodID(1), 1) // every event is about method 1
		outs, err := p.Append(ctx, []store.Pending{{Event: testutil.Parse(t, raw), Source: store.SourceFile}})
		require.NoError(t, err)
		require.NoError(t, outs[0].Err)
	}
	appendOne(a, 1, "created", "")              // a caches method 1
	appendOne(b, 2, "issued", `,"code":"1234"`) // another process issues it
	require.NoError(t, a.DB().ProbeWrite(ctx))  // a writes, caching nothing
	appendOne(a, 3, "revoked", "")              // a must fold onto the issued state
	_, diffs, err := a.Verify(ctx, 10)
	require.NoError(t, err)
	assert.Empty(t, diffs, "the read model matches the log")
	m, err := a.AccessMethod(ctx, domain.MustParseID(testutil.MethodID(1)))
	require.NoError(t, err)
	assert.Equal(t, 1, m.IssueCount)
	assert.Empty(t, m.Anomalies, "no revoked_before_issue")
}
