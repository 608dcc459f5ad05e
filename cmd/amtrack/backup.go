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
	_, err = fmt.Fprintf(e.stdout, "backed up %d events to %s (%d bytes)\n", stats.Events, dest, stats.Bytes)
	return err
}
