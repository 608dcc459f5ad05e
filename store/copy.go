package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/amtrack/amtrack/domain"
)

// Copying a log between databases (amtrack copy) keeps every row's bytes:
// each event is inserted with its seq, received_at, source, message id,
// stored payload and sealed bytes as the source holds them, so the target's
// hash chain, computed by the target over its own rows, is the source's,
// hash for hash. Re-appending the events through Append instead would seal
// every code again (a new data key, a new nonce: other sealed bytes, so
// another chain), and would number them afresh, closing the gaps a log's
// seqs may have (a duplicate in a batch leaves one), which the API's seq
// cursors rely on.
//
// The data keys go with the rows, rewrapped under the target's key when it
// is another one: the sealed bytes open on the target with the target's
// key, and the codes of a forgotten method stay forgotten (its key row is
// copied without its key).

// copyBatch is the number of events Copy inserts and chains between two
// progress reports.
const copyBatch = 1000

// CopyProgress is told, after each batch, how many of the source's total
// events Copy has inserted.
type CopyProgress func(done, total int64)

// CopyResult is what Copy did.
type CopyResult struct {
	// Events is the number of events copied (0 when Already).
	Events int64
	// Source is the source's chain head in the snapshot copied; Target the
	// target's after the copy. They are equal.
	Source, Target ChainHead
	// DataKeys is the number of data keys copied, forgotten ones included.
	DataKeys int
	// Rewrapped says the data keys were rewrapped: the target's key is not
	// the source's.
	Rewrapped bool
	// SourceKey and TargetKey are the ids of the keys that wrap the data
	// keys of the source and of the target.
	SourceKey, TargetKey string
	// Already says the target held exactly the source's log already (an
	// earlier copy): nothing was written.
	Already bool
}

// Copy copies the log of src (its events, stream numbers, data keys, sync
// checkpoints and chain metadata; not its read model) into dst, which must
// hold no events, as of one snapshot of src (a server may go on appending
// to src), in one write transaction on dst: a copy that fails or is
// cancelled leaves dst without events, and a second one starts again. Each event is checked
// against src's chain as it is copied, so a source that was edited outside
// amtrack is refused rather than given a fresh chain that would hide the
// change. When dst already holds exactly src's events (an earlier copy),
// Copy writes nothing and reports Already.
//
// Errors: conflict when dst holds other events; invalid_input when the data
// keys must be rewrapped (dst's key is not src's) and src was opened
// without its key, or when src fails its chain; internal.
func Copy(ctx context.Context, src, dst *DB, progress CopyProgress) (CopyResult, error) {
	var res CopyResult
	if dst.write == nil {
		return res, domain.Errorf(domain.EInternal, "database %s is open read only", dst.path)
	}
	err := src.View(ctx, func(snap *Snapshot) error {
		log := snap.Log()
		srcSeq, total, err := log.Head(ctx)
		if err != nil {
			return err
		}
		if res.Source, err = log.ChainHead(ctx); err != nil {
			return err
		}
		keys, err := readDataKeys(ctx, snap)
		if err != nil {
			return err
		}
		var srcKEK string
		if err := snap.QueryRowContext(ctx, `SELECT value FROM store_meta WHERE name = 'kek_id'`).Scan(&srcKEK); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read the key id of %s: %w", src.path, err)
		}
		return dst.Update(ctx, func(tx *Tx) error {
			// Checked in the transaction that copies: a process appending
			// to dst since it was opened is seen here.
			dstSeq, dstCount, err := tx.Log().Head(ctx)
			if err != nil {
				return err
			}
			if dstCount > 0 {
				already, err := copiedBefore(ctx, tx, srcSeq, total, res.Source, dstSeq, dstCount)
				if err != nil {
					return err
				}
				if !already {
					return errNotEmpty(ctx, snap, tx, src, dst, srcSeq, total, dstSeq, dstCount)
				}
				res.Already, res.Target = true, res.Source
				return nil
			}
			res.SourceKey, res.TargetKey = srcKEK, tx.db.keys.kr.ID()
			if res.DataKeys, res.Rewrapped, err = tx.copyDataKeys(ctx, src, srcKEK, keys); err != nil {
				return err
			}
			if err := tx.copyMeta(ctx, snap); err != nil {
				return err
			}
			if err := tx.copyStreams(ctx, snap); err != nil {
				return err
			}
			if res.Events, err = tx.copyEvents(ctx, snap, src, total, progress); err != nil {
				return err
			}
			if res.Target, err = tx.Log().ChainHead(ctx); err != nil {
				return err
			}
			if res.Target != res.Source || res.Events != total {
				return domain.Errorf(domain.EInvalid, "%s has its chain head at %s after its %d events, the copy %s after %d: "+
					"the chain of %s has entries without events; run amtrack verify --db %s", src.path, res.Source, total, res.Target, res.Events, src.path, src.path)
			}
			return nil
		})
	})
	if err != nil {
		return CopyResult{}, fmt.Errorf("copy %s to %s: %w", src.path, dst.path, err)
	}
	return res, nil
}

