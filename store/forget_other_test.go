package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// TestForgetSeenByAnotherProcess: a process that already opened a method's
// code (serve, say) stops revealing it as soon as another process forgets
// the method: the data key is never used from memory alone.
func TestForgetSeenByAnotherProcess(t *testing.T) {
	ctx := context.Background()
	target := dbtest.Target(t)
	serve := openTarget(t, target)
	issued := testutil.Parse(t, testutil.MethodEvent(1, "issued", `,"code":"K4829Z"`))
	_, err := serve.Append(ctx, []store.Pending{{Event: issued, Source: store.SourceFile}}, nil)
	require.NoError(t, err)
	code, err := serve.Log().Code(ctx, issued.ID)
	require.NoError(t, err)
	require.Equal(t, "K4829Z", code, "the code is revealed, and its key now in memory")

	other := openTarget(t, target)
	res, err := other.Forget(ctx, []domain.ID{issued.AccessMethodID}, nil)
	require.NoError(t, err)
	require.Len(t, res.Forgotten, 1)

	_, err = serve.Log().Code(ctx, issued.ID)
	assert.True(t, errors.Is(err, store.ErrCodesForgotten), "the first process no longer reveals it: %v", err)
}
