// Package api is amtrack's HTTP server on gorilla/mux: the read-only API
// (docs/api.md) with the access-method, grant and log routes under /v1,
// health, readiness, Prometheus metrics and the OpenAPI document, with
// bearer-token auth, code redaction and one error writer; and the one write
// route, the receiver of Seam's signed webhooks (docs/webhooks.md), which
// appends through the group-commit writer.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// MaxBodyBytes is the largest request body the server reads (docs/events.md: one
// event is at most 1 MiB).
const MaxBodyBytes = domain.MaxEventSize

// Server timeouts.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	// DefaultShutdownTimeout is how long Serve waits for requests in
	// flight when its context ends.
	DefaultShutdownTimeout = 10 * time.Second
)

// ReadModel is what the API reads. *projection.Projection implements it.
// A missing access method, grant or event is a not_found error; any other
// error is internal (a 500 whose details are only logged).
type ReadModel interface {
	AccessMethod(ctx context.Context, id domain.ID) (*domain.AccessMethod, error)
	AccessMethodAsOf(ctx context.Context, id domain.ID, asOf int64) (*domain.AccessMethod, error)
	ListAccessMethods(ctx context.Context, f projection.MethodFilter) ([]*domain.AccessMethod, error)
	MethodEvents(ctx context.Context, id domain.ID, f projection.HistoryFilter) ([]store.Record, error)
	AccessGrant(ctx context.Context, id domain.ID) (*domain.AccessGrant, error)
	GrantHistory(ctx context.Context, id domain.ID, f projection.HistoryFilter) ([]store.Record, error)
	Events(ctx context.Context, f projection.EventFilter) (projection.EventPage, error)
	Event(ctx context.Context, id domain.ID) (store.Record, error)
	LogHead(ctx context.Context) (store.ChainHead, error)
	// Reveal returns an access method with its code at hand (the read
	// model keeps only a reference to the event whose sealed code is current).
	Reveal(ctx context.Context, m *domain.AccessMethod) (*domain.AccessMethod, error)
	LagReader
}

// LagReader reads how far the read model is behind the log.
type LagReader interface {
	Lag(ctx context.Context) (projection.Lag, error)
}

// Options configure a Server. The zero value serves redacted codes without
// auth on loopback addresses only.
type Options struct {
	// RevealCodes prints PIN codes instead of redacting them (--reveal-codes).
	RevealCodes bool
	// Token, when not empty, is the bearer token every /v1 request must
	// carry ($AMTRACK_API_TOKEN).
	Token string
	// Insecure allows listening on a non-loopback address without a Token.
	Insecure bool
	// Logger gets one debug line per request and a warn (error for
	// internal errors) line per error response; nil discards.
	Logger *slog.Logger
	// Metrics is where the server counts; nil makes one over the ReadModel.
	Metrics *Metrics
	// ShutdownTimeout bounds Serve's graceful shutdown (default
	// DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
	// WriteProbe, when set, makes /readyz also probe that the database
	// takes a write (at most once a second); serve sets it to the database.
	WriteProbe WriteProber
}

// Server is the HTTP server: a gorilla/mux router behind logging, metrics,
// panic recovery and a body limit, and a net/http.Server with timeouts.
type Server struct {
	model     ReadModel
	opts      Options
	log       *slog.Logger
	metrics   *Metrics
	webhooks  bool // EnableWebhooks was called
	router    *mux.Router
	tokenHash [sha256.Size]byte
	scrape    http.Handler // the metrics handler
	http      *http.Server
	ln        net.Listener
	host      string      // the host given to Listen
	pageBytes int         // the budget of a list page, MaxPageBytes
	maxScan   int         // the seqs a typed log page examines, projection.MaxScan
	probe     *writeProbe // nil without Options.WriteProbe
	bodies    bodyCache   // rendered access methods, by the version of their state
}

// NewServer returns a server over model; call Listen then Serve, or use
// Handler directly.
func NewServer(model ReadModel, opts Options) *Server {
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	s := &Server{model: model, opts: opts, log: opts.Logger, metrics: opts.Metrics,
		pageBytes: MaxPageBytes, maxScan: projection.MaxScan}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics(model)
	}
	s.scrape = s.metrics.Handler(s.log)
	if opts.WriteProbe != nil {
		s.probe = newWriteProbe(opts.WriteProbe, s.log)
	}
	if opts.Token != "" {
		s.tokenHash = sha256.Sum256([]byte(opts.Token))
	}
	s.routes()
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// OPTIONS * reaches the handler (a JSON 400), not net/http's empty 200.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s
}

