package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/amtrack/amtrack/domain"
)

// ChainHead is the log's hash chain at one seq: the hash of the event at
// Seq, which covers every event before it. The empty log's head is seq 0
// with the zero hash.
type ChainHead struct {
	Seq  int64
	Hash [sha256.Size]byte
}

// String returns the head as SEQ:HASH, the hash in lowercase hex: the form
// ParseChainHead reads and amtrack verify --head takes.
func (h ChainHead) String() string {
	return strconv.FormatInt(h.Seq, 10) + ":" + hex.EncodeToString(h.Hash[:])
}

// ParseChainHead parses SEQ:HASH (a seq of 0 or more, then 64 hex digits).
// Errors: invalid_input saying what is wrong.
func ParseChainHead(s string) (ChainHead, error) {
	var h ChainHead
	seq, sum, ok := strings.Cut(s, ":")
	if !ok {
		return h, domain.Errorf(domain.EInvalid, "log head %q is not SEQ:HASH: give it as amtrack verify printed it, e.g. 1234:%s", s, strings.Repeat("ab", 4)+"...")
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil || n < 0 {
		return h, domain.Errorf(domain.EInvalid, "log head %q: seq %q is not a number of 0 or more", s, seq)
	}
	b, err := hex.DecodeString(sum)
	if err != nil || len(b) != sha256.Size {
		return h, domain.Errorf(domain.EInvalid, "log head %q: the hash must be %d hex digits, got %q", s, 2*sha256.Size, sum)
	}
	h.Seq = n
	copy(h.Hash[:], b)
	return h, nil
}

// chainHash is the chain's hash of one event as stored: SHA-256 over the
// previous event's hash, then seq and received_at as 8 big-endian bytes
// each, the source with a 4-byte length, a byte saying whether there is a
// message id and the id with a 4-byte length, the payload column (without
// codes) with an 8-byte length, and a byte saying whether there are sealed
// bytes and those with an 8-byte length. Every field is fixed-width or
// length-prefixed, so no two different rows give the same input; and it
// needs no key, so it verifies without one and after a key is forgotten.
func chainHash(prev [sha256.Size]byte, seq, receivedAt int64, source string, messageID *string, payload, sealed []byte) [sha256.Size]byte {
	var head [sha256.Size + 8 + 8 + 4]byte
	copy(head[:], prev[:])
	binary.BigEndian.PutUint64(head[32:], uint64(seq))
	binary.BigEndian.PutUint64(head[40:], uint64(receivedAt))
	binary.BigEndian.PutUint32(head[48:], uint32(len(source)))
	h := sha256.New()
	h.Write(head[:])
	h.Write([]byte(source))
	var n [8]byte
	if messageID == nil {
		h.Write([]byte{0})
	} else {
		h.Write([]byte{1})
		binary.BigEndian.PutUint32(n[:4], uint32(len(*messageID)))
		h.Write(n[:4])
		h.Write([]byte(*messageID))
	}
	binary.BigEndian.PutUint64(n[:], uint64(len(payload)))
	h.Write(n[:])
	h.Write(payload)
	if sealed == nil {
		h.Write([]byte{0})
	} else {
		h.Write([]byte{1})
		binary.BigEndian.PutUint64(n[:], uint64(len(sealed)))
		h.Write(n[:])
		h.Write(sealed)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// recordHash is chainHash of a record as it is stored (an empty message id
// is stored as NULL).
func recordHash(prev [sha256.Size]byte, rec *Record) [sha256.Size]byte {
	var id *string
	if rec.MessageID != "" {
		id = &rec.MessageID
	}
	return chainHash(prev, rec.Seq, rec.ReceivedAt, rec.Source, id, rec.stored, rec.storedSealed)
}

// chainRows is the number of rows per multi-row INSERT into event_chain.
const chainRows = 256

// chain appends the chain entries of recs, just inserted, in seq order.
func (tx *Tx) chain(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	head, err := tx.Log().ChainHead(ctx)
	if err != nil {
		return err
	}
	prev := head.Hash
	args := make([]any, 0, 2*min(len(recs), chainRows))
	for i := range recs {
		h := recordHash(prev, &recs[i])
		prev = h
		args = append(args, recs[i].Seq, h[:])
		if len(args) == cap(args) || i == len(recs)-1 {
			if err := insertChain(ctx, tx, args); err != nil {
				return err
			}
			args = args[:0]
		}
	}
	return nil
}

// chainAll chains, from the first, every event that query selects (seq,
// received_at, source, message_id, payload, sealed, in seq order), into an
// empty event_chain, and returns the last seq.
func (tx *Tx) chainAll(ctx context.Context, query string) (int64, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return 0, err
	}
	var args []any
	var prev [sha256.Size]byte
	var last int64
	for rows.Next() {
		var seq, received int64
		var source string
		var id sql.NullString
		var payload, sealed []byte
		if err := rows.Scan(&seq, &received, &source, &id, &payload, &sealed); err != nil {
			rows.Close()
			return 0, err
		}
		var idp *string
		if id.Valid {
			idp = &id.String
		}
		prev = chainHash(prev, seq, received, source, idp, payload, sealed)
		h := prev // a copy: args keeps a slice of it
		args = append(args, seq, h[:])
		last = seq
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for start := 0; start < len(args); start += 2 * chainRows {
		if err := insertChain(ctx, tx, args[start:min(start+2*chainRows, len(args))]); err != nil {
			return 0, err
		}
	}
	return last, nil
}

// rechain computes the whole chain again over the rows as they are now
// stored, inside a migration that rewrote stored rows (sealing the codes
// of a log written before they were sealed): it lifts the chain's
// append-only triggers for this transaction and records when, in log_meta
// (chain_rechained_at), since heads recorded before it no longer match.
func (tx *Tx) rechain(ctx context.Context) error {
	restore, err := tx.liftTriggers(ctx, "event_chain_no_update", "event_chain_no_delete")
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM event_chain`); err != nil {
		return fmt.Errorf("chain the log again: %w", err)
	}
	if _, err := tx.chainAll(ctx, `SELECT seq, received_at, source, message_id, payload, sealed FROM events ORDER BY seq`); err != nil {
		return fmt.Errorf("chain the log again: %w", err)
	}
	if err := restore(); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO log_meta (key, value) VALUES ('chain_rechained_at', ?)`, time.Now().UnixNano())
	return err
}

// liftTriggers drops the named triggers for the rest of tx and returns the
// function that creates them again from their stored SQL.
func (tx *Tx) liftTriggers(ctx context.Context, names ...string) (restore func() error, err error) {
	var sqls []string
	for _, name := range names {
		var s string
		if err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = ?`, name).Scan(&s); err != nil {
			return nil, fmt.Errorf("read the append-only trigger %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `DROP TRIGGER "`+name+`"`); err != nil {
			return nil, fmt.Errorf("lift the append-only trigger %s: %w", name, err)
		}
		sqls = append(sqls, s)
	}
	return func() error {
		for i, s := range sqls {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("restore the append-only trigger %s: %w", names[i], err)
			}
		}
		return nil
	}, nil
}

// insertChain inserts (seq, hash) pairs.
func insertChain(ctx context.Context, tx *Tx, args []any) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_chain (seq, hash) VALUES `+Placeholders(2, len(args)/2), args...); err != nil {
		return fmt.Errorf("chain events: %w", err)
	}
	return nil
}

// ChainHead returns the last entry of the log's hash chain: its seq and
// hash, seq 0 and the zero hash for an empty log. Errors: internal.
func (l Log) ChainHead(ctx context.Context) (ChainHead, error) {
	var h ChainHead
	var b []byte
	err := l.q.QueryRowContext(ctx, `SELECT seq, hash FROM event_chain ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &b)
	if err == sql.ErrNoRows {
		return ChainHead{}, nil
	}
	if err != nil {
		return h, ended(ctx, fmt.Errorf("read the log's chain head: %w", err))
	}
	if len(b) != sha256.Size {
		return h, domain.Errorf(domain.EInternal, "the log's chain entry at seq %d has %d bytes, not %d: run amtrack verify", h.Seq, len(b), sha256.Size)
	}
	copy(h.Hash[:], b)
	return h, nil
}

// Backfill records how the chain started, in log_meta: chain_backfilled_to
// is the last seq of a log written before the chain, chained at once by the
// migration that added it, at chain_backfilled_at.
type Backfill struct {
	To int64     // 0: the log was chained from its first event
	At time.Time // when the migration ran
}

// Backfill returns how the chain started (zero before the migration ran).
// Errors: internal.
func (l Log) Backfill(ctx context.Context) (Backfill, error) {
	rows, err := l.q.QueryContext(ctx, `SELECT key, value FROM log_meta WHERE key IN
		('chain_backfilled_to', 'chain_backfilled_at', 'source_chain_backfilled_to', 'source_chain_backfilled_at')`)
	if err != nil {
		return Backfill{}, ended(ctx, fmt.Errorf("read log_meta: %w", err))
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var k string
		var v int64
		if err := rows.Scan(&k, &v); err != nil {
			return Backfill{}, ended(ctx, fmt.Errorf("read log_meta: %w", err))
		}
		m[k] = v
	}
	if err := rows.Err(); err != nil {
		return Backfill{}, ended(ctx, fmt.Errorf("read log_meta: %w", err))
	}
	// A copy (store.Copy) records its source's start under source_ keys:
	// the chain, and so what it can show, is the source's.
	prefix := ""
	if _, ok := m["source_chain_backfilled_to"]; ok {
		prefix = "source_"
	}
	var b Backfill
	b.To = m[prefix+"chain_backfilled_to"]
	if at, ok := m[prefix+"chain_backfilled_at"]; ok {
		b.At = time.Unix(0, at).UTC()
	}
	return b, nil
}

// backfillChain chains every event of a log written before the chain
// existed, inside the migration that adds it (so a read command never sees
// the table without its entries), and records how far it went.
func backfillChain(ctx context.Context, tx *Tx) error {
	// A log this old has no sealed column yet (migration 0004 adds it);
	// PostgreSQL's schema has had it from the start.
	sealed := "sealed"
	if tx.db.engine != Postgres {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('events') WHERE name = 'sealed'`).Scan(&n); err != nil {
			return fmt.Errorf("backfill the chain: %w", err)
		} else if n == 0 {
			sealed = "NULL"
		}
	}
	last, err := tx.chainAll(ctx, `SELECT seq, received_at, source, message_id, payload, `+sealed+` FROM events ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("backfill the chain: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO log_meta (key, value) VALUES ('chain_backfilled_to', ?), ('chain_backfilled_at', ?)`,
		last, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("backfill the chain: %w", err)
	}
	return nil
}
