package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/amtrack/amtrack/api"
	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/generate"
	"github.com/amtrack/amtrack/ingest"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// defaultAddr is where serve and demo listen unless told otherwise.
const defaultAddr = "127.0.0.1:8080"

// Demo data: generate's stream for these options, appended in batches.
const (
	demoMethods = 200
	demoSeed    = 1
	demoBatch   = 500
)

// serverFlags are the flags serve and demo share.
type serverFlags struct {
	addr     *string
	reveal   *bool
	insecure *bool
	logLevel *string
}

func addServerFlags(fs *flagSet, defAddr, addrUsage string) serverFlags {
	level := fs.cfg.LogLevel
	if level == "" {
		level = "info"
	}
	return serverFlags{
		addr:   fs.String("addr", defAddr, addrUsage),
		reveal: revealFlag(fs),
		insecure: fs.Bool("insecure", false, "allow listening on a non-loopback address without AMTRACK_API_TOKEN "+
			"(the API is then open to anyone who can reach it)"),
		logLevel: fs.String("log-level", level, "debug (a line per request), info, warn or error (env AMTRACK_LOG_LEVEL)"),
	}
}

// options returns the server options of the flags and the configuration
// (AMTRACK_API_TOKEN), with a logger writing to stderr. Errors: usage.
func (f serverFlags) options(e *env) (api.Options, error) {
	if !validAddr(*f.addr) {
		return api.Options{}, usageError("--addr must be host:port, such as 127.0.0.1:8080, got %q", *f.addr)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*f.logLevel)); err != nil {
		return api.Options{}, usageError("--log-level must be debug, info, warn or error, got %q", *f.logLevel)
	}
	opts := api.Options{
		RevealCodes: *f.reveal,
		Token:       e.cfg.APIToken,
		Insecure:    *f.insecure,
		Logger:      slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})),
	}
	// A refused address is a mistake in the flags: said before any database is opened.
	if err := api.CheckAddr(*f.addr, opts); err != nil {
		return api.Options{}, usageError("%s", domain.ErrorMessage(err))
	}
	return opts, nil
}

// validAddr reports whether addr is host:port with a port number from 0
// (any free port) to 65535. The host may be empty: all interfaces.
func validAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

var _ api.ReadModel = (*projection.Projection)(nil)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "")
	dbPath := dbFlag(fs)
	def := e.cfg.Addr
	if def == "" {
		def = defaultAddr
	}
	sf := addServerFlags(fs, def, "the address to listen on, host:port (env AMTRACK_ADDR)")
	unsigned := fs.Bool("insecure-unsigned-webhooks", false,
		"accept webhooks without SEAM_WEBHOOK_SECRET, unsigned (local testing only)")
	commitBatch := fs.Int("commit-batch", 2000,
		"most webhook events group-committed in one transaction (1: a transaction per webhook)")
	syncInterval := fs.Duration("sync-interval", 0,
		"also sync from Seam's events API every interval, e.g. 5m (needs SEAM_API_KEY; 0: off)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *commitBatch < 1 {
		return usageError("--commit-batch must be at least 1, got %d", *commitBatch)
	}
	e.cfg.tuneGC(0)
	bgSync, err := newBackgroundSync(*syncInterval, e.cfg)
	if err != nil {
		return err
	}
	opts, err := sf.options(e)
	if err != nil {
		return err
	}
	secret := e.cfg.WebhookSecret
	if secret != "" { // a bad secret is refused before any database is opened
		if _, err := api.NewSignatureVerifier(secret); err != nil {
			return err
		}
	}
	a, err := e.openApp(ctx, *dbPath, store.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	for _, r := range a.repairs() {
		opts.Logger.Error(r)
	}
	opts.Metrics = api.NewMetrics(a.proj)
	opts.WriteProbe = a.db // ready means a webhook would be acknowledged
	srv := api.NewServer(a.proj, opts)
	// Webhooks go through one group-commit writer; it is closed after the
	// server has drained the requests in flight, before the database.
	writer := store.NewWriter(a.db, a.proj.Apply, *commitBatch)
	writer.Observe = opts.Metrics.ObserveCommit
	defer writer.Close()
	if err := srv.EnableWebhooks(writer, api.WebhookOptions{Secret: secret, AllowUnsigned: *unsigned}); err != nil {
		return err
	}
	if err := srv.Listen(*sf.addr); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "serving on %s\n", srv.URL())
	if secret == "" && !*unsigned {
		opts.Logger.Warn("SEAM_WEBHOOK_SECRET is not set: POST /webhooks/seam answers 503 until it is")
	}
	stopSync := bgSync.start(ctx, a, writer, opts) // stopped before the writer closes
	defer stopSync()
	return srv.Serve(ctx)
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo", "")
	sf := addServerFlags(fs, defaultAddr, "the address to listen on, host:port (port 0 picks a free one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	opts, err := sf.options(e)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(e.cfg.TempDir, "amtrack-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)
	// The demo's key file is beside its database, removed with it.
	a, err := openApp(ctx, filepath.Join(dir, "demo.db"))
	if err != nil {
		return err
	}
	defer a.Close()

	// The server is set up (and the address checked) before seeding.
	opts.Metrics = api.NewMetrics(a.proj)
	srv := api.NewServer(a.proj, opts)
	if err := srv.Listen(*sf.addr); err != nil {
		return err
	}
	err = seedDemo(ctx, a, opts.Metrics)
	if err == nil {
		err = printDemoHelp(ctx, e.stdout, a.proj, srv.URL(), opts.Token != "")
	}
	if err != nil {
		srv.Close()
		if ctx.Err() != nil {
			return nil // interrupted while seeding: nothing to report
		}
		return err
	}
	return srv.Serve(ctx)
}

