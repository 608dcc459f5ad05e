package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/keyring"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// copyHelp is what copy --help says after the summary.
const copyHelp = `SRC and DST are SQLite files or postgres:// URLs, in any combination. SRC is read
as of one snapshot (a server may go on writing to it) and checked against its hash
chain as it is read. Every event keeps its seq, received_at, source, message id,
payload and sealed code bytes, so DST's log head (SEQ:HASH) is SRC's. The sync
checkpoints go too; the read model is rebuilt on DST, then verified.

DST must hold no events: copy never merges logs. A DST that already holds exactly
SRC's events (an earlier copy) is rebuilt and verified only.

Keys: DST's codes open with AMTRACK_KEY_FILE (or AMTRACK_KEY), else with the key
file beside an SQLite DST (created). When that is not SRC's key, the data keys are
rewrapped under it (the sealed bytes stay as they are), which needs SRC's key:
--from-key-file, else the key file beside an SQLite SRC, else, for a PostgreSQL
SRC, AMTRACK_KEY_FILE or AMTRACK_KEY.

Interrupted (Ctrl-C) while the events are copied, or failing, copy leaves DST
without events (they are copied in one transaction), and a new SQLite DST is
removed: run the same command again. Interrupted after that,
while the read model is rebuilt, the same command finds the copy complete and
rebuilds and verifies it. Do not serve DST before copy has finished.`

// runCopy copies the log of --from into the new database --to, then
// rebuilds and verifies the read model there.
//
// The events go in one write transaction (store.Copy), so that Ctrl-C, or
// any failure, leaves DST without events (and a new SQLite DST is removed)
// and a rerun simply starts again: there is no half copy to resume or to
// refuse. The rebuild comes after
// that commit; interrupted, it leaves DST holding the whole log, which a
// rerun recognises (the same events and chain head as SRC) and only
// rebuilds and verifies.
func runCopy(ctx context.Context, e *env, args []string) (err error) {
	fs := newFlags(e, "copy", "")
	from := fs.String("from", "", "the database to copy: an SQLite file or a postgres:// URL")
	to := fs.String("to", "", "the database to copy it into: an SQLite file that does not exist yet, "+
		"or a postgres:// URL of a schema with no amtrack events")
	fromKey := fs.String("from-key-file", "", "the key file of --from, needed when --to's key is another one "+
		"(default: the key file beside an SQLite --from; for PostgreSQL, AMTRACK_KEY_FILE or AMTRACK_KEY)")
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: amtrack copy --from SRC --to DST [flags]\n\n%s.\n\n%s\n\nflags:\n", commands["copy"].summary, copyHelp)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return usageError("copy needs --from SRC and --to DST: amtrack copy --from SRC --to DST")
	}
	if *from == *to {
		return domain.Errorf(domain.EInvalid, "--from and --to are the same database (%s): copy into another one", store.Redact(*to))
	}
	srcOpts, fromConfig, err := copySourceKey(e.cfg, *from, *fromKey)
	if err != nil {
		return err
	}
	src, err := store.OpenReadOnlyOptions(ctx, *from, srcOpts)
	if err != nil {
		if fromConfig && domain.ErrorCode(err) == domain.EInvalid {
			err = fmt.Errorf("%w (copy opens a PostgreSQL --from with AMTRACK_KEY_FILE or AMTRACK_KEY, --to's key: give --from's own with --from-key-file)", err)
		}
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	// Before DST is opened for writing: opening SRC so would migrate it.
	same, err := src.SameDatabase(ctx, *to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	if same {
		return domain.Errorf(domain.EInvalid, "--from %s and --to %s are the same database: copy into another one",
			store.Redact(*from), store.Redact(*to))
	}
	dstOpts, err := withKey(e.cfg, store.Options{}, true)
	if err != nil {
		return err
	}
	created := newFiles(*to, dstOpts)
	dst, err := store.Open(ctx, *to, dstOpts)
	if err != nil {
		removeFiles(created)
		return fmt.Errorf("--to: %w", err)
	}
	committed := false
	defer func() {
		dst.Close()
		// A new SQLite DST that got no events goes, with the key file
		// made for it: it would keep that key, and a rerun meant to give
		// DST another one (SRC's) would be refused.
		switch {
		case err != nil && !committed:
			removeFiles(created)
		case err != nil && ctx.Err() != nil:
			err = &exitError{code: 1, msg: "interrupted after the copy committed, before its read model was rebuilt and verified: " +
				"run the same amtrack copy again to rebuild and verify it"}
		}
	}()
	a := &app{db: dst}
	a.reportRepairs(e.stderr)
	_, count, err := dst.Head(ctx)
	if err != nil {
		return err
	}
	if count == 0 {
		// The read model of an empty log costs nothing to build: built
		// now, the rebuild after the copy is the only fold of the events.
		// (A DST with events is left alone until Copy has said it is a
		// complete copy.)
		if a.proj, err = projection.Open(ctx, dst); err != nil {
			return err
		}
	}

	start := time.Now()
	var bar *progress
	res, err := store.Copy(ctx, src, dst, func(done, total int64) {
		if bar == nil {
			bar = newProgress(e.bars, "copy", total)
		}
		bar.set(done)
	})
	bar.finish()
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: 1, msg: "interrupted before the copy committed: nothing was copied; run the same amtrack copy again"}
		}
		return err
	}
	committed = true
	took := time.Since(start)
	if a.proj == nil {
		if a.proj, err = projection.Open(ctx, dst); err != nil {
			return err
		}
	}
	if res.Already {
		fmt.Fprintf(e.stdout, "%s already holds this copy of %s (head seq %d): nothing copied\n", dst.Path(), src.Path(), res.Target.Seq)
	} else {
		fmt.Fprintf(e.stdout, "copied %d events (head seq %d) from %s to %s in %s (%.0f events/s)\n", res.Events, res.Target.Seq,
			src.Path(), dst.Path(), took.Round(time.Millisecond), float64(res.Events)/took.Seconds())
		switch {
		case res.DataKeys == 0:
			fmt.Fprintln(e.stdout, "data keys: none (no codes)")
		case res.Rewrapped:
			fmt.Fprintf(e.stdout, "data keys: %d, rewrapped from key id %s to key id %s\n", res.DataKeys, res.SourceKey, res.TargetKey)
		default:
			fmt.Fprintf(e.stdout, "data keys: %d, as they were (both open with key id %s)\n", res.DataKeys, res.TargetKey)
		}
	}
	fmt.Fprintf(e.stdout, "source log head %s\n", res.Source)
	fmt.Fprintf(e.stdout, "target log head %s\n", res.Target)

	rebuildBar, endBar := rowBar(e, "rebuild")
	stats, err := a.proj.Rebuild(ctx, rebuildBar)
	endBar()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "rebuilt %d access methods and %d grants from %d events (up to seq %d)\n",
		stats.Methods, stats.Grants, stats.Events, stats.Seq)
	// The target must have the source's head: the copy's own chain, checked
	// by verify from the rows up, ends where the source's does.
	r, err := a.proj.VerifyWith(ctx, projection.VerifyOptions{MaxDiffs: 20, Head: &res.Source})
	if err != nil {
		return err
	}
	for _, d := range slices.Concat(r.LogProblems, r.Diffs) {
		fmt.Fprintln(e.stdout, d)
	}
	if len(r.LogProblems) > 0 || len(r.Diffs) > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("the copy at %s fails verification (%d log problems, %d differences): do not use it",
			dst.Path(), len(r.LogProblems), len(r.Diffs))}
	}
	fmt.Fprintf(e.stdout, "verify: projection matches the log (%d events, %d access methods), log head %s\n", r.Events, r.Methods, r.Head)
	return nil
}

