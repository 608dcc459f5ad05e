package projection

import (
	"context"

	"github.com/amtrack/amtrack/store"
)

// WarmReads exposes warmReads to the package's external tests.
var WarmReads = warmReads

// OnSwap has fn called inside every swap's transaction until the test
// ends.
func OnSwap(t interface{ Cleanup(func()) }, fn func(context.Context, *store.Tx)) {
	old := swapping
	swapping = fn
	t.Cleanup(func() { swapping = old })
}
