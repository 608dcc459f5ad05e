package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/amtrack/amtrack/domain"
)

// BackupStats describes a backup: the events in the copy and its size.
type BackupStats struct {
	Events int64
	Bytes  int64
}

// Backup writes a consistent copy of the amtrack database at path to the new
// file dest, while other connections and processes go on appending: the
// copy is one snapshot of the log and the read model, including what sits
// in the WAL, taken with VACUUM INTO (which also compacts it). It is written
// to a temporary file beside dest, synced, and then linked to dest, so dest
// is never a partial copy and an existing file is never overwritten.
//
// Errors: invalid_input for a PostgreSQL URL; conflict when dest exists; not_found and invalid_input as
// OpenReadOnly (but an amtrack database whose migrations are older than
// this binary's is backed up as it is).
func Backup(ctx context.Context, path, dest string) (BackupStats, error) {
	var stats BackupStats
	if EngineOf(path) == Postgres {
		return stats, domain.Errorf(domain.EInvalid, "amtrack backup copies an SQLite file; back up the PostgreSQL database %s "+
			"with the server's tools (pg_dump, or the server's own backups)", Redact(path))
	}
	if _, err := os.Lstat(dest); err == nil {
		return stats, domain.Errorf(domain.EConflict, "%s already exists: give a new file name, or remove it first", dest)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return stats, fmt.Errorf("backup: %w", err)
	}
	src, err := openReadOnly(ctx, path)
	if err != nil {
		return stats, err
	}
	src.Close()

	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return stats, fmt.Errorf("backup: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmpPath)
		}
	}()

	// VACUUM INTO only reads the source, in one read transaction, but
	// SQLite refuses it on a mode=ro or query_only connection.
	conn, err := sql.Open(driverName, "file:"+url.PathEscape(path)+"?_busy_timeout=10000")
	if err != nil {
		return stats, fmt.Errorf("backup: %w", err)
	}
	_, err = conn.ExecContext(ctx, `VACUUM INTO ?`, tmpPath)
	conn.Close()
	if err != nil {
		return stats, fmt.Errorf("backup %s: %w", path, err)
	}

	if stats, err = backupStats(ctx, tmpPath); err != nil {
		return stats, err
	}
	if err := syncFile(tmpPath); err != nil {
		return stats, fmt.Errorf("backup: %w", err)
	}
	// A hard link, unlike a rename, fails when dest appeared meanwhile.
	if err := os.Link(tmpPath, dest); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return stats, domain.Errorf(domain.EConflict, "%s already exists: give a new file name, or remove it first", dest)
		}
		return stats, fmt.Errorf("backup: %w", err)
	}
	done = true
	os.Remove(tmpPath)
	if err := syncFile(filepath.Dir(dest)); err != nil {
		return stats, fmt.Errorf("backup: %w", err)
	}
	return stats, nil
}

// backupStats counts the events of a finished copy, reading it as amtrack
// would.
func backupStats(ctx context.Context, path string) (BackupStats, error) {
	var stats BackupStats
	db, err := openReadOnly(ctx, path)
	if err != nil {
		return stats, fmt.Errorf("backup: read the copy: %w", err)
	}
	_, n, err := db.Log().Head(ctx)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return stats, fmt.Errorf("backup: read the copy: %w", err)
	}
	stats.Events = n
	fi, err := os.Stat(path)
	if err != nil {
		return stats, fmt.Errorf("backup: %w", err)
	}
	stats.Bytes = fi.Size()
	return stats, nil
}

// syncFile flushes a file (or a directory's entries) to stable storage.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
