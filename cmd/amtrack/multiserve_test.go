package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/dbtest"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/keyring"
)

// fleet is the serve processes of one database, as the senders see them:
// a process being restarted has no base.
type fleet struct {
	mu    sync.Mutex
	procs []*serveProc
	bases []string
}

// pick returns the address of process i, or of the other one while i is
// down, and which one it is ("" when all are down).
func (f *fleet) pick(i int) (string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.bases {
		j := (i + k) % len(f.bases)
		if b := f.bases[j]; b != "" {
			return b, j
		}
	}
	return "", -1
}

// base returns the address of process i, up.
func (f *fleet) base(i int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bases[i]
}

// set records process i (nil: down).
func (f *fleet) set(i int, p *serveProc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.procs[i], f.bases[i] = p, ""
	if p != nil {
		f.bases[i] = p.base
	}
}

// loggedEvent is one event of GET /v1/events.
type loggedEvent struct {
	seq    int64
	id     string
	source string
}

// walkEvents reads the whole log through GET /v1/events?after_seq=, from 0,
// page by page, as a consumer would: every event in the order served.
func walkEvents(t *testing.T, hc *http.Client, base string) []loggedEvent {
	t.Helper()
	var out []loggedEvent
	var after int64
	for {
		res, err := hc.Get(fmt.Sprintf("%s/v1/events?after_seq=%d&limit=500", base, after))
		require.NoError(t, err)
		var page struct {
			Events []struct {
				Seq    int64  `json:"seq"`
				Source string `json:"source"`
				Event  struct {
					EventID string `json:"event_id"`
				} `json:"event"`
			} `json:"events"`
		}
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.NoError(t, json.NewDecoder(res.Body).Decode(&page))
		res.Body.Close()
		if len(page.Events) == 0 {
			return out
		}
		for _, e := range page.Events {
			out = append(out, loggedEvent{e.Seq, e.Event.EventID, e.Source})
			after = e.Seq
		}
	}
}

