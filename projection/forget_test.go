package projection_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// TestForgottenInMethodHistory: the amtrack.codes_forgotten event is part
// of the method's history (the audit shows the forgetting), incrementally
// and after a rebuild, and changes nothing of its state.
func TestForgottenInMethodHistory(t *testing.T) {
	ctx := context.Background()
	p := MustOpen(t)
	issued := testutil.Parse(t, testutil.MethodEvent(1, "issued", `,"code":"K1234Z"`))
	_, err := p.Append(ctx, []store.Pending{{Event: issued, Source: store.SourceFile}})
	require.NoError(t, err)
	id := issued.AccessMethodID
	before, err := p.AccessMethod(ctx, id)
	require.NoError(t, err)

	_, err = p.DB().Forget(ctx, []domain.ID{id}, p.Apply)
	require.NoError(t, err)
	check := func(when string) {
		t.Helper()
		recs, err := p.MethodEvents(ctx, id, projection.HistoryFilter{})
		require.NoError(t, err)
		require.Len(t, recs, 2, when)
		assert.Equal(t, domain.TypeCodesForgotten, recs[1].Event.Type, "%s: the forgetting is in the method's history", when)
		after, err := p.AccessMethod(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, before.Version, after.Version, "%s: it does not fold", when)
		assert.Equal(t, before.LastEvent, after.LastEvent, when)
		assert.Equal(t, before.Status, after.Status, when)
	}
	check("incrementally")
	_, err = p.Rebuild(ctx, nil)
	require.NoError(t, err)
	check("after a rebuild")
	_, diffs, err := p.Verify(ctx, 10)
	require.NoError(t, err)
	assert.Empty(t, diffs)
}
