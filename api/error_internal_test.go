package api

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestWriteErrorClientGone: once the request's context is done, the error a
// canceled query returns is a client that went away (499, logged at debug),
// whether it wraps the context's error or is the broken connection pgx
// leaves behind; with the client still there a broken connection is an
// internal error.
func TestWriteErrorClientGone(t *testing.T) {
	for _, tc := range []struct {
		name     string
		canceled bool
		err      error
		logged   bool
	}{
		{"canceled, context error", true, fmt.Errorf("read: %w", context.Canceled), false},
		{"canceled, bad connection", true, fmt.Errorf("read access method: %w", driver.ErrBadConn), false},
		{"live, bad connection", false, fmt.Errorf("read access method: %w", driver.ErrBadConn), true},
		{"canceled, other error", true, errors.New("boom"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := &Server{log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.canceled {
				cancel()
			} else {
				defer cancel()
			}
			r := httptest.NewRequest("GET", "/v1/access_methods/x", nil).WithContext(ctx)
			w := httptest.NewRecorder()
			s.writeError(w, r, tc.err)
			assert.Equal(t, tc.logged, bytes.Contains(logs.Bytes(), []byte("level=ERROR")), logs.String())
		})
	}
}
