package seam

import (
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", -1},
		{"0", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"86400", maxRetryAfter},
		{"-1", -1},
		{"soon", -1},
		{"1.5", -1},
		{"Fri, 27 Nov 2026 09:00:30 GMT", 30 * time.Second},
		{"Fri, 27 Nov 2026 08:00:00 GMT", 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.header, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{Backoff: 100 * time.Millisecond}
	for attempt, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		for range 50 {
			got := c.backoff(attempt)
			if got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", attempt, got, want/2, want)
			}
		}
	}
	for range 50 {
		if got := c.backoff(40); got < maxBackoff/2 || got > maxBackoff {
			t.Fatalf("backoff(40) = %s, want in [%s, %s]", got, maxBackoff/2, maxBackoff)
		}
	}
	if got := (&Client{}).backoff(0); got < DefaultBackoff/2 || got > DefaultBackoff {
		t.Fatalf("default backoff(0) = %s", got)
	}
}

func TestWindowCount(t *testing.T) {
	h, m := time.Hour, time.Minute
	tests := []struct {
		span, window, overlap time.Duration
		want                  int
	}{
		{m, h, 10 * m, 1},
		{h, h, 10 * m, 1},
		{h + m, h, 10 * m, 2},
		{2*h + 30*m, h, 10 * m, 3}, // ends 1h, 1h50, 2h30
		{h + 50*m, h, 10 * m, 2},
		{h + 51*m, h, 10 * m, 3},
		{3 * h, h, 0, 3},
	}
	for _, tt := range tests {
		if got := windowCount(tt.span, tt.window, tt.overlap); got != tt.want {
			t.Errorf("windowCount(%s, %s, %s) = %d, want %d", tt.span, tt.window, tt.overlap, got, tt.want)
		}
	}
}
