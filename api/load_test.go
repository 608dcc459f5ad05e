package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
)

// TestLoad measures latency and throughput with many concurrent clients
// over real HTTP on loopback. It runs only when asked:
//
//	AMTRACK_LOAD=1 go test ./api -run TestLoad -v
//
// AMTRACK_LOAD_CLIENTS (default 64) and AMTRACK_LOAD_DURATION (default
// 10s) tune it. With AMTRACK_LOAD_URL it loads a running server (such as
// amtrack demo or serve) instead of one it starts over 5000 generated
// methods. Each client GETs a method's state, or (one time in four) a
// grant's history, over a keep-alive connection.
func TestLoad(t *testing.T) {
	if os.Getenv("AMTRACK_LOAD") != "1" {
		t.Skip("a load measurement: set AMTRACK_LOAD=1 to run it")
	}
	clients := envInt(t, "AMTRACK_LOAD_CLIENTS", 64)
	duration, err := time.ParseDuration(envOr("AMTRACK_LOAD_DURATION", "10s"))
	require.NoError(t, err)

	base := os.Getenv("AMTRACK_LOAD_URL")
	if base == "" {
		p, _, _ := benchData(t)
		srv := api.NewServer(p, api.Options{})
		var stop func() error
		base, stop = serve(t, srv)
		defer stop()
	}
	transport := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	methods, grants := discover(t, hc, base)
	t.Logf("%d methods, %d grants at %s", len(methods), len(grants), base)

	type sample struct {
		route string
		d     time.Duration
	}
	results := make([][]sample, clients)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; ctx.Err() == nil; i += clients {
				route, target := "state", base+"/v1/access_methods/"+methods[i%len(methods)]
				if i%4 == 3 {
					route, target = "history", base+"/v1/access_grants/"+grants[i%len(grants)]+"/events"
				}
				t0 := time.Now()
				res, err := hc.Get(target)
				if err != nil {
					t.Errorf("%s: %v", target, err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Errorf("%s: %d", target, res.StatusCode)
					return
				}
				results[c] = append(results[c], sample{route, time.Since(t0)})
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	byRoute := map[string][]time.Duration{}
	for _, rs := range results {
		for _, s := range rs {
			byRoute[s.route] = append(byRoute[s.route], s.d)
			byRoute["all"] = append(byRoute["all"], s.d)
		}
	}
	for _, route := range []string{"state", "history", "all"} {
		ds := byRoute[route]
		require.NotEmpty(t, ds)
		slices.Sort(ds)
		msg := fmt.Sprintf("load %-7s clients=%d requests=%d req/s=%.0f p50=%v p99=%v max=%v", route, clients, len(ds),
			float64(len(ds))/elapsed.Seconds(), pct(ds, 50), pct(ds, 99), ds[len(ds)-1])
		t.Log(msg)
		fmt.Println(msg)
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100].Round(10 * time.Microsecond)
}

// discover finds method and grant ids through the API itself.
func discover(t *testing.T, hc *http.Client, base string) (methods, grants []string) {
	t.Helper()
	res, err := hc.Get(base + "/v1/access_methods?limit=1000")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var body struct {
		AccessMethods []struct {
			ID     string   `json:"access_method_id"`
			Grants []string `json:"access_grant_ids"`
		} `json:"access_methods"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	for _, m := range body.AccessMethods {
		methods = append(methods, m.ID)
		grants = append(grants, m.Grants...)
	}
	require.NotEmpty(t, methods)
	require.NotEmpty(t, grants)
	return methods, grants
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(t *testing.T, k string, def int) int {
	n, err := strconv.Atoi(envOr(k, strconv.Itoa(def)))
	require.NoError(t, err, k)
	return n
}
