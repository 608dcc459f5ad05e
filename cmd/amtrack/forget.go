package main

import (
	"context"
	"fmt"
	"time"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// runForget destroys the data keys of access methods (crypto-shredding):
// the ones named, or every deleted one with deleted_at before
// --deleted-before. Their codes can no longer be revealed.
func runForget(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "forget", "[ACCESS_METHOD_ID...]")
	dbPath := dbFlag(fs)
	before := fs.String("deleted-before", "", "forget every access method deleted before this RFC 3339 time")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var ids []domain.ID
	for _, arg := range fs.Args() {
		id, ok := domain.ParseID(arg)
		if !ok {
			return usageError("ACCESS_METHOD_ID must be an id (hex 8-4-4-4-12), got %q", arg)
		}
		ids = append(ids, id)
	}
	var at time.Time
	switch {
	case *before != "" && len(ids) > 0:
		return usageError("forget takes ACCESS_METHOD_ID arguments or --deleted-before, not both")
	case *before != "":
		var ok bool
		if at, ok = domain.ParseTime(*before); !ok || !domain.InRange(at) {
			return usageError("--deleted-before must be an RFC 3339 time such as 2026-03-01T12:00:00Z, got %q", *before)
		}
	case len(ids) == 0:
		return usageError("forget needs ACCESS_METHOD_ID arguments or --deleted-before: amtrack forget [flags] [ACCESS_METHOD_ID...]")
	}
	a, err := e.openApp(ctx, *dbPath, store.Options{MustExist: true})
	if err != nil {
		return err
	}
	defer a.Close()
	if *before != "" {
		deleted, err := a.proj.ListAccessMethods(ctx, projection.MethodFilter{Status: domain.StatusDeleted})
		if err != nil {
			return err
		}
		for _, m := range deleted {
			if m.DeletedAt != nil && int64(*m.DeletedAt) < at.UnixNano() {
				ids = append(ids, m.AccessMethodID)
			}
		}
	}
	res, err := a.db.Forget(ctx, ids, a.proj.Apply)
	if err != nil {
		return err
	}
	if a.db.Engine() == store.Postgres {
		fmt.Fprintf(e.stderr, "amtrack: note: the keys' rows are gone from %s, but PostgreSQL's WAL, its archives and base backups "+
			"keep their old bytes until they are recycled (docs/operating.md)\n", store.Redact(*dbPath))
	}
	if !res.Checkpointed {
		fmt.Fprintf(e.stderr, "amtrack: warning: a reader kept the WAL of %s from being truncated: old key bytes may stay in it "+
			"until the next checkpoint; stop the readers (serve) and run amtrack forget again to truncate it\n", *dbPath)
	}
	noun := "access methods"
	if len(res.Forgotten) == 1 {
		noun = "access method"
	}
	already := ""
	if len(res.Already) > 0 {
		already = fmt.Sprintf(" (%d already forgotten)", len(res.Already))
	}
	_, err = fmt.Fprintf(e.stdout, "forgot the codes of %d %s%s\n", len(res.Forgotten), noun, already)
	return err
}
