package main

import (
	"context"
	"fmt"

	"github.com/amtrack/amtrack/store"
)

func runBackup(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "backup", "DEST")
	dbPath := dbFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if store.EngineOf(*dbPath) == store.Postgres {
		// VACUUM INTO copies an SQLite file; a server's database is copied by
		// the server's tools, which also know its WAL and its other schemas.
		return usageError("backup copies an SQLite database file; back up the PostgreSQL database %s with PostgreSQL's tools: "+
			"pg_dump --schema=SCHEMA (a consistent copy of the log's schema) or pg_basebackup (the whole server, with its WAL), "+
			"and keep the key (AMTRACK_KEY_FILE) backed up apart", store.Redact(*dbPath))
	}
	dest := fs.Arg(0)
	stats, err := store.Backup(ctx, *dbPath, dest)
	if err != nil {
		return err
	}
	if _, err = fmt.Fprintf(e.stdout, "backed up %d events to %s (%d bytes)\n", stats.Events, dest, stats.Bytes); err != nil {
		return err
	}
	// The key stays out of the copy on purpose: a stolen backup reveals no code.
	fmt.Fprintf(e.stderr, "amtrack: the copy holds no key: keep %s (or your AMTRACK_KEY_FILE) backed up apart; "+
		"revealing the copy's codes needs it\n", store.KeyPath(*dbPath))
	return nil
}