// copiedBefore reports whether dst (its head dstSeq, its chain head and its
// dstCount events, in tx) holds exactly the events of src's snapshot (its
// head srcSeq, srcCount events, its chain head srcHead): the same count and
// the same chain head, which covers every row's bytes.
func copiedBefore(ctx context.Context, tx *Tx, srcSeq, srcCount int64, srcHead ChainHead, dstSeq, dstCount int64) (bool, error) {
	head, err := tx.Log().ChainHead(ctx)
	if err != nil {
		return false, err
	}
	return dstSeq == srcSeq && dstCount == srcCount && head == srcHead, nil
}

// errNotEmpty is the conflict of a dst that holds events other than src's:
// it says whether they are the first ones of src (an earlier copy, src has
// grown since).
func errNotEmpty(ctx context.Context, snap *Snapshot, tx *Tx, src, dst *DB, srcSeq, total, dstSeq, dstCount int64) error {
	head, err := tx.Log().ChainHead(ctx)
	if err != nil {
		return err
	}
	var hash []byte
	var upTo int64
	err = snap.QueryRowContext(ctx, `SELECT (SELECT hash FROM event_chain WHERE seq = ?), (SELECT count(*) FROM events WHERE seq <= ?)`,
		head.Seq, head.Seq).Scan(&hash, &upTo)
	if err != nil {
		return fmt.Errorf("compare with %s: %w", dst.path, err)
	}
	if head.Seq == dstSeq && upTo == dstCount && bytes.Equal(hash, head.Hash[:]) {
		return domain.Errorf(domain.EConflict, "%s already holds the first %d events of %s (up to seq %d), an earlier copy, and %s has %d more since: "+
			"copy never adds to a log that has events; copy into a new database", dst.path, dstCount, src.path, dstSeq, src.path, total-dstCount)
	}
	return domain.Errorf(domain.EConflict, "%s already holds %d events (up to seq %d) that are not a copy of %s (%d events, up to seq %d): "+
		"copy never merges logs; copy into a new database (a file that does not exist, or an empty PostgreSQL schema)",
		dst.path, dstCount, dstSeq, src.path, total, srcSeq)
}

// dataKeyRow is a row of method_keys.
type dataKeyRow struct {
	id, wrapped []byte // wrapped is nil for a forgotten key
	createdAt   int64
	forgottenAt sql.NullInt64
}

// readDataKeys reads every row of method_keys.
func readDataKeys(ctx context.Context, q Queryer) ([]dataKeyRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT access_method_id, wrapped, created_at, forgotten_at FROM method_keys ORDER BY access_method_id`)
	if err != nil {
		return nil, fmt.Errorf("read data keys: %w", err)
	}
	defer rows.Close()
	var out []dataKeyRow
	for rows.Next() {
		var k dataKeyRow
		if err := rows.Scan(&k.id, &k.wrapped, &k.createdAt, &k.forgottenAt); err != nil {
			return nil, fmt.Errorf("read data keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read data keys: %w", err)
	}
	return out, nil
}

// copyDataKeys inserts src's data keys (their key id srcKEK) into tx's
// database: as they are when its key is src's, else rewrapped from src's
// key to its own, which needs src's key.
func (tx *Tx) copyDataKeys(ctx context.Context, src *DB, srcKEK string, keys []dataKeyRow) (n int, rewrapped bool, err error) {
	to := tx.db.keys.kr
	rewrap := srcKEK != to.ID()
	for _, k := range keys {
		wrapped := k.wrapped
		if wrapped != nil && rewrap {
			if src.keys.kr == nil {
				return 0, false, domain.Errorf(domain.EInvalid, "the codes of %s are sealed under key id %s, and %s has another key (%s, key id %s): "+
					"their data keys must be rewrapped, which needs the key of %s: give it (amtrack copy --from-key-file), "+
					"or give %s the same key", src.path, srcKEK, tx.db.path, tx.db.keys.source, to.ID(), src.path, tx.db.path)
			}
			if wrapped, err = src.keys.kr.Rewrap(wrapped, to); err != nil {
				return 0, false, fmt.Errorf("rewrap a data key of %s: %w", src.path, err)
			}
			rewrapped = true
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO method_keys (access_method_id, wrapped, created_at, forgotten_at) VALUES (?, ?, ?, ?)`,
			k.id, wrapped, k.createdAt, k.forgottenAt); err != nil {
			return 0, false, fmt.Errorf("copy data keys: %w", err)
		}
	}
	return len(keys), rewrapped, nil
}