// handlerFunc is a route's handler: an error it returns is written by
// writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// readMethods are the methods of every read-only route.
var readMethods = []string{http.MethodGet, http.MethodHead}

// routes registers every route of docs/api.md but the webhook receiver, which
// is added with Handle.
func (s *Server) routes() {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(s.notFound)
	// ServeHTTP refuses a path that is not canonical: mux must never answer
	// one with its own text redirect.
	r.SkipClean(true)
	s.router = r

	// /v1: auth first, then the route; any other method is 405 and any
	// other path 404, both in JSON.
	v1 := r.MatcherFunc(func(req *http.Request, _ *mux.RouteMatch) bool {
		return req.URL.Path == "/v1" || strings.HasPrefix(req.URL.Path, "/v1/")
	}).Subrouter()
	for _, rt := range []struct {
		path string
		h    handlerFunc
	}{
		{"/v1/access_methods", s.listAccessMethods},
		{"/v1/access_methods/{access_method_id}", s.getAccessMethod},
		{"/v1/access_methods/{access_method_id}/events", s.listMethodEvents},
		{"/v1/access_grants/{access_grant_id}", s.getAccessGrant},
		{"/v1/access_grants/{access_grant_id}/events", s.listGrantEvents},
		{"/v1/events", s.listEvents},
		{"/v1/events/{event_id}", s.getEvent},
		{"/v1/log/head", s.getLogHead},
	} {
		v1.Handle(rt.path, s.v1Route(rt.path, rt.h))
	}
	v1.PathPrefix("/").Handler(s.v1Route("/v1/*", func(w http.ResponseWriter, r *http.Request) error {
		return errorf(domain.ENotFound, "no route %s; the routes are listed at /openapi.json", r.URL.Path)
	}))

	// Open without a token: probes, scrapers and the API's description.
	r.Handle("/healthz", s.route("/healthz", s.healthz))
	r.Handle("/readyz", s.route("/readyz", s.readyz))
	r.Handle("/metrics", s.route("/metrics", s.serveMetrics))
	r.Handle("/openapi.json", s.route("/openapi.json", serveOpenAPI))
}

// Handle adds a route outside /v1 (and outside its auth) that answers the
// given methods; any other method is a JSON 405 with an Allow header. The
// webhook receiver uses it: Handle("/webhooks/seam", h, http.MethodPost).
// Call it before Serve.
func (s *Server) Handle(path string, h http.Handler, methods ...string) {
	s.router.Handle(path, s.wrap(path, false, func(w http.ResponseWriter, r *http.Request) error {
		h.ServeHTTP(w, r)
		return nil
	}, methods))
}

// route wraps a read-only route outside /v1.
func (s *Server) route(template string, h handlerFunc) http.Handler {
	return s.wrap(template, false, h, readMethods)
}

// v1Route wraps a read-only /v1 route: the token is checked first.
func (s *Server) v1Route(template string, h handlerFunc) http.Handler {
	return s.wrap(template, true, h, readMethods)
}

// wrap makes a handler of h: it records the route template for logs and
// metrics, checks the token when auth, refuses other methods with a 405 and
// writes returned errors.
func (s *Server) wrap(template string, auth bool, h handlerFunc, methods []string) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoOf(r.Context()).route = template
		var err error
		if auth {
			err = s.checkToken(r)
		}
		if err == nil && !slices.Contains(methods, r.Method) {
			w.Header().Set("Allow", allow)
			err = errorf(codeMethodNotAllowed, "method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow)
		}
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// notFound answers paths no route matches.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, errorf(domain.ENotFound, "no route %s; the routes are listed at /openapi.json", r.URL.Path))
}

// Handler returns the server's whole handler stack, for tests and for
// embedding in another server.
func (s *Server) Handler() http.Handler { return s }