// seedDemo appends generate's demo stream in batches, counting it in
// metrics like any other ingestion.
func seedDemo(ctx context.Context, a *app, metrics *api.Metrics) error {
	var batch []store.Pending
	tally := ingest.Tally{Counter: metrics}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := tally.Append(ctx, a.proj, batch); err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
		metrics.AppendBatch(len(batch))
		batch = nil
		return nil
	}
	err := generate.Stream(generate.Options{Methods: demoMethods, Seed: demoSeed}, func(raw []byte) error {
		p, err := ingest.Parse(raw, store.SourceFile, "", time.Time{})
		if err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
		batch = append(batch, p)
		if len(batch) == demoBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// printDemoHelp prints where the demo serves and a few ready-to-paste
// commands with ids from the demo data (with the token's header when
// token).
func printDemoHelp(ctx context.Context, w io.Writer, p *projection.Projection, base string, token bool) error {
	issued := true
	list, err := p.ListAccessMethods(ctx, projection.MethodFilter{IsIssued: &issued, Limit: 50})
	if err != nil {
		return err
	}
	// Prefer a PIN code method: its state shows the redaction.
	var method *domain.AccessMethod
	for _, m := range list {
		if len(m.AccessGrantIDs) > 0 && (method == nil || m.HasCode() && !method.HasCode()) {
			method = m
		}
	}
	if method == nil {
		return errors.New("demo: the demo data has no issued access method with a grant")
	}
	curl := "curl -s"
	if token {
		curl += ` -H "Authorization: Bearer $AMTRACK_API_TOKEN"`
	}
	// One write, so whoever sees the first line sees them all.
	var b strings.Builder
	fmt.Fprintf(&b, "serving demo data on %s, try:\n", base)
	fmt.Fprintf(&b, "  %s %s/v1/access_methods/%s\n", curl, base, method.AccessMethodID)
	fmt.Fprintf(&b, "  %s '%s/v1/access_grants/%s/events?limit=20'\n", curl, base, method.AccessGrantIDs[0])
	fmt.Fprintf(&b, "  %s '%s/v1/access_methods?status=issued&limit=5'\n", curl, base)
	fmt.Fprintf(&b, "  curl -s %s/metrics | grep amtrack_\n", base)
	_, err = io.WriteString(w, b.String())
	return err
}