// copySourceKey returns the options that open SRC (from) with its key:
// the key file --from-key-file names; else, for an SQLite SRC, the key
// file beside it (the store's default); else the key of the configuration,
// DST's (fromConfig), or none when its key file does not exist yet (a new
// key for DST: then SRC's codes need --from-key-file to be rewrapped).
func copySourceKey(cfg Config, from, keyFile string) (opts store.Options, fromConfig bool, err error) {
	switch {
	case keyFile != "":
		k, err := keyring.Load(keyFile)
		if err != nil {
			return opts, false, domain.Errorf(domain.ErrorCode(err), "--from-key-file: %s", domain.ErrorMessage(err))
		}
		return store.Options{Keyring: k, KeySource: "the key file " + keyFile}, false, nil
	case store.EngineOf(from) != store.Postgres:
		return opts, false, nil
	}
	opts, err = withKey(cfg, opts, false)
	if domain.ErrorCode(err) == domain.ENotFound {
		return store.Options{}, false, nil
	}
	return opts, opts.Keyring != nil, err
}

// newFiles lists the files that opening the SQLite database path with opts
// would create: the database, its WAL files and (when opts gives no key)
// the key file beside it; none when the database exists, or is a
// PostgreSQL one.
func newFiles(path string, opts store.Options) []string {
	if store.EngineOf(path) == store.Postgres {
		return nil
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	names := []string{path, path + "-wal", path + "-shm", path + "-journal"}
	if opts.Keyring == nil {
		if _, err := os.Lstat(store.KeyPath(path)); errors.Is(err, os.ErrNotExist) {
			names = append(names, store.KeyPath(path))
		}
	}
	return names
}

// removeFiles removes the files names, those that exist.
func removeFiles(names []string) {
	for _, n := range names {
		_ = os.Remove(n)
	}
}
