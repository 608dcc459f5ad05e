// Package generate produces a deterministic, realistic synthetic Seam event
// stream: the events of access grants and their access methods as Seam sends
// them, one JSON object per event, in arrival order. `amtrack generate` writes
// it as JSON Lines; the demo, the tests and the benchmarks feed on it.
package generate

import (
	"container/heap"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/amtrack/amtrack/domain"
)

// Options configures Stream. The same options (seed included) give
// byte-identical output.
type Options struct {
	Methods int       // number of access methods (default 100 when <= 0)
	Seed    uint64    // same seed + options => byte-identical output
	Start   time.Time // time of the first event; zero => 2026-01-05T08:00:00Z
}

// defaultStart is the time of the first event when Options.Start is zero.
var defaultStart = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// Shape of the synthetic stream. Shares are per grant, per method or per
// event as named; times are in milliseconds unless named otherwise.
const (
	defaultMethods    = 100
	grantGapMeanMs    = 8000  // mean time between two grants' creation
	noCreatedShare    = 0.15  // methods without access_method.created (pre-2026 streams)
	delayShare        = 0.10  // methods issued late (delay_in_issuing)
	failShare         = 0.40  // of the delayed: failed_to_issue before the late issue
	backupShare       = 0.05  // codes from the backup pool
	updateShare       = 0.30  // grants whose access times change
	deleteShare       = 0.35  // grants deleted
	afterDeletedShare = 0.057 // methods of deleted grants with a late event (~2% of methods)
	noGrantIDsShare   = 0.03  // method events without access_grant_ids
	extrasShare       = 0.25  // methods whose events carry acs_system_id and connected_account_id
	microShare        = 0.03  // events with 6 fractional digits
	noDescShare       = 0.04  // events without event_description
	deviceShare       = 0.30  // grants with lock or device events around them
	lateShare         = 0.05  // events delivered late
	maxLateShift      = 300   // positions a late event moves at most
	second            = int64(1000)
	minute            = 60 * second
	hour              = 60 * minute
	day               = 24 * hour
)

var descriptions = map[string]string{
	domain.TypeCreated:                     "An access method was created.",
	domain.TypeIssued:                      "An access method was issued.",
	domain.TypeReissued:                    "An access method was reissued.",
	domain.TypeCardEncodingRequired:        "An access method representing a physical card requires encoding.",
	domain.TypeRevoked:                     "An access method was revoked.",
	domain.TypeDeleted:                     "An access method was deleted.",
	domain.TypeDelayInIssuing:              "Seam has not yet issued this access method, even though its access grant is about to begin.",
	domain.TypeFailedToIssue:               "Seam was unable to issue this access method before its access grant started.",
	domain.TypeGrantCreated:                "An Access Grant was created.",
	domain.TypeGrantDeleted:                "An Access Grant was deleted.",
	domain.TypeGrantAccessGrantedToAll:     "All access requested for an Access Grant was successfully granted.",
	domain.TypeGrantAccessGrantedToDoor:    "Access requested as part of an Access Grant to a particular door was successfully granted.",
	domain.TypeGrantAccessToDoorLost:       "Access to a particular door that was requested as part of an Access Grant was lost.",
	domain.TypeGrantAccessTimesChanged:     "An Access Grant's start or end time was changed.",
	domain.TypeGrantCouldNotCreateAccessMs: "One or more requested access methods could not be created for an Access Grant.",
	"lock.unlocked":                        "A lock was unlocked.",
	"lock.locked":                          "A lock was locked.",
	"device.connected":                     "A device was connected to Seam.",
	"device.disconnected":                  "A device was disconnected from Seam.",
}

// deviceTypes are the non-access event types mixed in, mostly lock.unlocked.
var deviceTypes = [...]string{
	"lock.unlocked", "lock.unlocked", "lock.unlocked", "lock.unlocked",
	"lock.locked", "lock.locked", "device.connected", "device.disconnected",
}

// accessModes are Seam's access method modes.
var accessModes = [...]string{"code", "card", "mobile_key"}

// methodsPerGrant is the distribution of methods per grant (mean 1.7).
var methodsPerGrant = [...]int{1, 1, 1, 1, 1, 2, 2, 2, 3, 3}

// afterDeletedTypes are the late events after a deletion, mostly revoked.
var afterDeletedTypes = [...]string{domain.TypeRevoked, domain.TypeRevoked, domain.TypeRevoked, domain.TypeDelayInIssuing, domain.TypeReissued}

var unlockMethods = []string{"keycode", "manual", "automatic", "seamapi", "unknown"}

