package main

import (
	"context"
	"fmt"
	"io"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/keyring"

	"github.com/amtrack/amtrack/ingest"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// app is the opened database with its read model: the one place where the
// concrete types meet.
type app struct {
	db   *store.DB
	proj *projection.Projection
}

// Both append paths are ingest.Appenders: the projection (one transaction
// per batch, folded) and the group-commit writer that serve's webhooks and
// background sync share.
var (
	_ ingest.Appender = (*projection.Projection)(nil)
	_ ingest.Appender = (*store.Writer)(nil)
)

// openApp opens (creating it if needed) the database at path with the key
// of the configuration, or the key file beside the database (created with
// the database).
func (e *env) openApp(ctx context.Context, path string, opts store.Options) (*app, error) {
	opts, err := withKey(e.cfg, opts, true)
	if err != nil {
		return nil, err
	}
	return openAppOptions(ctx, path, opts)
}

// withKey sets opts' key from cfg: AMTRACK_KEY, else AMTRACK_KEY_FILE
// (created when create and it is missing), else none, which makes the store
// use the key file beside the database.
func withKey(cfg Config, opts store.Options, create bool) (store.Options, error) {
	switch {
	case cfg.Key != "":
		k, err := keyring.Parse(cfg.Key)
		if err != nil {
			return opts, domain.Errorf(domain.EInvalid, "AMTRACK_KEY is not a key: %s", domain.ErrorMessage(err))
		}
		opts.Keyring, opts.KeySource = k, "the key in AMTRACK_KEY"
	case cfg.KeyFile != "":
		var k *keyring.Keyring
		var err error
		if create {
			k, _, err = keyring.LoadOrCreate(cfg.KeyFile)
		} else {
			k, err = keyring.Load(cfg.KeyFile)
		}
		if err != nil {
			return opts, domain.Errorf(domain.ErrorCode(err), "AMTRACK_KEY_FILE: %s", domain.ErrorMessage(err))
		}
		opts.Keyring, opts.KeySource = k, "the key file "+cfg.KeyFile
	}
	return opts, nil
}

// openApp opens the database at path with the key file beside it (demo's).
func openApp(ctx context.Context, path string) (*app, error) {
	return openAppOptions(ctx, path, store.Options{})
}

// openAppOptions opens the database at path with opts as they are.
func openAppOptions(ctx context.Context, path string, opts store.Options) (*app, error) {
	db, err := store.Open(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	proj, err := projection.Open(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &app{db: db, proj: proj}, nil
}

// openReadApp opens the existing database at path for the read-only
// commands: nothing is created, migrated or rebuilt, and the file is left
// as it is. The key (of the configuration, or the key file beside the
// database if there is one) is needed only to reveal codes; a read command
// never creates a key file.
func (e *env) openReadApp(ctx context.Context, path string) (*app, error) {
	opts, err := withKey(e.cfg, store.Options{}, false)
	if err != nil {
		return nil, err
	}
	db, err := store.OpenReadOnlyOptions(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	proj, err := projection.OpenReadOnly(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &app{db: db, proj: proj}, nil
}

// Close closes the database.
func (a *app) Close() error { return a.db.Close() }

// repairs describes, one line each, the append-only triggers Open found
// missing or altered and recreated: a sign the log may have been edited.
func (a *app) repairs() []string {
	var out []string
	for _, p := range a.db.RepairedTriggers() {
		what := "was missing"
		if p.Altered {
			what = "was not the one amtrack created"
		}
		out = append(out, fmt.Sprintf("append-only trigger %s %s and has been recreated: the log may have been edited; run amtrack verify", p.Name, what))
	}
	return out
}

// reportRepairs writes repairs to w as errors.
func (a *app) reportRepairs(w io.Writer) {
	for _, r := range a.repairs() {
		fmt.Fprintf(w, "amtrack: ERROR: %s\n", r)
	}
}