// copyMeta copies the sync checkpoints (a sync from the target resumes
// where the source's got) and the chain's log_meta entries the target does
// not have (how the chain started, which is the source's: the hashes are
// the same). A new SQLite log records its own start when it is created, and
// log_meta is append-only, so that one stays.
func (tx *Tx) copyMeta(ctx context.Context, snap *Snapshot) error {
	type row struct {
		key    string
		v1, v2 int64
	}
	read := func(query string, second bool) ([]row, error) {
		rows, err := snap.QueryContext(ctx, query)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []row
		for rows.Next() {
			var r row
			dest := []any{&r.key, &r.v1}
			if second {
				dest = append(dest, &r.v2)
			}
			if err := rows.Scan(dest...); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, rows.Err()
	}
	syncs, err := read(`SELECT endpoint, checkpoint, updated_at FROM sync_state`, true)
	if err != nil {
		return fmt.Errorf("read sync checkpoints: %w", err)
	}
	for _, r := range syncs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sync_state (endpoint, checkpoint, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (endpoint) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at`, r.key, r.v1, r.v2); err != nil {
			return fmt.Errorf("copy sync checkpoints: %w", err)
		}
	}
	metas, err := read(`SELECT key, value FROM log_meta`, false)
	if err != nil {
		return fmt.Errorf("read log_meta: %w", err)
	}
	// How the source's chain started (a log chained when it was upgraded
	// cannot show edits made before) is the copy's too, but the target
	// recorded its own start when it was created, and log_meta is
	// append-only: the source's goes under source_ keys, which Backfill
	// reads first.
	b, err := snap.Log().Backfill(ctx)
	if err != nil {
		return err
	}
	metas = append(metas, row{key: "source_chain_backfilled_to", v1: b.To}, row{key: "source_chain_backfilled_at", v1: b.At.UnixNano()})
	for _, r := range metas {
		if _, err := tx.ExecContext(ctx, `INSERT INTO log_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, r.key, r.v1); err != nil {
			return fmt.Errorf("copy log_meta: %w", err)
		}
	}
	return nil
}