// Stream produces a synthetic, realistic Seam webhook event stream and calls
// emit with each event's JSON bytes (one object, no trailing newline), in
// arrival order. emit may keep the slice. It returns emit's first error.
//
// Grants are created one after another (a few seconds apart on average) and
// live for minutes to hours, so many overlap. Each grant follows Seam's
// lifecycle: access_grant.created; per method created (mostly), card encoding,
// issued (sometimes after delay_in_issuing and failed_to_issue); door grants;
// sometimes access-time changes (revoked, card encoding, reissued per method);
// sometimes deletion. Events arrive by created_at, except ~5% delivered late.
// Memory is bounded by the grants alive at one time, not by Methods.
func Stream(opts Options, emit func([]byte) error) error {
	g := newGenerator(opts, emit)
	for g.methodsLeft > 0 {
		if err := g.flush(g.now * 1000); err != nil {
			return err
		}
		g.planGrant()
		g.now += 1 + int64(g.rng.ExpFloat64()*grantGapMeanMs)
	}
	if err := g.flush(math.MaxInt64); err != nil {
		return err
	}
	for len(g.late) > 0 {
		if err := g.emit(heap.Pop(&g.late).(queued).raw); err != nil {
			return err
		}
	}
	return nil
}

type workspace struct {
	id        domain.ID
	systems   []system
	entrances []domain.ID
	devices   []domain.ID
}

// system is an access control system and the connected account behind it.
type system struct{ acs, account domain.ID }

type grant struct {
	id       domain.ID
	ws       *workspace
	key      string // "" when the grant has no access_grant_key
	startsAt int64  // the stay, in Unix ms
	endsAt   int64
	methods  []*method
	doors    []domain.ID
}

type method struct {
	id     domain.ID
	grant  *grant
	mode   string // code, card or mobile_key
	code   string
	backup bool
	sys    *system // non-nil: events carry acs_system_id and connected_account_id
}

// queued is a rendered event waiting for its turn: its created_at (Unix
// µs) in the pending queue, the number of events sent before it in the late
// queue. seq breaks ties in the order events were queued.
type queued struct {
	at  int64
	seq uint64
	raw []byte
}

type generator struct {
	rng         *rand.Rand
	emit        func([]byte) error
	methodsLeft int
	now         int64 // creation of the next grant, Unix ms
	workspaces  []*workspace
	booking     int
	pending     queue
	late        queue
	seq         uint64
	sent        int
	buf         []byte
	created     int64 // created_at of the event in buf, Unix µs
}

func newGenerator(opts Options, emit func([]byte) error) *generator {
	if opts.Methods <= 0 {
		opts.Methods = defaultMethods
	}
	if opts.Start.IsZero() {
		opts.Start = defaultStart
	}
	g := &generator{
		rng:         rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		emit:        emit,
		methodsLeft: opts.Methods,
		now:         opts.Start.UnixMilli(),
		buf:         make([]byte, 0, 1024),
	}
	for range 2 {
		ws := &workspace{id: g.newID()}
		for range 3 {
			ws.systems = append(ws.systems, system{acs: g.newID(), account: g.newID()})
		}
		for range 24 {
			ws.entrances = append(ws.entrances, g.newID())
			ws.devices = append(ws.devices, g.newID())
		}
		g.workspaces = append(g.workspaces, ws)
	}
	g.booking = 10000 + g.rng.IntN(80000)
	return g
}

// flush delivers, in created_at order, the pending events created before limit (µs).
func (g *generator) flush(limit int64) error {
	for len(g.pending) > 0 && g.pending[0].at < limit {
		if err := g.deliver(heap.Pop(&g.pending).(queued).raw); err != nil {
			return err
		}
	}
	return nil
}

// deliver sends raw now, or holds it back a few hundred positions.
func (g *generator) deliver(raw []byte) error {
	if g.chance(lateShare) {
		g.seq++
		heap.Push(&g.late, queued{at: int64(g.sent + 1 + g.rng.IntN(maxLateShift)), seq: g.seq, raw: raw})
		return nil
	}
	if err := g.emit(raw); err != nil {
		return err
	}
	g.sent++
	for len(g.late) > 0 && g.late[0].at <= int64(g.sent) {
		if err := g.emit(heap.Pop(&g.late).(queued).raw); err != nil {
			return err
		}
		g.sent++
	}
	return nil
}

