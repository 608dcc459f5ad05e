package main

import (
	"context"
	"fmt"
	"io"

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

func openApp(ctx context.Context, path string) (*app, error) {
	return openAppOptions(ctx, path, store.Options{})
}

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
// as it is.
func openReadApp(ctx context.Context, path string) (*app, error) {
	db, err := store.OpenReadOnly(ctx, path)
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

// append appends a batch and folds it, in one transaction.
func (a *app) append(ctx context.Context, batch []store.Pending) ([]store.Outcome, error) {
	return a.proj.Append(ctx, batch)
}

// apply folds appended records into the read model inside the append transaction.
func (a *app) apply(ctx context.Context, tx *store.Tx, appended []store.Record) error {
	return a.proj.Apply(ctx, tx, appended)
}

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
