package main

import (
	"context"
	"fmt"

	"github.com/amtrack/amtrack/keyring"
	"github.com/amtrack/amtrack/store"
)

// runRekey rotates the key-encryption key: a new key file NEW_KEY_FILE is
// created, and every data key is rewrapped under it in one transaction.
func runRekey(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "rekey", "NEW_KEY_FILE")
	dbPath := dbFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	path := fs.Arg(0)
	a, err := e.openApp(ctx, *dbPath, store.Options{MustExist: true})
	if err != nil {
		return err
	}
	defer a.Close()
	// The new key is on disk (fsynced) before any data key is wrapped by it.
	to, err := keyring.Create(path)
	if err != nil {
		return err
	}
	n, err := a.db.Rekey(ctx, to)
	if err != nil {
		return err
	}
	where := "move it to " + store.KeyPath(*dbPath) + " or set AMTRACK_KEY_FILE"
	if a.db.Engine() == store.Postgres {
		// No key file sits beside a server database; every process has its own setting.
		where = "set AMTRACK_KEY_FILE to it for every amtrack process of this database"
	}
	_, err = fmt.Fprintf(e.stdout, "rewrapped %d data keys: the database now opens only with %s (key id %s); "+
		"%s, then destroy the old key\n", n, path, to.ID(), where)
	return err
}