// planGrant renders every event of one grant, starting at g.now, into the
// pending heap.
func (g *generator) planGrant() {
	t0 := g.now
	gr := g.newGrant(t0)
	g.grantEvent(gr, domain.TypeGrantCreated, t0)
	if g.chance(0.01) {
		g.grantHead(gr, domain.TypeGrantCouldNotCreateAccessMs, t0+g.between(1*second, 5*second))
		g.str("error_message", "Could not create the requested access methods: the device is offline.")
		g.idList("missing_device_ids", gr.ws.devices[g.rng.IntN(len(gr.ws.devices))])
		g.finish()
	}
	ready, at := t0, t0 // ready: all methods issued
	for _, m := range gr.methods {
		at += g.between(150, 900)
		ready = max(ready, g.planIssue(m, at))
	}
	doorAt := t0 + g.between(2*second, 90*second)
	for _, door := range gr.doors {
		g.doorEvent(gr, domain.TypeGrantAccessGrantedToDoor, doorAt, door)
		doorAt += g.between(100, 1500)
	}
	if g.chance(0.85) {
		g.grantEvent(gr, domain.TypeGrantAccessGrantedToAll, doorAt+g.between(200, 2000))
	}
	last := max(ready, doorAt)
	if g.chance(updateShare) {
		for n := 1 + g.rng.IntN(5); n > 0; n-- {
			last = g.planUpdate(gr, last+g.between(10*minute, 90*minute))
		}
	}
	end := last + g.between(30*minute, 4*hour)
	if g.chance(0.04) {
		g.doorEvent(gr, domain.TypeGrantAccessToDoorLost, g.between(doorAt, end), gr.doors[g.rng.IntN(len(gr.doors))])
	}
	if g.chance(deleteShare) {
		g.planDeletion(gr, end)
	}
	if g.chance(deviceShare) {
		for n := 1 + g.rng.IntN(2); n > 0; n-- {
			g.deviceEvent(gr, g.between(t0+second, end))
		}
	}
}

func (g *generator) newGrant(t0 int64) *grant {
	gr := &grant{id: g.newID(), ws: g.workspaces[0]}
	if g.chance(0.2) {
		gr.ws = g.workspaces[1]
	}
	g.booking += 1 + g.rng.IntN(20)
	if !g.chance(0.1) {
		gr.key = "booking-" + strconv.Itoa(g.booking)
	}
	// Check-in at 15:00 one to three weeks ahead, check-out at 11:00.
	gr.startsAt = t0 - t0%day + g.between(1, 21)*day + 15*hour
	gr.endsAt = gr.startsAt + g.between(1, 7)*day - 4*hour
	n := min(methodsPerGrant[g.rng.IntN(len(methodsPerGrant))], g.methodsLeft)
	g.methodsLeft -= n
	modes := g.rng.Perm(3)
	for i := range n {
		m := &method{id: g.newID(), grant: gr, mode: accessModes[modes[i]]}
		if m.mode == "code" {
			m.code = g.pin()
			m.backup = g.chance(backupShare)
		}
		if g.chance(extrasShare) {
			m.sys = &gr.ws.systems[g.rng.IntN(len(gr.ws.systems))]
		}
		gr.methods = append(gr.methods, m)
	}
	first := g.rng.IntN(len(gr.ws.entrances))
	for i := range 1 + g.rng.IntN(3) {
		gr.doors = append(gr.doors, gr.ws.entrances[(first+i)%len(gr.ws.entrances)])
	}
	return gr
}

// planIssue renders a method's creation and first issue from at; it returns
// the time of the issue.
func (g *generator) planIssue(m *method, at int64) int64 {
	if !g.chance(noCreatedShare) {
		g.methodEvent(m, domain.TypeCreated, at)
	}
	at += g.between(200, 1500)
	switch m.mode {
	case "card":
		g.methodEvent(m, domain.TypeCardEncodingRequired, at)
		at += g.between(1*minute, 20*minute) // someone encodes the card
	case "code":
		at += g.between(1*second, 30*second)
	default:
		at += g.between(2*second, 60*second)
	}
	if g.chance(delayShare) {
		g.methodEvent(m, domain.TypeDelayInIssuing, at)
		if g.chance(failShare) {
			at += g.between(10*minute, 60*minute)
			g.methodEvent(m, domain.TypeFailedToIssue, at)
			at += g.between(10*minute, 2*hour)
		} else {
			at += g.between(5*minute, 40*minute)
		}
	}
	g.methodHead(m, domain.TypeIssued, at)
	if m.mode == "code" {
		g.str("code", m.code)
		if m.backup || g.chance(0.3) {
			g.boolean("is_backup_code", m.backup)
		}
	}
	g.finish()
	return at
}

