package testutil

import (
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/generate"
)

// Stream returns generate's stream for (methods, seed): each event's JSON,
// in arrival order.
func Stream(tb testing.TB, methods int, seed uint64) [][]byte {
	tb.Helper()
	var out [][]byte
	require.NoError(tb, generate.Stream(generate.Options{Methods: methods, Seed: seed}, func(b []byte) error {
		out = append(out, b)
		return nil
	}))
	return out
}

// First returns the first n events of generate's stream for seed (from
// enough access methods to make n events).
func First(tb testing.TB, n int, seed uint64) [][]byte {
	tb.Helper()
	out := make([][]byte, 0, n)
	errEnough := errors.New("enough")
	err := generate.Stream(generate.Options{Methods: n/4 + 10, Seed: seed}, func(b []byte) error {
		if len(out) == n {
			return errEnough
		}
		out = append(out, b)
		return nil
	})
	if !errors.Is(err, errEnough) {
		require.NoError(tb, err)
	}
	require.Len(tb, out, n, "generate made too few events")
	return out
}

// Events returns generate's stream for (methods, seed), parsed.
func Events(tb testing.TB, methods int, seed uint64) []*domain.Event {
	tb.Helper()
	return ParseAll(tb, Stream(tb, methods, seed))
}

// ParseAll parses every event of raws; a malformed one fails tb.
func ParseAll(tb testing.TB, raws [][]byte) []*domain.Event {
	tb.Helper()
	events := make([]*domain.Event, len(raws))
	for i, raw := range raws {
		e, err := domain.ParseEvent(raw)
		require.NoError(tb, err, "event %d: %s", i, raw)
		events[i] = e
	}
	return events
}

// Parse parses one event; a malformed one fails tb.
func Parse(tb testing.TB, raw string) *domain.Event {
	tb.Helper()
	e, err := domain.ParseEvent([]byte(raw))
	require.NoError(tb, err, "%s", raw)
	return e
}

// WriteEndless writes generate's streams for seeds 1, 2, ... (1000 access
// methods each) to w as JSON Lines until a write fails, then returns. It
// takes no testing.TB: run it in a goroutine of its own.
func WriteEndless(w io.Writer) {
	for seed := uint64(1); ; seed++ {
		err := generate.Stream(generate.Options{Methods: 1000, Seed: seed}, func(b []byte) error {
			_, err := w.Write(append(b, '\n'))
			return err
		})
		if err != nil {
			return
		}
	}
}
