package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/keyring"
)

// LogCheck is what CheckLog found.
type LogCheck struct {
	// Head is the chain's last entry, as recomputed up to where the chain
	// holds (the stored one when it breaks).
	Head ChainHead
	// Backfill says how the chain started.
	Backfill Backfill
	// Problems name the seq and what is wrong, never a PIN code: the first
	// seq where the chain breaks, events whose extracted columns, stream
	// numbers or grant links disagree with their payload, a recorded head
	// the chain does not reach, missing or altered triggers. Empty when the
	// log is intact.
	Problems []string
}

// CheckLog walks the whole log in the snapshot: it recomputes the hash
// chain (reporting the first seq where it breaks: an event edited,
// inserted, deleted or moved outside amtrack, or a chain entry edited),
// parses every payload again and compares it with the columns the fold
// reads, the stream numbers and the grant links, checks the recorded head
// want (when not nil) and that every append-only trigger is in place. It
// keeps at most maxProblems problems. Errors: internal.
func (s *Snapshot) CheckLog(ctx context.Context, want *ChainHead, maxProblems int) (LogCheck, error) {
	c := &checker{max: maxProblems, workers: checkWorkers()}
	if err := c.run(ctx, s.Log(), want); err != nil {
		return LogCheck{}, fmt.Errorf("check the log: %w", err)
	}
	return c.out, nil
}

type checker struct {
	out LogCheck
	max int
	// workers parse rows ahead of the walk (none: the walk parses each
	// row itself).
	workers int
	// deks are the data keys by access method, when the key is at hand,
	// to open sealed rows (loaded before the walk: the walk holds a
	// result set open on the snapshot's one connection).
	deks dataKeys
}