// copyStreams inserts the source's stream numbers, before any event, and
// puts them in the transaction's stream cache, so that every event gets its
// method_stream and grant links with the source's numbers. (Numbered afresh,
// they could differ: Stream numbers streams in the order an insert meets
// them, and that order depends on how the source's batches were cut.)
func (tx *Tx) copyStreams(ctx context.Context, snap *Snapshot) error {
	rows, err := snap.QueryContext(ctx, `SELECT stream, kind, id FROM event_streams ORDER BY stream`)
	if err != nil {
		return fmt.Errorf("read event_streams: %w", err)
	}
	defer rows.Close()
	if tx.streams == nil {
		tx.streams = map[streamKey]int64{}
	}
	const cols = 3
	args := make([]any, 0, cols*chainRows)
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO event_streams (stream, kind, id) VALUES `+Placeholders(cols, len(args)/cols), args...)
		args = args[:0]
		if err != nil {
			return fmt.Errorf("copy event_streams: %w", err)
		}
		return nil
	}
	for rows.Next() {
		var n int64
		var kind string
		var b []byte
		if err := rows.Scan(&n, &kind, &b); err != nil {
			return fmt.Errorf("read event_streams: %w", err)
		}
		id, ok := domain.IDFromBytes(b)
		if !ok {
			return damagedID(fmt.Sprintf("stream %d", n), "id", len(b))
		}
		tx.streams[streamKey{kind, id}] = n
		args = append(args, n, kind, b)
		if len(args) == cap(args) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read event_streams: %w", err)
	}
	return flush()
}

// copyEvents inserts the events of the snapshot, in seq order, into the
// empty log of tx, with their bytes as they are (insert stores a record's
// stored payload and sealed bytes when it has them), and chains them,
// checking each hash against the source's chain entry. It returns the
// number of events copied.
func (tx *Tx) copyEvents(ctx context.Context, snap *Snapshot, src *DB, total int64, progress CopyProgress) (int64, error) {
	rows, err := snap.QueryContext(ctx, `SELECT c.hash, `+recordListE+` FROM events e LEFT JOIN event_chain c ON c.seq = e.seq ORDER BY e.seq`)
	if err != nil {
		return 0, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var (
		prev   [sha256.Size]byte // the target is empty: the chain starts from the zero hash
		done   int64
		batch  = make([]Record, 0, copyBatch)
		hashes = make([][]byte, 0, copyBatch) // the source's chain entries of batch
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		inserted, err := tx.insert(ctx, batch)
		if err != nil {
			return err
		}
		args := make([]any, 0, 2*chainRows)
		for i := range batch {
			rec := &batch[i]
			if !inserted[i] {
				return domain.Errorf(domain.EInternal, "event %s (seq %d of %s) was not inserted: the target changed during the copy", rec.Event.ID, rec.Seq, src.path)
			}
			h := recordHash(prev, rec)
			if hashes[i] == nil {
				return domain.Errorf(domain.EInvalid, "seq %d of %s has no chain entry: %s fails its integrity check (run amtrack verify --db %s); "+
					"copy refuses such a log, as the copy's new chain would hide the change", rec.Seq, src.path, src.path, src.path)
			}
			if !bytes.Equal(h[:], hashes[i]) {
				return domain.Errorf(domain.EInvalid, "seq %d of %s does not hash to its chain entry: %s fails its integrity check (run amtrack verify --db %s); "+
					"copy refuses such a log, as the copy's new chain would hide the change", rec.Seq, src.path, src.path, src.path)
			}
			prev = h
			args = append(args, rec.Seq, h[:])
			if len(args) == cap(args) || i == len(batch)-1 {
				if err := insertChain(ctx, tx, args); err != nil {
					return err
				}
				args = args[:0]
			}
		}
		done += int64(len(batch))
		batch, hashes = batch[:0], hashes[:0]
		if progress != nil {
			progress(done, total)
		}
		return nil
	}
	for rows.Next() {
		var hash []byte
		rec, _, err := scanRecordAfter(rows, &hash)
		if err != nil {
			return 0, fmt.Errorf("read events: %w", err)
		}
		batch, hashes = append(batch, rec), append(hashes, hash)
		if len(batch) == copyBatch {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read events: %w", err)
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return done, nil
}

// rowBytes returns what insert stores of rec: the stored payload and sealed
// bytes of a record read from a log (Copy's, which keeps them as they are),
// else those of its event sealed now.
func (tx *Tx) rowBytes(ctx context.Context, rec *Record) (payload, sealed []byte, err error) {
	if rec.stored != nil {
		return rec.stored, rec.storedSealed, nil
	}
	return tx.seal(ctx, rec.Event, rec.redacted)
}

// SameDatabase reports whether target (a --db value) names db itself: the
// same file, or the same schema of the same database on the same
// PostgreSQL server (however the URL spells it). A file that does not
// exist is not db. Errors: unavailable when the PostgreSQL server of
// target cannot be asked.
func (db *DB) SameDatabase(ctx context.Context, target string) (bool, error) {
	if EngineOf(target) != db.engine {
		return false, nil
	}
	if db.engine != Postgres {
		a, err := os.Stat(db.path)
		if err != nil {
			return false, fmt.Errorf("stat %s: %w", db.path, err)
		}
		b, err := os.Stat(target)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("stat %s: %w", target, err)
		}
		return os.SameFile(a, b), nil
	}
	other, err := openPostgresPool(target, true, nil)
	if err != nil {
		return false, err
	}
	defer other.Close()
	mine, err := pgIdentity(ctx, db.read)
	if err != nil {
		return false, pgOpenError(db.path, err)
	}
	theirs, err := pgIdentity(ctx, other)
	if err != nil {
		return false, pgOpenError(Redact(target), err)
	}
	return mine == theirs, nil
}

// pgIdentity names the schema a PostgreSQL session works in: the server's
// cluster (its system identifier), the database and the current schema.
func pgIdentity(ctx context.Context, q *sql.DB) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT (SELECT system_identifier FROM pg_control_system())::text || '/' ||
		current_database() || '/' || coalesce(current_schema(), '')`).Scan(&id)
	return id, err
}