// ServeHTTP serves one request: it recovers panics, limits the body,
// routes, and logs and counts the answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{route: "unmatched"}
	rw := &recorder{ResponseWriter: w, status: http.StatusOK}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	defer func() {
		v := recover()
		if v != nil && v != http.ErrAbortHandler {
			s.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request", slog.String("path", r.URL.Path),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			if !rw.wrote {
				s.writeError(rw, r, fmt.Errorf("panic: %v", v))
			}
		}
		status := rw.status
		if info.status != 0 {
			status = info.status
		}
		elapsed := time.Since(start)
		s.metrics.request(info.route, r.Method, status, elapsed)
		if s.webhooks && r.Method == http.MethodPost && r.URL.Path == webhookPath {
			s.metrics.WebhookResponse(status) // the receiver's answers, and a 413 before routing
		}
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String("method", r.Method),
				slog.String("uri", r.URL.RequestURI()), slog.String("route", info.route), slog.Int("status", status),
				slog.Int64("bytes", rw.bytes), slog.Duration("duration", elapsed), slog.String("remote", r.RemoteAddr))
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
	}()
	if r.ContentLength > MaxBodyBytes {
		s.writeError(rw, r, errorf(domain.ETooLarge, "the request body is %d bytes, over the limit of 1 MiB", r.ContentLength))
		return
	}
	r.Body = http.MaxBytesReader(rw, r.Body, MaxBodyBytes)
	if clean := cleanPath(r.URL.Path); clean != r.URL.Path {
		s.writeError(rw, r, errorf(domain.EInvalid, "the path %q is not canonical (an empty segment, . or ..): request %q instead",
			r.URL.Path, clean))
		return
	}
	s.router.ServeHTTP(rw, r)
}

// cleanPath is p without empty, . and .. segments, as gorilla/mux cleans
// it: with a leading slash, and a trailing one kept.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (rw *recorder) WriteHeader(status int) {
	if !rw.wrote {
		rw.status, rw.wrote = status, true
	}
	rw.ResponseWriter.WriteHeader(status)
}

func (rw *recorder) Write(b []byte) (int, error) {
	rw.wrote = true
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// Listen binds addr ("host:port"; port 0 picks a free one). Without a
// Token it refuses a non-loopback address unless Options.Insecure. Errors:
// invalid_input for a refused address, internal when the bind fails.
func (s *Server) Listen(addr string) error {
	if err := s.checkAddr(addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	// A host name is checked on what it resolved to.
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && s.needsLoopback() && !tcp.IP.IsLoopback() {
		ln.Close()
		return refuse(addr)
	}
	s.ln = jsonErrorListener{Listener: ln, log: s.log}
	s.host, _, _ = net.SplitHostPort(addr)
	return nil
}

func (s *Server) needsLoopback() bool { return needsLoopback(s.opts) }

func needsLoopback(opts Options) bool { return opts.Token == "" && !opts.Insecure }

// checkAddr refuses, before binding, an address that is not loopback when
// one is needed.
func (s *Server) checkAddr(addr string) error { return CheckAddr(addr, s.opts) }

// CheckAddr checks, without binding, the address a server with opts would
// listen on: host:port, and a loopback address unless opts has a Token or
// Insecure (no host means all interfaces; a host name is checked again on
// what it resolves to by Listen). Errors: invalid_input.
func CheckAddr(addr string, opts Options) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return domain.Errorf(domain.EInvalid, "address %q must be host:port, such as 127.0.0.1:8080", addr)
	}
	if !needsLoopback(opts) {
		return nil
	}
	if host == "" {
		return refuse(addr)
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil && !ip.IsLoopback() {
		return refuse(addr)
	}
	return nil
}

func refuse(addr string) error {
	return domain.Errorf(domain.EInvalid, "refusing to listen on %s without an API token: set AMTRACK_API_TOKEN, "+
		"listen on a loopback address such as 127.0.0.1:8080, or pass --insecure", addr)
}

// Addr returns the address Listen bound (nil before Listen).
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL returns the base URL of the bound address, http://host:port: the
// host given to Listen (the bound IP when none was) and the bound port.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	host, port, err := net.SplitHostPort(s.ln.Addr().String())
	if err != nil {
		return "http://" + s.ln.Addr().String()
	}
	if s.host != "" {
		host = s.host
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Serve serves on the address Listen bound until ctx ends, then shuts down
// gracefully: no new connections, requests in flight finish within
// ShutdownTimeout (after which connections are closed and an error
// returned). It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		return errors.New("serve: call Listen first")
	}
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(sctx); err != nil {
		s.http.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Close stops at once: it closes the listener and every connection,
// without waiting for requests in flight (Serve's context ending is the
// graceful way). Errors: internal.
func (s *Server) Close() error {
	if err := s.http.Close(); err != nil {
		return fmt.Errorf("close server: %w", err)
	}
	if s.ln != nil {
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("close server: %w", err)
		}
	}
	return nil
}

// cannedHeaders follow the status line of the answers net/http's connection
// writes itself, before any handler, to a request it cannot read (malformed,
// headers over MaxHeaderBytes, an unsupported HTTP version or transfer
// encoding): "HTTP/1.1 <status>" cannedHeaders "<text>", in one write on the
// connection (see conn.serve in net/http/server.go). A response the server
// writes never has these headers so: net/http sorts a response's headers
// (Connection before Content-Type) and adds Date, and every answer of this
// server is JSON.
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// jsonErrorListener accepts connections that rewrite net/http's canned
// text answers into the JSON error shape.
type jsonErrorListener struct {
	net.Listener
	log *slog.Logger
}

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c, log: l.log}, nil
}

