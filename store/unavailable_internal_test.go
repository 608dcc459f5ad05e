package store

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtrack/amtrack/domain"
)

// TestUnavailableIsTheServers: only the engine's own out-of-room or
// unreachable errors make a write unavailable; a caller's canceled or
// timed-out context (a net.Error too) is not, on either engine, and
// PostgreSQL's reading of broken connections does not apply to SQLite.
func TestUnavailableIsTheServers(t *testing.T) {
	for _, tc := range []struct {
		engine Engine
		err    error
		want   bool
	}{
		{SQLite, fmt.Errorf("append: %w", context.DeadlineExceeded), false},
		{Postgres, fmt.Errorf("append: %w", context.DeadlineExceeded), false},
		{Postgres, fmt.Errorf("append: %w", context.Canceled), false},
		{SQLite, fmt.Errorf("read: %w", io.ErrUnexpectedEOF), false},
		{Postgres, fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
	} {
		got := (&DB{engine: tc.engine}).unavailable(tc.err)
		assert.Equal(t, tc.want, domain.ErrorCode(got) == domain.EUnavailable, "%s: %v", tc.engine, tc.err)
	}
}