// loadDataKeys unwraps every data key that is not forgotten.
func (c *checker) loadDataKeys(ctx context.Context, l Log) error {
	if l.db == nil || l.db.keys == nil || l.db.keys.kr == nil {
		return nil
	}
	rows, err := l.q.QueryContext(ctx, `SELECT access_method_id, wrapped FROM method_keys WHERE wrapped IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("read data keys: %w", err)
	}
	defer rows.Close()
	c.deks = dataKeys{}
	for rows.Next() {
		var id, wrapped []byte
		if err := rows.Scan(&id, &wrapped); err != nil {
			return fmt.Errorf("read data keys: %w", err)
		}
		m, ok := domain.IDFromBytes(id)
		if !ok {
			c.problem("a data key has an id of %d bytes: method_keys was edited outside amtrack", len(id))
			continue
		}
		dek, err := l.db.keys.kr.Unwrap(wrapped)
		if err != nil {
			c.problem("the data key of access method %s does not open with this key: method_keys was edited outside amtrack", m)
			continue
		}
		c.deks[m] = [keyring.KeySize]byte(dek)
	}
	return rows.Err()
}

func (c *checker) problem(format string, args ...any) {
	if len(c.out.Problems) < c.max {
		c.out.Problems = append(c.out.Problems, fmt.Sprintf(format, args...))
	}
}

// chainEntry is one row of event_chain.
type chainEntry struct {
	seq  int64
	hash []byte
}

// link is one row of event_grants.
type link struct {
	seq, stream, occurredAt, createdAt int64
	eventID                            []byte
}

func (c *checker) run(ctx context.Context, l Log, want *ChainHead) error {
	problems, err := l.Triggers(ctx)
	if err != nil {
		return err
	}
	for _, p := range problems {
		c.problem("%s: the log may have been edited outside amtrack; run amtrack rebuild (or serve or ingest) to recreate it", p)
	}
	if c.out.Backfill, err = l.Backfill(ctx); err != nil {
		return err
	}
	streams, err := l.allStreams(ctx)
	if err != nil {
		return err
	}
	if err := c.loadDataKeys(ctx, l); err != nil {
		return err
	}

	events, err := l.q.QueryContext(ctx, `SELECT method_stream, `+recordList+` FROM events ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	defer events.Close()
	chain, err := l.q.QueryContext(ctx, `SELECT seq, hash FROM event_chain ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("read the chain: %w", err)
	}
	defer chain.Close()
	links, err := l.linkRows(ctx)
	if err != nil {
		return fmt.Errorf("read grant links: %w", err)
	}
	defer links.close()

	nextEntry := func() (*chainEntry, error) {
		if !chain.Next() {
			return nil, chain.Err()
		}
		var e chainEntry
		err := chain.Scan(&e.seq, &e.hash)
		return &e, err
	}
	nextLink := links.next
	entry, err := nextEntry()
	if err != nil {
		return fmt.Errorf("read the chain: %w", err)
	}
	lk, err := nextLink()
	if err != nil {
		return fmt.Errorf("read grant links: %w", err)
	}

	var prev [sha256.Size]byte // the recomputed hash of the previous event
	broken := false            // the chain broke: stop checking it
	var suspect *brokenAt      // a mismatch waiting for the next entry to say which side changed
	headSeen := want == nil || want.Seq == 0
	if want != nil && want.Seq == 0 && want.Hash != ([sha256.Size]byte{}) {
		c.problem("log head 0: the recorded head's hash must be zero at seq 0")
	}
	checkHead := func(seq int64, stored []byte) {
		if want == nil || seq != want.Seq {
			return
		}
		headSeen = true
		if !bytes.Equal(stored, want.Hash[:]) {
			c.problem("log head %d: the chain has %x there, the recorded head %x: the log up to seq %d changed after the head was recorded",
				seq, stored, want.Hash[:], seq)
		}
	}
	chainBreak := func(format string, args ...any) {
		if !broken {
			broken = true
			c.problem(format, args...)
		}
	}

	// The rows are read here, on the snapshot's connection, and parsed
	// ahead by workers; they come back in seq order.
	feed := newRowFeed(ctx, events, c.deks, c.workers)
	defer feed.close()
	for {
		rec, err := feed.next()
		if err != nil {
			return err
		}
		// Chain entries of seqs the log does not have.
		for entry != nil && (rec == nil || entry.seq < rec.Seq) {
			checkHead(entry.seq, entry.hash)
			if suspect != nil {
				c.problem("%s", suspect.message(nil, nil))
				broken, suspect = true, nil
			}
			chainBreak("seq %d: the chain has an entry but the log has no event: the event was deleted outside amtrack", entry.seq)
			if entry, err = nextEntry(); err != nil {
				return fmt.Errorf("read the chain: %w", err)
			}
		}
		// Grant links of seqs the log does not have.
		for lk != nil && (rec == nil || lk.seq < rec.Seq) {
			c.problem("seq %d: event_grants links it to grant stream %d, but the log has no event at that seq", lk.seq, lk.stream)
			if lk, err = nextLink(); err != nil {
				return fmt.Errorf("read grant links: %w", err)
			}
		}
		if rec == nil {
			break
		}

		// The chain.
		switch {
		case entry == nil || entry.seq != rec.Seq:
			if suspect != nil {
				c.problem("%s", suspect.message(nil, nil))
				broken, suspect = true, nil
			}
			chainBreak("seq %d: the event has no chain entry: it was inserted outside amtrack", rec.Seq)
		default:
			checkHead(entry.seq, entry.hash)
			h := rec.hash(prev)
			if suspect != nil {
				c.problem("%s", suspect.message(rec, entry.hash))
				broken, suspect = true, nil
			}
			if !broken && !bytes.Equal(h[:], entry.hash) {
				suspect = &brokenAt{seq: rec.Seq, computed: h, stored: entry.hash}
			}
			if !broken && suspect == nil {
				prev = h
				c.out.Head = ChainHead{Seq: rec.Seq, Hash: h}
			} else if len(entry.hash) == sha256.Size {
				c.out.Head.Seq = entry.seq
				copy(c.out.Head.Hash[:], entry.hash)
			}
			if entry, err = nextEntry(); err != nil {
				return fmt.Errorf("read the chain: %w", err)
			}
		}

		// The payload against the columns, the streams and the links.
		parsed := c.columns(rec)
		c.stream(rec, parsed, rec.methodStream, streams)
		var got []link
		for lk != nil && lk.seq == rec.Seq {
			got = append(got, *lk)
			if lk, err = nextLink(); err != nil {
				return fmt.Errorf("read grant links: %w", err)
			}
		}
		c.links(rec, parsed, got, streams)
	}
	if suspect != nil {
		c.problem("%s", suspect.message(nil, nil))
	}
	if !headSeen {
		c.problem("log head %d: the log has no chain entry at that seq: events up to it were deleted outside amtrack, or the head is from another database", want.Seq)
	}
	return nil
}

// brokenAt is the first seq whose recomputed hash differs from its chain
// entry.
type brokenAt struct {
	seq      int64
	computed [sha256.Size]byte
	stored   []byte
}

// message says what changed at b, told by the next event and its entry
// (nil when there is none): when the next entry follows from the stored
// hash, the event changed; when it follows from the recomputed one, the
// entry did.
func (b *brokenAt) message(next *checkRow, nextStored []byte) string {
	if next != nil {
		var stored [sha256.Size]byte
		copy(stored[:], b.stored)
		if h := next.hash(stored); len(b.stored) == sha256.Size && bytes.Equal(h[:], nextStored) {
			return fmt.Sprintf("seq %d: the chain breaks: the event's payload, received_at, source or message id differs from what was appended "+
				"(edited or moved outside amtrack), or an event before it was deleted", b.seq)
		}
		if h := next.hash(b.computed); bytes.Equal(h[:], nextStored) {
			return fmt.Sprintf("seq %d: the chain breaks: its chain entry was edited outside amtrack (the event still hashes to %x)", b.seq, b.computed[:])
		}
	}
	return fmt.Sprintf("seq %d: the chain breaks: the event (payload, received_at, source or message id) or its chain entry was edited, "+
		"moved or deleted outside amtrack", b.seq)
}

// checkRow is a log row as CheckLog reads it: the record, and its message
// id as stored (nil for NULL).
type checkRow struct {
	Record
	messageID    *string
	methodStream sql.NullInt64
	// parsed is the payload parsed again (nil when it does not parse,
	// then parseErr says why), seal what its sealed bytes hold: both
	// worked out by rowFeed.parse, which needs no other row.
	parsed   *domain.Event
	parseErr error
	seal     sealCheck
}

// hash is the row's chain hash after prev.
func (r *checkRow) hash(prev [sha256.Size]byte) [sha256.Size]byte {
	return chainHash(prev, r.Seq, r.ReceivedAt, r.Source, r.messageID, r.stored, r.storedSealed)
}

// scanCheckRow reads a row of method_stream then recordList.
func scanCheckRow(rows *sql.Rows) (checkRow, error) {
	var r checkRow
	rec, messageID, err := scanRecordAfter(rows, &r.methodStream)
	if err != nil {
		return checkRow{}, err
	}
	r.Record = rec
	if messageID.Valid {
		r.messageID = &messageID.String
	}
	return r, nil
}

// columns parses rec's payload again and compares it with the columns the
// fold reads, returning the parsed event (nil when it does not parse).
func (c *checker) columns(rec *checkRow) *domain.Event {
	p, err := rec.parsed, rec.parseErr
	if p == nil {
		field := ""
		var de *domain.Error
		if errors.As(err, &de) && de.Field != "" {
			field = " (field " + strconv.Quote(de.Field) + ")"
		}
		c.problem("seq %d: the stored payload is no longer a valid event%s: it was edited outside amtrack", rec.Seq, field)
		return nil
	}
	e := rec.Event
	differ := func(col string, got, want any) {
		c.problem("seq %d: column %s is %v, the payload gives %v: the row was edited outside amtrack", rec.Seq, col, got, want)
	}
	if e.ID != p.ID {
		differ("event_id", e.ID, p.ID)
	}
	if e.Type != p.Type {
		differ("event_type", strconv.Quote(e.Type), strconv.Quote(p.Type))
	}
	if e.WorkspaceID != p.WorkspaceID {
		differ("workspace_id", e.WorkspaceID, p.WorkspaceID)
	}
	if e.OccurredAt != p.OccurredAt {
		differ("occurred_at", e.OccurredAt, p.OccurredAt)
	}
	if e.CreatedAt != p.CreatedAt {
		differ("created_at", e.CreatedAt, p.CreatedAt)
	}
	if e.AccessMethodID != p.AccessMethodID {
		differ("access_method_id", e.AccessMethodID, p.AccessMethodID)
	}
	if e.AccessGrantID != p.AccessGrantID {
		differ("access_grant_id", e.AccessGrantID, p.AccessGrantID)
	}
	if !slices.Equal(e.AccessGrantIDs, p.AccessGrantIDs) {
		differ("access_grant_ids", e.AccessGrantIDs, p.AccessGrantIDs)
	}
	if !slices.Equal(e.AccessGrantKeys, p.AccessGrantKeys) {
		differ("access_grant_keys", e.AccessGrantKeys, p.AccessGrantKeys)
	}
	// has_code says whether the event carries a code: for a row in clear,
	// its payload tells; a sealed row's payload has none, and only its
	// sealed bytes tell, when the key is at hand.
	want, known := p.Code != nil, true
	if rec.storedSealed != nil {
		want, known = c.sealedCode(rec.Seq, rec.seal)
	}
	if hasCode := e.CarriesCode(); known && hasCode != want {
		c.problem("seq %d: column has_code is %v, the event gives %v (values redacted): the row was edited outside amtrack", rec.Seq, hasCode, want)
	}
	if (e.IsBackupCode == nil) != (p.IsBackupCode == nil) || (e.IsBackupCode != nil && *e.IsBackupCode != *p.IsBackupCode) {
		differ("is_backup_code", showBool(e.IsBackupCode), showBool(p.IsBackupCode))
	}
	if !sameString(e.AccessGrantKey, p.AccessGrantKey) {
		differ("access_grant_key", showString(e.AccessGrantKey), showString(p.AccessGrantKey))
	}
	if !sameString(e.StartsAt, p.StartsAt) {
		differ("starts_at", showString(e.StartsAt), showString(p.StartsAt))
	}
	if !sameString(e.EndsAt, p.EndsAt) {
		differ("ends_at", showString(e.EndsAt), showString(p.EndsAt))
	}
	return p
}

// sealCheck is what a row's sealed bytes hold, worked out by openSealed.
type sealCheck struct {
	// openFailed: the bytes do not open; differs: they open to another
	// payload than the one in clear; parseFailed: they are not an event.
	openFailed, differs, parseFailed bool
	// carries says whether the event they hold carries a code; known is
	// false without the key (or the method's codes were forgotten, or
	// the bytes did not open or parse).
	carries, known bool
}

// openSealed opens rec's sealed bytes with its method's data key from
// deks (read only: workers share it).
func openSealed(deks dataKeys, rec *checkRow) sealCheck {
	if deks == nil {
		return sealCheck{}
	}
	dek, ok := deks[rec.Event.AccessMethodID]
	if !ok {
		return sealCheck{} // forgotten, or a damaged key already reported
	}
	raw, err := keyring.Open(dek[:], rec.storedSealed, rec.Event.ID[:])
	if err != nil {
		return sealCheck{openFailed: true}
	}
	s := sealCheck{differs: !bytes.Equal(domain.RedactPayload(raw), rec.stored)}
	p, err := domain.ParseEvent(raw)
	if err != nil {
		s.parseFailed = true
		return s
	}
	s.carries, s.known = p.Code != nil, true
	return s
}

// sealedCode reports whether the event in the sealed bytes of the row at
// seq carries a code (s, from openSealed); known is false without the key
// (or the method's codes were forgotten). Sealed bytes that do not open,
// or that disagree with the payload in clear, are problems.
func (c *checker) sealedCode(seq int64, s sealCheck) (carries, known bool) {
	if s.openFailed {
		c.problem("seq %d: the sealed bytes do not open: the row was edited outside amtrack", seq)
		return false, false
	}
	if s.differs {
		c.problem("seq %d: the payload differs from its sealed bytes: the row was edited outside amtrack", seq)
	}
	if s.parseFailed {
		c.problem("seq %d: the sealed bytes are no longer a valid event: the row was edited outside amtrack", seq)
		return false, false
	}
	return s.carries, s.known
}

// stream checks that rec's method_stream numbers the stream of its access
// method (and that only method events have one).
func (c *checker) stream(rec *checkRow, p *domain.Event, methodStream sql.NullInt64, streams *streamIndex) {
	if p == nil {
		return
	}
	if !p.InMethodHistory() {
		if methodStream.Valid {
			c.problem("seq %d: a %s event has method_stream %d: the row was edited outside amtrack", rec.Seq, p.Type, methodStream.Int64)
		}
		return
	}
	if !methodStream.Valid {
		c.problem("seq %d: the event has no method_stream: the row was edited outside amtrack", rec.Seq)
		return
	}
	k, ok := streams.key(methodStream.Int64)
	switch {
	case !ok:
		c.problem("seq %d: method_stream %d is not in event_streams: the streams were edited outside amtrack", rec.Seq, methodStream.Int64)
	case k.kind != KindMethod || k.id != p.AccessMethodID:
		c.problem("seq %d: method_stream %d is %s %s in event_streams, the payload names access_method %s: the streams were renumbered outside amtrack",
			rec.Seq, methodStream.Int64, k.kind, k.id, p.AccessMethodID)
	}
}

// links checks rec's grant links (got) against the grants its payload names.
func (c *checker) links(rec *checkRow, p *domain.Event, got []link, streams *streamIndex) {
	if p == nil {
		return
	}
	want := map[int64]domain.ID{}
	for _, g := range p.GrantIDs() {
		n, ok := streams.grants[g]
		if !ok {
			c.problem("seq %d: access_grant %s has no stream in event_streams: the streams were edited outside amtrack", rec.Seq, g)
			continue
		}
		want[n] = g
	}
	seen := map[int64]bool{}
	for _, k := range got {
		g, ok := want[k.stream]
		switch {
		case !ok:
			c.problem("seq %d: event_grants links it to grant stream %d, which the payload does not name: the links or streams were edited outside amtrack", rec.Seq, k.stream)
		case k.occurredAt != p.OccurredAt || k.createdAt != p.CreatedAt || !bytes.Equal(k.eventID, p.ID[:]):
			c.problem("seq %d: its event_grants link to access_grant %s has another fold key than the payload: the links were edited outside amtrack", rec.Seq, g)
		}
		seen[k.stream] = true
	}
	for n, g := range want {
		if !seen[n] {
			c.problem("seq %d: the link to access_grant %s (stream %d) is missing from event_grants: the links or streams were edited outside amtrack", rec.Seq, g, n)
		}
	}
}

// dataKeys are unwrapped data keys by access method, each inline in the
// map (one allocation less per method: at ten million events there are
// over a million).
type dataKeys map[domain.ID][keyring.KeySize]byte

// streamIndex is event_streams as the log check looks it up: each stream's
// kind and id by number, and each grant's number by id. At ten million
// events there are two million streams: two maps of streamKey and the data
// keys' map took a verify to 1.24 GB of RSS, this and dataKeys to 238 MB
// (docs/performance.md).
type streamIndex struct {
	// dense holds stream n at index n-1: amtrack numbers streams from 1
	// without gaps. A stream read out of that order (an edited table), or
	// of another kind, is in sparse.
	dense  []denseStream
	sparse map[int64]streamKey
	grants map[domain.ID]int64
}

type denseStream struct {
	grant bool // else an access method
	id    domain.ID
}

// key returns stream n's kind and id.
func (x *streamIndex) key(n int64) (streamKey, bool) {
	if n >= 1 && n <= int64(len(x.dense)) {
		d := x.dense[n-1]
		if d.grant {
			return streamKey{KindGrant, d.id}, true
		}
		return streamKey{KindMethod, d.id}, true
	}
	k, ok := x.sparse[n]
	return k, ok
}

// allStreams reads event_streams, in stream order.
func (l Log) allStreams(ctx context.Context) (*streamIndex, error) {
	rows, err := l.q.QueryContext(ctx, `SELECT stream, kind, id FROM event_streams ORDER BY stream`)
	if err != nil {
		return nil, fmt.Errorf("read event_streams: %w", err)
	}
	defer rows.Close()
	x := &streamIndex{sparse: map[int64]streamKey{}, grants: map[domain.ID]int64{}}
	for rows.Next() {
		var n int64
		var kind string
		var b []byte
		if err := rows.Scan(&n, &kind, &b); err != nil {
			return nil, fmt.Errorf("read event_streams: %w", err)
		}
		id, ok := domain.IDFromBytes(b)
		if !ok {
			return nil, damagedID(fmt.Sprintf("stream %d", n), "id", len(b))
		}
		grant, method := kind == KindGrant, kind == KindMethod
		if grant {
			x.grants[id] = n
		}
		if (grant || method) && n == int64(len(x.dense))+1 {
			x.dense = append(x.dense, denseStream{grant, id})
		} else {
			x.sparse[n] = streamKey{kind, id}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read event_streams: %w", err)
	}
	return x, nil
}

func sameString(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func showString(s *string) string {
	if s == nil {
		return "NULL"
	}
	return strconv.Quote(*s)
}

func showBool(b *bool) string {
	if b == nil {
		return "NULL"
	}
	return strconv.FormatBool(*b)
}
