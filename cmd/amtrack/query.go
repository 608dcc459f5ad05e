package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/projection"
)

// revealFlag adds --reveal-codes (env AMTRACK_REVEAL_CODES=1).
func revealFlag(fs *flagSet) *bool {
	return fs.Bool("reveal-codes", fs.cfg.RevealCodes,
		"print PIN codes instead of redacting them (env AMTRACK_REVEAL_CODES=1)")
}

// idArg parses the single id argument of a command (parseFlags checked
// there is one). Errors: usage.
func idArg(args []string, what string) (domain.ID, error) {
	id, ok := domain.ParseID(args[0])
	if !ok {
		return domain.ID{}, usageError("%s must be an id (hex 8-4-4-4-12), got %q", what, args[0])
	}
	return id, nil
}

func printJSON(e *env, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

func runShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "show", "ACCESS_METHOD_ID")
	dbPath := dbFlag(fs)
	asOf := fs.String("as-of", "", "the state folded from events that occurred at or before this RFC 3339 time")
	reveal := revealFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	id, err := idArg(fs.Args(), "ACCESS_METHOD_ID")
	if err != nil {
		return err
	}
	var at time.Time
	if *asOf != "" {
		var ok bool
		if at, ok = domain.ParseTime(*asOf); !ok || !domain.InRange(at) {
			return usageError("--as-of must be an RFC 3339 time such as 2026-03-01T12:00:00Z, got %q", *asOf)
		}
	}
	a, err := e.openReadApp(ctx, *dbPath)
	if err != nil {
		return err
	}
	defer a.Close()
	if *reveal {
		if err := a.db.RequireKey(); err != nil {
			return err
		}
	}
	var s *domain.AccessMethod
	if *asOf != "" {
		s, err = a.proj.AccessMethodAsOf(ctx, id, at.UnixNano())
	} else {
		s, err = a.proj.AccessMethod(ctx, id)
	}
	if err != nil {
		return err
	}
	if *reveal {
		s, err = a.proj.Reveal(ctx, s)
	} else {
		s = s.Redacted()
	}
	if err != nil {
		return err
	}
	return printJSON(e, map[string]any{"access_method": s})
}

func runHistory(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "history", "GRANT_ID")
	dbPath := dbFlag(fs)
	reveal := revealFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	id, err := idArg(fs.Args(), "GRANT_ID")
	if err != nil {
		return err
	}
	a, err := e.openReadApp(ctx, *dbPath)
	if err != nil {
		return err
	}
	defer a.Close()
	if *reveal {
		if err := a.db.RequireKey(); err != nil {
			return err
		}
	}
	recs, err := a.proj.GrantHistory(ctx, id, projection.HistoryFilter{})
	if err != nil {
		return err
	}
	return printJSON(e, map[string]any{"events": projection.Items(recs, *reveal)})
}