// planUpdate renders an access-time change at `at` and the revoke and reissue
// of every method; it returns the time of the last reissue.
func (g *generator) planUpdate(gr *grant, at int64) int64 {
	switch r := g.rng.IntN(10); {
	case r < 5: // stay extended
		gr.endsAt += g.between(1, 3) * day
	case r < 8: // stay moved
		shift := g.between(-2, 5) * day
		gr.startsAt += shift
		gr.endsAt += shift
	default: // early check-in
		gr.startsAt -= g.between(1, 3) * hour
	}
	g.grantHead(gr, domain.TypeGrantAccessTimesChanged, at)
	g.time("starts_at", gr.startsAt*1000, false)
	g.time("ends_at", gr.endsAt*1000, false)
	if gr.key != "" && g.chance(0.5) {
		g.str("access_grant_key", gr.key)
	}
	g.finish()
	last := at
	for _, m := range gr.methods {
		t := at + g.between(300, 5*second)
		g.methodEvent(m, domain.TypeRevoked, t)
		switch m.mode {
		case "card":
			t += g.between(300, 3*second)
			g.methodEvent(m, domain.TypeCardEncodingRequired, t)
			t += g.between(1*minute, 15*minute)
		default:
			t += g.between(1*second, 60*second)
		}
		g.methodHead(m, domain.TypeReissued, t)
		if m.mode == "code" && !g.chance(0.25) { // a PIN keeps its value
			g.str("code", m.code)
			if m.backup {
				g.boolean("is_backup_code", true)
			}
		}
		g.finish()
		last = max(last, t)
	}
	return last
}

// planDeletion renders the grant's deletion at `at`, with the occasional
// late method event after it.
func (g *generator) planDeletion(gr *grant, at int64) {
	g.grantEvent(gr, domain.TypeGrantDeleted, at)
	for _, m := range gr.methods {
		t := at + g.between(200, 3*second)
		g.methodEvent(m, domain.TypeDeleted, t)
		if g.chance(afterDeletedShare) {
			typ := afterDeletedTypes[g.rng.IntN(len(afterDeletedTypes))]
			g.methodEvent(m, typ, t+g.between(1*second, 10*minute))
		}
	}
}

// deviceEvent renders a non-access event about one of the workspace's devices.
func (g *generator) deviceEvent(gr *grant, at int64) {
	typ := deviceTypes[g.rng.IntN(len(deviceTypes))]
	g.begin(gr.ws, typ, at)
	g.id("device_id", gr.ws.devices[g.rng.IntN(len(gr.ws.devices))])
	g.id("connected_account_id", gr.ws.systems[g.rng.IntN(len(gr.ws.systems))].account)
	if typ == "lock.unlocked" {
		g.str("method", unlockMethods[g.rng.IntN(len(unlockMethods))])
	}
	g.finish()
}

// grantEvent renders an access_grant.* event without fields of its own.
func (g *generator) grantEvent(gr *grant, typ string, at int64) {
	g.grantHead(gr, typ, at)
	g.finish()
}

// doorEvent renders an access_grant.* event about one entrance.
func (g *generator) doorEvent(gr *grant, typ string, at int64, entrance domain.ID) {
	g.grantHead(gr, typ, at)
	g.id("acs_entrance_id", entrance)
	g.finish()
}

// methodEvent renders an access_method.* event without fields of its own.
func (g *generator) methodEvent(m *method, typ string, at int64) {
	g.methodHead(m, typ, at)
	g.finish()
}

func (g *generator) grantHead(gr *grant, typ string, at int64) {
	g.begin(gr.ws, typ, at)
	g.id("access_grant_id", gr.id)
}

func (g *generator) methodHead(m *method, typ string, at int64) {
	g.begin(m.grant.ws, typ, at)
	if m.sys != nil {
		g.id("acs_system_id", m.sys.acs)
	}
	g.id("access_method_id", m.id)
	if m.sys != nil {
		g.id("connected_account_id", m.sys.account)
	}
	if !g.chance(noGrantIDsShare) {
		g.idList("access_grant_ids", m.grant.id)
	}
	switch r := g.rng.IntN(100); {
	case m.grant.key == "" && r < 50, m.grant.key != "" && r < 3:
		// access_grant_keys omitted
	case m.grant.key == "", r < 7:
		g.strList("access_grant_keys", "")
	default:
		g.strList("access_grant_keys", m.grant.key)
	}
}

