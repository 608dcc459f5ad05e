package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/amtrack/amtrack/internal/testutil"
)

// BenchmarkWebhook measures signed webhook throughput over real HTTP on
// loopback: the real binary (`serve`, synchronous=FULL, a fresh database
// per run) receives b.N distinct generated events, pre-signed, from 1, 16
// or 64 concurrent keep-alive senders, with group commit (the default) or
// without (--commit-batch 1: one transaction, one fsync per webhook).
//
//	go test ./cmd/amtrack -run XXX -bench Webhook -benchtime 5000x
//
// Metrics: events/s; events/commit (the mean group size, from the server's
// amtrack_append_batch_size); writer-busy-% (the time in commits over the
// run's time); server-cpu-us/event and client-cpu-us/event
// (CPU time of the server process and of this process per event: their sum
// times events/s over the number of cores says how CPU-bound the run is).
func BenchmarkWebhook(b *testing.B) {
	bin := buildBenchBinary(b)
	for _, senders := range []int{1, 16, 64} {
		for _, group := range []bool{true, false} {
			name := fmt.Sprintf("senders=%d/group=%s", senders, map[bool]string{true: "on", false: "off"}[group])
			b.Run(name, func(b *testing.B) { benchWebhook(b, bin, senders, group) })
		}
	}
}

// buildBenchBinary builds amtrack into a temporary directory, or returns
// $AMTRACK_BENCH_BIN when it is set (a binary kept for perf to symbolize).
func buildBenchBinary(b *testing.B) string {
	b.Helper()
	if bin := os.Getenv("AMTRACK_BENCH_BIN"); bin != "" {
		return bin
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Skip("no go tool in PATH")
	}
	bin := filepath.Join(b.TempDir(), "amtrack")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// benchEvents caches generated events across runs (each run has a fresh
// database, so runs may send the same events).
var benchEvents struct {
	sync.Mutex
	raw [][]byte
}

func benchRaw(b *testing.B, n int) [][]byte {
	benchEvents.Lock()
	defer benchEvents.Unlock()
	if len(benchEvents.raw) < n {
		benchEvents.raw = testutil.First(b, max(n, 2*len(benchEvents.raw)), 7)
	}
	return benchEvents.raw[:n]
}

func benchWebhook(b *testing.B, bin string, senders int, group bool) {
	var args []string
	if !group {
		args = []string{"--commit-batch", "1"}
	}
	srv := startServe(b, bin, filepath.Join(b.TempDir(), "amtrack.db"), args...)
	defer srv.kill()

	// Everything the client can do ahead is done ahead: whole HTTP/1.1
	// requests (bodies, signatures valid for 5 minutes) and one open
	// keep-alive connection per sender. The senders write those bytes and
	// read the answers with http.ReadResponse, as wrk does, so the load
	// generator takes as little as it can of the two cores it shares with
	// the server (net/http's client costs about 50 µs of CPU a request).
	signer := testutil.NewSigner(b, testWebhookSecret)
	raw := benchRaw(b, b.N)
	host := strings.TrimPrefix(srv.base, "http://")
	now := time.Now()
	reqs := make([][]byte, b.N)
	for i, body := range raw {
		header, err := webhookHeader(signer, "msg_"+strconv.Itoa(i), now, body)
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = rawRequest(host, header, body)
	}
	conns := make([]*rawConn, senders)
	for s := range conns {
		var err error
		if conns[s], err = dialRaw(host); err != nil {
			b.Fatal(err)
		}
		defer conns[s].Close()
	}
	serverCPU0, clientCPU0 := procCPU(srv.cmd.Process.Pid), selfCPU()

	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s, c := range conns {
		wg.Go(func() {
			for i := s; i < len(reqs); i += senders {
				status, body, err := c.roundTrip(reqs[i])
				var reply webhookReply
				if err == nil && status == http.StatusOK {
					err = json.Unmarshal(body, &reply)
				}
				switch {
				case err != nil:
					errs <- fmt.Errorf("webhook %d: %w", i, err)
					return
				case status != http.StatusOK || reply.Duplicate:
					errs <- fmt.Errorf("webhook %d: %d %s", i, status, body)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatalf("%v; stderr: %s", err, srv.stderr)
	}

	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(0, "ns/op") // events/s is the figure; ns/op only repeats it
	if cpu := procCPU(srv.cmd.Process.Pid); cpu > 0 {
		b.ReportMetric(float64((cpu-serverCPU0).Microseconds())/float64(b.N), "server-cpu-us/event")
	}
	b.ReportMetric(float64((selfCPU()-clientCPU0).Microseconds())/float64(b.N), "client-cpu-us/event")
	m := metricValues(b, srv.base)
	if count := m["amtrack_append_batch_size_count"]; count > 0 {
		b.ReportMetric(m["amtrack_append_batch_size_sum"]/count, "events/commit")
	}
	// The share of the run the writer spent in commits: near 100, the one
	// writer goroutine is the bottleneck.
	b.ReportMetric(100*m["amtrack_append_commit_seconds_sum"]/elapsed.Seconds(), "writer-busy-%")
}

// rawRequest is the whole HTTP/1.1 request that POSTs body with header.
func rawRequest(host string, header http.Header, body []byte) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "POST /webhooks/seam HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", host, len(body))
	if err := header.Write(&buf); err != nil {
		panic(err) // writing to a bytes.Buffer does not fail
	}
	buf.WriteString("\r\n")
	buf.Write(body)
	return buf.Bytes()
}

// rawConn is one keep-alive connection that sends pre-built requests.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(host string) (*rawConn, error) {
	c, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, r: bufio.NewReader(c)}, nil
}

// roundTrip writes one request and reads its response; a server that
// stops answering fails it after a minute instead of hanging the benchmark.
func (c *rawConn) roundTrip(req []byte) (status int, body []byte, err error) {
	if err := c.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		return 0, nil, err
	}
	if _, err := c.Write(req); err != nil {
		return 0, nil, err
	}
	res, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err = io.ReadAll(res.Body)
	return res.StatusCode, body, err
}

// metricValues reads the server's /metrics: every sample line's value by
// its name.
func metricValues(b *testing.B, base string) map[string]float64 {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	text, err := io.ReadAll(res.Body)
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]float64{}
	for _, l := range strings.Split(string(text), "\n") {
		if name, v, ok := strings.Cut(l, " "); ok && !strings.HasPrefix(l, "#") {
			out[name], _ = strconv.ParseFloat(v, 64)
		}
	}
	return out
}

// procCPU is the user+system CPU time of process pid (Linux; 0 elsewhere).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) in parentheses:
	// utime and stime are the 14th and 15th fields, in clock ticks (100/s
	// on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
