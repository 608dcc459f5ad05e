package api_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
)

// rawRequest sends req as is on a new TCP connection to base and reads the
// answer.
func rawRequest(t *testing.T, base, req string) response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second))) // only prevents a hang
	// The server may answer and close before it has read a long request.
	go func() { _, _ = io.WriteString(conn, req) }()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// TestRawErrorsAreJSON sends requests that net/http or gorilla/mux answered
// themselves, in text or with a redirect, over raw TCP: every answer is a
// JSON error of the documented shape, with a correct Content-Length.
func TestRawErrorsAreJSON(t *testing.T) {
	p, _ := seeded(t)
	srv := api.NewServer(p, api.Options{})
	base, _ := serve(t, srv)
	c := newClient(t, srv.Handler())
	bigHeader := "X-Big: " + strings.Repeat("a", 80<<10) + "\r\n"

	tests := []struct {
		name     string
		req      string
		status   int
		errType  string
		contains string
	}{
		{"double slash", "GET //v1/events HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_input", `request \"/v1/events\"`},
		{"dot dot", "GET /v1/../healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_input", `request \"/healthz\"`},
		{"encoded dot dot", "GET /v1/%2e%2e/metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_input", "not canonical"},
		{"dot", "GET /v1/./events HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_input", "not canonical"},
		{"malformed header", "GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400, "invalid_input", "not valid HTTP/1.1"},
		{"missing host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "invalid_input", "missing required Host header"},
		{"malformed request line", "GARBAGE\r\n\r\n", 400, "invalid_input", "not valid HTTP/1.1"},
		{"options asterisk", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_input", "not canonical"},
		{"headers too large", "GET /healthz HTTP/1.1\r\nHost: x\r\n" + bigHeader + "\r\n", 431, "payload_too_large", "64 KiB"},
		{"unsupported version", "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505, "invalid_input", "HTTP/1.1"},
		{"unsupported transfer encoding", "POST /webhooks/seam HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
			"invalid_input", "Transfer-Encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := rawRequest(t, base, tt.req)
			require.Equal(t, tt.status, res.status, "%s", res.body)
			assert.Equal(t, "application/json", res.header.Get("Content-Type"))
			assert.Equal(t, strconv.Itoa(len(res.body)), res.header.Get("Content-Length"))
			c.on(t).validateError(res)
			typ, msg := res.errorType(t)
			assert.Equal(t, tt.errType, typ)
			assert.Contains(t, string(res.body), tt.contains, "message: %s", msg)
		})
	}

	// An ordinary answer on the same kind of connection is untouched.
	res := rawRequest(t, base, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Equal(t, http.StatusOK, res.status)
	assert.JSONEq(t, `{"status": "ok"}`, string(res.body))
}
