package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/testutil"
)

// testWebhookSecret is the SEAM_WEBHOOK_SECRET of the servers these tests
// start (Seam's documented test secret).
const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// serveProc is `amtrack serve` running as a child process.
type serveProc struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	stdout *testutil.Buffer
	stderr *testutil.Buffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's error, once done
}

// verifyCmd is bin verify on db, with db's test key.
func verifyCmd(tb testing.TB, bin, db string) *exec.Cmd {
	cmd := exec.Command(bin, "verify", "--db", db)
	cmd.Env = append(os.Environ(), keyEnv(tb, db)...)
	return cmd
}

// startServe starts bin serve on db at a free loopback port with the test
// webhook secret and waits until it prints where it serves.
func startServe(tb testing.TB, bin, db string, args ...string) *serveProc {
	tb.Helper()
	args = append([]string{"serve", "--db", db, "--addr", "127.0.0.1:0", "--log-level", "warn"}, args...)
	p := &serveProc{cmd: exec.Command(bin, args...), stdout: &testutil.Buffer{}, stderr: &testutil.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "SEAM_WEBHOOK_SECRET="+testWebhookSecret, "AMTRACK_API_TOKEN=", "AMTRACK_ADDR=",
		"AMTRACK_LOG_LEVEL=", "AMTRACK_DB=", "AMTRACK_REVEAL_CODES=")
	p.cmd.Env = append(p.cmd.Env, keyEnv(tb, db)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	require.NoError(tb, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() { p.kill() })
	deadline := time.After(time.Minute)
	for {
		if m := servingLine.FindStringSubmatch(p.stdout.String()); m != nil {
			p.base = m[1]
			return p
		}
		select {
		case <-p.done:
			tb.Fatalf("serve ended before serving: %v\nstderr: %s", p.err, p.stderr)
		case <-deadline:
			tb.Fatalf("serve did not print its address in a minute; stderr: %s", p.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// kill ends the process with SIGKILL (no shutdown at all) and waits for it.
func (p *serveProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop ends the process with SIGTERM (graceful shutdown) and returns its
// exit error.
func (p *serveProc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		p.kill()
		return errors.New("serve did not stop within a minute of SIGTERM")
	}
	return p.err
}

// signedWebhook is a ready-to-send webhook: the body and its svix-*
// signature headers.
type signedWebhook struct {
	id     string
	body   []byte
	header http.Header
}

// webhookHeader returns the headers of a webhook of body sent as msgID at
// at: its svix-* signature and the JSON content type. It takes no
// testing.TB, so the senders' goroutines call it.
func webhookHeader(s *testutil.Signer, msgID string, at time.Time, body []byte) (http.Header, error) {
	h, err := s.Sign("svix-", msgID, at, body)
	if err != nil {
		return nil, err
	}
	h.Set("Content-Type", "application/json")
	return h, nil
}

// webhookReply is the body of a webhook's 200.
type webhookReply struct {
	OK        bool   `json:"ok"`
	EventID   string `json:"event_id"`
	Seq       int64  `json:"seq"`
	Duplicate bool   `json:"duplicate"`
}

// postWebhook sends one webhook. err is a transport error (the server is
// gone); otherwise status and, for a 200, the reply.
func postWebhook(ctx context.Context, hc *http.Client, base string, w signedWebhook) (status int, reply webhookReply, body []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhooks/seam", bytes.NewReader(w.body))
	if err != nil {
		return 0, reply, nil, err
	}
	req.Header = w.header
	res, err := hc.Do(req)
	if err != nil {
		return 0, reply, nil, err
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res.Body); err != nil {
		return 0, reply, nil, err
	}
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(buf.Bytes(), &reply); err != nil {
			return res.StatusCode, reply, buf.Bytes(), fmt.Errorf("decode %s: %w", buf.Bytes(), err)
		}
	}
	return res.StatusCode, reply, buf.Bytes(), nil
}

// newSenderClient is a keep-alive HTTP client for conns concurrent senders.
func newSenderClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, DisableCompression: true},
		Timeout:   time.Minute,
	}
}

// logIndex reads the whole log through GET /v1/events: each event id's seq
// and source.
func logIndex(t *testing.T, hc *http.Client, base string) map[string]struct {
	seq    int64
	source string
} {
	t.Helper()
	out := map[string]struct {
		seq    int64
		source string
	}{}
	for _, e := range walkEvents(t, hc, base) {
		out[e.id] = struct {
			seq    int64
			source string
		}{e.seq, e.source}
	}
	return out
}

// TestWebhookCrash runs the real binary, sends signed webhooks from many
// goroutines and kills the process with SIGKILL at a random moment, several
// times on the same database. After each kill `verify` passes (the read
// model committed with the log is consistent), and after each restart every
// event that got a 200 is in the log with the seq it was answered with; a
// re-sent acknowledged event is a duplicate with that seq. Events in flight
// at the kill may or may not be there.
func TestWebhookCrash(t *testing.T) {
	bin := buildBinary(t) // skips under -short
	const (
		rounds  = 5
		senders = 32
		perRnd  = 4000 // more than a round can send before its kill
	)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("AMTRACK_CRASH_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (set AMTRACK_CRASH_SEED to repeat the kill times)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	db := tempDB(t)
	events := testutil.First(t, rounds*perRnd, 42)
	idOf := func(raw []byte) string {
		var v struct {
			EventID string `json:"event_id"`
		}
		require.NoError(t, json.Unmarshal(raw, &v))
		return v.EventID
	}
	ids := make([]string, len(events))
	for i, raw := range events {
		ids[i] = idOf(raw)
	}
	signer := testutil.NewSigner(t, testWebhookSecret)
	hc := newSenderClient(senders)

	acked := map[string]int64{}   // event id -> the seq its 200 named
	var sent []int                // indexes of events sent in earlier rounds
	var lastInFlight map[int]bool // the previous round's events in flight at its kill
	// check reads the log of a restarted server: every acknowledged event
	// is there with its seq; events in flight at the kill may or may not be.
	check := func(round int, base string) {
		t.Helper()
		logged := logIndex(t, hc, base)
		for id, seq := range acked {
			got, ok := logged[id]
			if assert.True(t, ok, "event %s got a 200 (seq %d) but is not in the log", id, seq) {
				assert.Equal(t, seq, got.seq, id)
				assert.Equal(t, "webhook", got.source, id)
			}
		}
		in := 0
		for idx := range lastInFlight {
			if _, ok := logged[ids[idx]]; ok {
				in++
			}
		}
		t.Logf("after the kill of round %d: %d events in the log, %d acknowledged so far; of %d in flight at the kill, %d are in the log",
			round, len(logged), len(acked), len(lastInFlight), in)
	}
	for round := range rounds {
		srv := startServe(t, bin, db)
		if round > 0 {
			check(round, srv.base) // what earlier rounds acknowledged survived their kill
		}

		// This round's webhooks: new events, and earlier ones again (as
		// Seam's retries would): some acknowledged, some maybe not.
		var todo []int
		for i := round * perRnd; i < (round+1)*perRnd; i++ {
			todo = append(todo, i)
		}
		for range min(len(sent), 200) {
			todo = append(todo, sent[rng.IntN(len(sent))])
		}
		rng.Shuffle(len(todo), func(i, j int) { todo[i], todo[j] = todo[j], todo[i] })

		type result struct {
			idx   int
			reply webhookReply
		}
		var (
			mu       sync.Mutex
			results  []result
			inFlight = map[int]bool{} // sent, no answer
			refusals []string
		)
		ctx, cancel := context.WithCancel(context.Background())
		jobs := make(chan int)
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				for idx := range jobs {
					header, err := webhookHeader(signer, fmt.Sprintf("msg_%d_%d_%d", round, s, idx), time.Now(), events[idx])
					if !assert.NoError(t, err) { // not require: this is not the test's goroutine
						continue
					}
					w := signedWebhook{id: ids[idx], body: events[idx], header: header}
					mu.Lock()
					inFlight[idx] = true
					mu.Unlock()
					status, reply, body, err := postWebhook(ctx, hc, srv.base, w)
					mu.Lock()
					switch {
					case err != nil: // killed: no answer
					case status != http.StatusOK:
						refusals = append(refusals, fmt.Sprintf("%s: %d %s", ids[idx], status, body))
						delete(inFlight, idx)
					default:
						results = append(results, result{idx, reply})
						delete(inFlight, idx)
					}
					mu.Unlock()
					if err != nil {
						return
					}
				}
			})
		}
		killAfter := time.Duration(50+rng.IntN(451)) * time.Millisecond
		timer := time.NewTimer(killAfter)
		fired := false
		for _, idx := range todo {
			select {
			case jobs <- idx:
				continue
			case <-timer.C:
				fired = true
			}
			break
		}
		if !fired { // every job was handed out before the kill time
			<-timer.C
		}
		srv.kill()
		close(jobs)
		cancel()
		wg.Wait()

		assert.Empty(t, refusals, "every answer is a 200")
		var appended, dups int
		for _, r := range results {
			id := ids[r.idx]
			require.Equal(t, id, r.reply.EventID)
			require.True(t, r.reply.OK)
			if prev, ok := acked[id]; ok {
				assert.True(t, r.reply.Duplicate, "%s was acknowledged before: a duplicate", id)
				assert.Equal(t, prev, r.reply.Seq, "%s keeps its seq", id)
			}
			if r.reply.Duplicate {
				dups++
			} else {
				appended++
			}
			acked[id] = r.reply.Seq
			sent = append(sent, r.idx)
		}
		for idx := range inFlight {
			sent = append(sent, idx)
		}
		t.Logf("round %d: killed after %v: %d acknowledged (%d appended, %d duplicates), %d in flight",
			round+1, killAfter, len(results), appended, dups, len(inFlight))

		// The projection, committed with the log, matches it after the crash.
		out, err := verifyCmd(t, bin, db).CombinedOutput()
		require.NoError(t, err, "verify after the kill of round %d: %s", round+1, out)
		assert.Contains(t, string(out), "projection matches the log")

		lastInFlight = inFlight
	}

	require.NotEmpty(t, acked, "the server acknowledged webhooks before its kills")

	// A last restart: the last round's acknowledged events are there, and
	// the server stops cleanly.
	srv := startServe(t, bin, db)
	check(rounds, srv.base)
	require.NoError(t, srv.stop(), "a clean stop; stderr: %s", srv.stderr)
	out, err := verifyCmd(t, bin, db).CombinedOutput()
	require.NoError(t, err, "verify: %s", out)
	assert.Contains(t, string(out), "projection matches the log")
	t.Logf("%d events acknowledged over %d rounds; %s", len(acked), rounds, bytes.TrimSpace(out))
}
