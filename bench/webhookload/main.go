// Command webhookload sends signed webhooks to one or more `amtrack serve`
// processes and reports how many were acknowledged a second, for
// bench/engines.sh. It works as BenchmarkWebhook in cmd/amtrack does, but
// against servers someone else started (on any engine, and more than one
// on a shared database): every request is built and signed (svix headers,
// the Standard Webhooks scheme Seam uses) before the clock starts, each
// sender owns one keep-alive connection, writes the request's bytes and
// reads the answer with http.ReadResponse, so the load generator takes as
// little as it can of the cores it shares with the servers.
//
//	webhookload -urls http://127.0.0.1:8080 -senders 16 -n 20000 -pids 1234
//
// It prints one line of key=value pairs: events, seconds, events_per_s,
// server_cpu_us_per_event (the user+system CPU of -pids over the timed
// window, per event), client_cpu_us_per_event and events_per_commit (from
// the servers' /metrics). Any answer other than a 200 that is not a
// duplicate ends it with exit status 1.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/amtrack/amtrack/generate"
)

func main() {
	urls := flag.String("urls", "", "comma-separated base URLs of the serve processes (senders are spread over them round robin)")
	senders := flag.Int("senders", 1, "concurrent senders, one keep-alive connection each")
	n := flag.Int("n", 10000, "webhooks to send (distinct generated events)")
	seed := flag.Uint64("seed", 7, "generate's seed for the events")
	pids := flag.String("pids", "", "comma-separated pids whose CPU time is the server's")
	flag.Parse()
	secret := strings.TrimSpace(os.Getenv("SEAM_WEBHOOK_SECRET"))
	if *urls == "" || secret == "" || *senders < 1 || *n < 1 {
		fmt.Fprintln(os.Stderr, "webhookload: need -urls, -senders >= 1, -n >= 1 and SEAM_WEBHOOK_SECRET")
		os.Exit(2)
	}
	if err := run(strings.Split(*urls, ","), *senders, *n, *seed, parsePids(*pids), secret); err != nil {
		fmt.Fprintln(os.Stderr, "webhookload:", err)
		os.Exit(1)
	}
}

func parsePids(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if p, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func run(bases []string, senders, n int, seed uint64, pids []int, secret string) error {
	raw, err := events(n, seed)
	if err != nil {
		return err
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	hosts := make([]string, len(bases))
	for i, b := range bases {
		hosts[i] = strings.TrimPrefix(strings.TrimSuffix(b, "/"), "http://")
	}
	// Request i goes over sender i%senders, whose connection is to host
	// (i%senders)%len(hosts); its Host header says so.
	now := time.Now()
	reqs := make([][]byte, n)
	for i, body := range raw {
		msgID := "msg_" + strconv.Itoa(i)
		sig, err := wh.Sign(msgID, now, body)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "POST /webhooks/seam HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n",
			hosts[(i%senders)%len(hosts)], len(body))
		fmt.Fprintf(&buf, "Svix-Id: %s\r\nSvix-Timestamp: %d\r\nSvix-Signature: %s\r\n\r\n", msgID, now.Unix(), sig)
		buf.Write(body)
		reqs[i] = buf.Bytes()
	}
	conns := make([]*rawConn, senders)
	for s := range conns {
		c, err := net.Dial("tcp", hosts[s%len(hosts)])
		if err != nil {
			return err
		}
		defer c.Close()
		conns[s] = &rawConn{Conn: c, r: bufio.NewReader(c)}
	}

	server0, client0 := pidsCPU(pids), selfCPU()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s, c := range conns {
		wg.Go(func() {
			for i := s; i < len(reqs); i += senders {
				status, body, err := c.roundTrip(reqs[i])
				var reply struct {
					Duplicate bool `json:"duplicate"`
				}
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
	server1, client1 := pidsCPU(pids), selfCPU()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if len(all) > 0 {
		return errors.Join(all...)
	}

	var batchSum, batchCount float64
	for _, b := range bases {
		m, err := metrics(b)
		if err != nil {
			return err
		}
		batchSum += m["amtrack_append_batch_size_sum"]
		batchCount += m["amtrack_append_batch_size_count"]
	}
	perCommit := 0.0
	if batchCount > 0 {
		perCommit = batchSum / batchCount
	}
	fmt.Printf("events=%d seconds=%.3f events_per_s=%.0f server_cpu_us_per_event=%.1f client_cpu_us_per_event=%.1f events_per_commit=%.1f\n",
		n, elapsed.Seconds(), float64(n)/elapsed.Seconds(),
		float64((server1-server0).Microseconds())/float64(n),
		float64((client1-client0).Microseconds())/float64(n), perCommit)
	return nil
}

// events returns the first n events of generate's stream for seed, each a
// distinct event id.
func events(n int, seed uint64) ([][]byte, error) {
	out := make([][]byte, 0, n)
	errEnough := errors.New("enough")
	err := generate.Stream(generate.Options{Methods: n/4 + 10, Seed: seed}, func(b []byte) error {
		if len(out) == n {
			return errEnough
		}
		out = append(out, bytes.Clone(b))
		return nil
	})
	if !errors.Is(err, errEnough) && err != nil {
		return nil, err
	}
	if len(out) < n {
		return nil, fmt.Errorf("generate made %d events, not %d", len(out), n)
	}
	return out, nil
}

// rawConn is one keep-alive connection that sends pre-built requests.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

// roundTrip writes one request and reads its response; a server that
// stops answering fails it after a minute instead of hanging the run.
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

// metrics reads a server's /metrics: every sample line's value by its name.
func metrics(base string) (map[string]float64, error) {
	res, err := http.Get(strings.TrimSuffix(base, "/") + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	text, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, l := range strings.Split(string(text), "\n") {
		if name, v, ok := strings.Cut(l, " "); ok && !strings.HasPrefix(l, "#") {
			out[name], _ = strconv.ParseFloat(v, 64)
		}
	}
	return out, nil
}

// pidsCPU is the summed user+system CPU time of pids (Linux /proc; a pid
// that is gone counts 0).
func pidsCPU(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// utime and stime are the 14th and 15th fields, in clock ticks
		// (100/s on Linux), after the command in parentheses.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return total
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