// begin starts an event in g.buf with the fields every Seam event has.
// at is occurred_at in Unix ms; created_at follows it by 0-3 s.
func (g *generator) begin(ws *workspace, typ string, at int64) {
	micro := g.chance(microShare)
	lag := g.between(0, 40) * 1000 // µs
	if g.chance(0.3) {
		lag = g.between(40, 3*second-1) * 1000
	}
	occurred := at * 1000
	if micro {
		occurred += g.rng.Int64N(1000)
		lag += g.rng.Int64N(1000)
	}
	g.created = occurred + lag
	g.buf = append(g.buf[:0], `{"event_id":"`...)
	g.buf = appendID(g.buf, g.newID())
	g.buf = append(g.buf, '"')
	if !g.chance(noDescShare) {
		g.str("event_description", descriptions[typ])
	}
	g.str("event_type", typ)
	g.id("workspace_id", ws.id)
	g.time("created_at", g.created, micro)
	g.time("occurred_at", occurred, micro)
}

// finish closes the event in g.buf and queues a copy of it.
func (g *generator) finish() {
	g.buf = append(g.buf, '}')
	raw := make([]byte, len(g.buf))
	copy(raw, g.buf)
	g.seq++
	heap.Push(&g.pending, queued{at: g.created, seq: g.seq, raw: raw})
}

// key writes `,"name":` followed by open, the raw start of the value.
func (g *generator) key(name, open string) {
	g.buf = append(append(append(g.buf, `,"`...), name...), `":`...)
	g.buf = append(g.buf, open...)
}

// str writes a string field. Every string the generator writes is printable
// ASCII without quotes or backslashes, so it needs no escaping.
func (g *generator) str(name, v string) {
	g.key(name, `"`)
	g.buf = append(append(g.buf, v...), '"')
}

// time writes Unix µs in UTC with 3 (or, micro, 6) fractional digits.
func (g *generator) time(name string, us int64, micro bool) {
	layout := "2006-01-02T15:04:05.000Z07:00"
	if micro {
		layout = "2006-01-02T15:04:05.000000Z07:00"
	}
	g.key(name, `"`)
	g.buf = append(time.UnixMicro(us).UTC().AppendFormat(g.buf, layout), '"')
}

func (g *generator) id(name string, id domain.ID) {
	g.key(name, `"`)
	g.buf = append(appendID(g.buf, id), '"')
}

// idList writes a one-id array.
func (g *generator) idList(name string, id domain.ID) {
	g.key(name, `["`)
	g.buf = append(appendID(g.buf, id), `"]`...)
}

// strList writes a one-string array, or an empty one for "".
func (g *generator) strList(name, v string) {
	g.key(name, "[")
	if v != "" {
		g.buf = append(append(append(g.buf, '"'), v...), '"')
	}
	g.buf = append(g.buf, ']')
}

func (g *generator) boolean(name string, v bool) { g.key(name, strconv.FormatBool(v)) }

// newID returns a random id with RFC 4122 version 4 and variant bits.
func (g *generator) newID() domain.ID {
	var id domain.ID
	binary.LittleEndian.PutUint64(id[:8], g.rng.Uint64())
	binary.LittleEndian.PutUint64(id[8:], g.rng.Uint64())
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// pin returns a 4-6 digit PIN (leading zeros included).
func (g *generator) pin() string {
	n := int(math.Pow10(4 + g.rng.IntN(3)))
	return strconv.Itoa(n + g.rng.IntN(n))[1:]
}

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

// between returns a uniform integer in [lo, hi].
func (g *generator) between(lo, hi int64) int64 { return lo + g.rng.Int64N(hi-lo+1) }

// appendID appends id in lowercase 8-4-4-4-12 form.
func appendID(b []byte, id domain.ID) []byte {
	b = hex.AppendEncode(b, id[:4])
	for _, part := range [...][]byte{id[4:6], id[6:8], id[8:10], id[10:]} {
		b = append(b, '-')
		b = hex.AppendEncode(b, part)
	}
	return b
}

// queue is a min-heap (container/heap) of queued events by (at, seq).
type queue []queued

// Len implements heap.Interface.
func (q queue) Len() int { return len(q) }

// Less orders by at, then by seq.
func (q queue) Less(i, j int) bool {
	return q[i].at < q[j].at || (q[i].at == q[j].at && q[i].seq < q[j].seq)
}

// Swap implements heap.Interface.
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }

// Push implements heap.Interface.
func (q *queue) Push(x any) { *q = append(*q, x.(queued)) }

// Pop implements heap.Interface; it clears the vacated slot.
func (q *queue) Pop() any {
	n := len(*q) - 1
	x := (*q)[n]
	(*q)[n] = queued{}
	*q = (*q)[:n]
	return x
}
