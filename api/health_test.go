package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/store"
)

// refuseWrites makes every write probe of db fail, as a full disk would:
// a trigger that aborts the probe's update. PostgreSQL's triggers call a
// function, which raises disk_full, the error a server out of room gives.
func refuseWrites(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, db.ProbeWrite(ctx), "the probe creates its table")
	stmts := []string{`CREATE TRIGGER refuse_probe BEFORE UPDATE ON write_probe
			BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`}
	if db.Engine() == store.Postgres {
		stmts = []string{`CREATE FUNCTION refuse_probe() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$`,
			`CREATE TRIGGER refuse_probe BEFORE UPDATE ON write_probe FOR EACH ROW EXECUTE FUNCTION refuse_probe()`}
	}
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}))
}

// TestReadyzWriteProbe checks that /readyz is ready only when the
// database takes a write: not ready (503, with a reason) when the write
// fails, though the database still answers reads.
func TestReadyzWriteProbe(t *testing.T) {
	tests := []struct {
		name   string
		breaks func(t *testing.T, db *store.DB)
		status int
		reason string
	}{
		{name: "healthy", status: http.StatusOK},
		{name: "writes refused", breaks: refuseWrites, status: http.StatusServiceUnavailable, reason: "refuses writes"},
		{name: "database closed", breaks: func(t *testing.T, db *store.DB) { require.NoError(t, db.Close()) },
			status: http.StatusServiceUnavailable, reason: "does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := seeded(t)
			if tt.breaks != nil {
				tt.breaks(t, p.DB())
			}
			c := newClient(t, api.NewServer(p, api.Options{WriteProbe: p.DB()}).Handler())
			res := c.get("/readyz")
			require.Equal(t, tt.status, res.status, "%s", res.body)
			assert.Equal(t, "application/json", res.header.Get("Content-Type"))
			body := res.json(t)
			if tt.status == http.StatusOK {
				assert.Equal(t, "ready", body["status"])
				return
			}
			assert.Equal(t, "not_ready", body["status"])
			assert.Contains(t, body["reason"], tt.reason)
		})
	}
}

// countingProber counts its probes and answers err.
type countingProber struct {
	calls atomic.Int64
	err   error
}

func (p *countingProber) ProbeWrite(context.Context) error {
	p.calls.Add(1)
	return p.err
}

// TestReadyzProbeCached checks that a flood of /readyz probes the
// database once per TTL, and that a failed probe is remembered too.
func TestReadyzProbeCached(t *testing.T) {
	p, _ := seeded(t)
	for _, tt := range []struct {
		name      string
		ttl       time.Duration
		err       error
		wantCalls int64
		status    int
	}{
		{"cached", time.Hour, nil, 1, http.StatusOK},
		{"failure cached", time.Hour, errors.New("disk full"), 1, http.StatusServiceUnavailable},
		{"no cache", 0, nil, 40, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prober := &countingProber{err: tt.err}
			srv := api.NewServer(p, api.Options{WriteProbe: prober})
			api.SetProbeTTL(srv, tt.ttl)
			base, _ := serve(t, srv)
			statuses := make([]int, 40)
			var wg sync.WaitGroup
			for i := range statuses {
				wg.Go(func() {
					res, err := http.Get(base + "/readyz")
					if err != nil {
						return // status 0 fails below
					}
					res.Body.Close()
					statuses[i] = res.StatusCode
				})
			}
			wg.Wait()
			for _, st := range statuses {
				assert.Equal(t, tt.status, st)
			}
			assert.Equal(t, tt.wantCalls, prober.calls.Load(), "probes for %d requests", len(statuses))
		})
	}
}

// switchingProber answers the error it holds at the time of each probe.
type switchingProber struct {
	mu  sync.Mutex
	err error
}

func (p *switchingProber) set(err error) { p.mu.Lock(); p.err = err; p.mu.Unlock() }

func (p *switchingProber) ProbeWrite(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// TestReadyzLogsFailureOnce checks that a failing write probe is logged
// when the answer changes, not once per /readyz: the route is open without
// a token, and the disk the log goes to may be the full one.
func TestReadyzLogsFailureOnce(t *testing.T) {
	p, _ := seeded(t)
	var logs testutil.Buffer
	prober := &switchingProber{err: errors.New("database or disk is full")}
	srv := api.NewServer(p, api.Options{WriteProbe: prober, Logger: newLogger(&logs)})
	api.SetProbeTTL(srv, 0) // every request probes
	c := newClient(t, srv.Handler())
	probe := func(n, status int) {
		t.Helper()
		for range n {
			require.Equal(t, status, c.get("/readyz").status)
		}
	}
	probe(20, http.StatusServiceUnavailable)
	assert.Equal(t, 1, strings.Count(logs.String(), "not ready: the database refuses writes"), logs.String())
	prober.set(nil)
	probe(3, http.StatusOK)
	prober.set(errors.New("disk I/O error"))
	probe(5, http.StatusServiceUnavailable)
	assert.Equal(t, 2, strings.Count(logs.String(), "not ready: the database refuses writes"), logs.String())
}