// getBody returns the status and body of GET url.
func getBody(t *testing.T, hc *http.Client, url string) (int, string) {
	t.Helper()
	res, err := hc.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// TestMultiServe runs two real serve processes on one PostgreSQL schema,
// with the same key file and webhook secret, and sends them signed
// webhooks from several goroutines at once while one of them, in turn, is
// killed with SIGKILL and restarted, four times. A webhook without a 200
// is sent again, as Seam retries: with its message id, to whichever process
// is up. Then every acknowledged event is in the log once, with the seq its
// 200 named; each process serves the log in seq order, each event once;
// verify passes; both processes answer the same bytes about access methods
// and grant histories.
func TestMultiServe(t *testing.T) {
	base := dbtest.PostgresURL(t)
	bin := buildBinary(t) // skips under -short
	pg := dbtest.NewSchema(t, base)
	// The key file the test gives every process of pg (keyEnv), made
	// before the processes, which share it.
	_, _, err := keyring.LoadOrCreate(dbtest.KeyFile(t, pg))
	require.NoError(t, err)
	t.Setenv("AMTRACK_KEY", "")

	const (
		senders = 8
		kills   = 4
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	events := testutil.First(t, 40000, 5) // more than the senders get through
	parsed := make([]*domain.Event, len(events))
	for i, raw := range events {
		var err error
		parsed[i], err = domain.ParseEvent(raw)
		require.NoError(t, err)
	}

	f := &fleet{procs: make([]*serveProc, 2), bases: make([]string, 2)}
	for i := range 2 {
		f.set(i, startServe(t, bin, pg))
	}
	signer := testutil.NewSigner(t, testWebhookSecret)
	hc := newSenderClient(senders)

	var (
		mu       sync.Mutex
		acked    = map[string]int64{} // event id -> the seq its first 200 named
		ackedBy  = [2]int{}
		retries  int
		statuses = map[int]int{} // non-200 answers, by status
		sent     []int           // indexes of the events handed out
	)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for idx := range jobs {
				// One message id per event, kept across retries.
				msgID := fmt.Sprintf("msg_%d", idx)
				id := parsed[idx].ID.String()
				for attempt := 0; ; attempt++ {
					if ctx.Err() != nil {
						assert.NoError(t, ctx.Err(), "event %s never acknowledged", id)
						return
					}
					b, target := f.pick((s + attempt) % 2)
					if b == "" {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					header, err := webhookHeader(signer, msgID, time.Now(), events[idx])
					if !assert.NoError(t, err) { // not require: this is not the test's goroutine
						return
					}
					reqCtx, stop := context.WithTimeout(ctx, 10*time.Second)
					status, reply, body, err := postWebhook(reqCtx, hc, b, signedWebhook{id: id, body: events[idx], header: header})
					stop()
					if err == nil && status == http.StatusOK {
						assert.Equal(t, id, reply.EventID)
						mu.Lock()
						if prev, ok := acked[id]; ok {
							assert.Equal(t, prev, reply.Seq, "%s keeps its seq", id)
						} else {
							acked[id] = reply.Seq
						}
						ackedBy[target]++
						mu.Unlock()
						break
					}
					// Killed mid-request (no answer), or refused for now: a
					// 4xx would be a bug, not something to retry.
					if err == nil {
						assert.GreaterOrEqual(t, status, 500, "%s: %d %s", id, status, body)
					}
					mu.Lock()
					retries++
					if err == nil {
						statuses[status]++
					}
					mu.Unlock()
					time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond) // the package's source: goroutines share it
				}
			}
		})
	}

	// Feed the senders while one process, in turn, is killed and
	// restarted; then a little more, with both up.
	feedDone, stopFeed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(feedDone)
		defer close(jobs)
		for idx := range events {
			select {
			case jobs <- idx:
				mu.Lock()
				sent = append(sent, idx)
				mu.Unlock()
			case <-stopFeed:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	for k := range kills {
		time.Sleep(time.Duration(300+rng.IntN(400)) * time.Millisecond)
		i := k % 2
		f.mu.Lock()
		p := f.procs[i]
		f.mu.Unlock()
		f.set(i, nil)
		p.kill()
		f.set(i, startServe(t, bin, pg))
		mu.Lock()
		t.Logf("kill %d: process %d killed and restarted; %d acknowledged so far", k+1, i, len(acked))
		mu.Unlock()
	}
	time.Sleep(300 * time.Millisecond)
	close(stopFeed)
	<-feedDone
	wg.Wait()
	require.NoError(t, ctx.Err(), "the webhooks were acknowledged in time")

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d events sent, %d acknowledged (process 0: %d, process 1: %d), %d retries, non-200 answers %v",
		len(sent), len(acked), ackedBy[0], ackedBy[1], retries, statuses)
	require.Len(t, acked, len(sent), "every event sent was acknowledged in the end")
	assert.Positive(t, ackedBy[0])
	assert.Positive(t, ackedBy[1])
	assert.Positive(t, retries, "the kills cut requests short")

	// Seam delivers some events twice: to the other process, a duplicate
	// with the seq of the first delivery.
	for k := range 50 {
		idx := sent[rng.IntN(len(sent))]
		id := parsed[idx].ID.String()
		header, err := webhookHeader(signer, fmt.Sprintf("again_%d", k), time.Now(), events[idx])
		require.NoError(t, err)
		status, reply, body, err := postWebhook(context.Background(), hc, f.base(k%2), signedWebhook{id: id, body: events[idx], header: header})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, body)
		assert.True(t, reply.Duplicate, id)
		assert.Equal(t, acked[id], reply.Seq, id)
	}

	// Each process serves the whole log, in seq order, each event once,
	// the acknowledged seqs.
	var logs [2][]loggedEvent
	for i := range 2 {
		logs[i] = walkEvents(t, hc, f.base(i))
		seen := map[string]bool{}
		var last int64
		for _, e := range logs[i] {
			assert.Greater(t, e.seq, last, "process %d: seq order", i)
			last = e.seq
			assert.False(t, seen[e.id], "process %d: %s served twice", i, e.id)
			seen[e.id] = true
			assert.Equal(t, "webhook", e.source)
			seq, ok := acked[e.id]
			if assert.True(t, ok, "%s is in the log but was never acknowledged", e.id) {
				assert.Equal(t, seq, e.seq, e.id)
			}
		}
		assert.Len(t, logs[i], len(acked), "process %d: every acknowledged event, once", i)
	}
	assert.Equal(t, logs[0], logs[1], "both processes serve the same log")

	out, err := verifyCmd(t, bin, pg).CombinedOutput()
	require.NoError(t, err, "verify: %s", out)
	assert.Contains(t, string(out), "projection matches the log")

	// Both processes read the one read model: the same bytes.
	methods, grants := map[string]bool{}, map[string]bool{}
	for _, idx := range sent {
		e := parsed[idx]
		if e.IsMethodEvent() && len(methods) < 40 {
			methods[e.AccessMethodID.String()] = true
		}
		if e.IsGrantEvent() && len(grants) < 40 {
			grants[e.AccessGrantID.String()] = true
		}
	}
	require.NotEmpty(t, methods)
	require.NotEmpty(t, grants)
	same := func(path string) {
		t.Helper()
		s0, b0 := getBody(t, hc, f.base(0)+path)
		s1, b1 := getBody(t, hc, f.base(1)+path)
		assert.Equal(t, http.StatusOK, s0, "%s: %s", path, b0)
		assert.Equal(t, s0, s1, path)
		assert.Equal(t, b0, b1, path)
	}
	for id := range methods {
		same("/v1/access_methods/" + id)
	}
	for id := range grants {
		same("/v1/access_grants/" + id + "/events")
	}

	for i := range 2 {
		require.NoError(t, f.procs[i].stop(), "a clean stop; stderr: %s", f.procs[i].stderr)
		assert.NotContains(t, f.procs[i].stderr.String(), "level=ERROR")
	}
	out, err = verifyCmd(t, bin, pg).CombinedOutput()
	require.NoError(t, err, "verify after the stops: %s", out)
}
