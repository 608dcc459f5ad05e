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