// jsonErrorConn is a connection whose canned net/http answers are
// rewritten as JSON errors.
type jsonErrorConn struct {
	net.Conn
	log *slog.Logger
}

func (c *jsonErrorConn) Write(b []byte) (int, error) {
	out, status, ok := rewriteCanned(b)
	if !ok {
		return c.Conn.Write(b)
	}
	c.log.LogAttrs(context.Background(), slog.LevelDebug, "unreadable request", slog.Int("status", status),
		slog.String("remote", c.RemoteAddr().String()))
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// CloseWrite half-closes the connection, as net/http does after a 431 so
// that the client reads the answer before the connection closes.
func (c *jsonErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// rewriteCanned returns the JSON answer that replaces b, and its status,
// when b is one of net/http's canned answers.
func rewriteCanned(b []byte) ([]byte, int, bool) {
	rest, ok := bytes.CutPrefix(b, []byte("HTTP/1.1 "))
	if !ok {
		return nil, 0, false
	}
	i := bytes.IndexByte(rest, '\r')
	if i < 3 || !bytes.HasPrefix(rest[i:], []byte(cannedHeaders)) || i > 3 && rest[3] != ' ' {
		return nil, 0, false
	}
	status, err := strconv.Atoi(string(rest[:3]))
	if err != nil || status < 400 || status > 599 {
		return nil, 0, false
	}
	code, msg := cannedError(status, string(rest[i+len(cannedHeaders):]))
	body, err := json.MarshalIndent(errorBody{Error: errorDetail{Type: code, Message: msg}}, "", "  ")
	if err != nil {
		return nil, 0, false
	}
	body = append(body, '\n')
	out := fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: %d\r\n"+
		"Content-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n\r\n", status, http.StatusText(status), len(body))
	return append(out, body...), status, true
}

// cannedError is the error type and message of a canned answer of status
// whose text body is text, such as "400 Bad Request: missing required Host
// header" or "Unsupported transfer encoding".
func cannedError(status int, text string) (code, msg string) {
	detail := ""
	if _, d, ok := strings.Cut(text, ": "); ok {
		detail = ": " + d
	}
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		return domain.ETooLarge, fmt.Sprintf("the request headers are over the limit of %d KiB: send fewer or shorter headers", maxHeaderBytes>>10)
	case http.StatusHTTPVersionNotSupported:
		return domain.EInvalid, "the request's HTTP version is not supported: send HTTP/1.1"
	case http.StatusNotImplemented:
		return domain.EInvalid, "the request's Transfer-Encoding is not supported: send the body with Content-Length or chunked"
	case http.StatusBadRequest:
		if detail == "" {
			detail = ": check its request line and headers"
		}
		return domain.EInvalid, "the request is not valid HTTP/1.1" + detail
	}
	return domain.EInvalid, strings.ToLower(text)
}
