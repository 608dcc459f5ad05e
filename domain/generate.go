package domain

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// GenerateOptions configures Generate. The same options (seed included) give
// byte-identical output.
type GenerateOptions struct {
	Methods int       // number of access methods (default 100 when <= 0)
	Seed    uint64    // same seed + options => byte-identical output
	Start   time.Time // time of the first event; zero => 2026-01-05T08:00:00Z
}

// genDefaultStart is the time of the first event when GenerateOptions.Start is zero.
var genDefaultStart = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// Shape of the synthetic stream. Shares are per grant, per method or per
// event as named; times are in milliseconds unless named otherwise.
const (
	genDefaultMethods  = 100
	genGrantGapMeanMs  = 8000  // mean time between two grants' creation
	genNoCreatedShare  = 0.15  // methods without access_method.created (pre-2026 streams)
	genDelayShare      = 0.10  // methods issued late (delay_in_issuing)
	genFailShare       = 0.40  // of the delayed: failed_to_issue before the late issue
	genBackupShare     = 0.05  // codes from the backup pool
	genUpdateShare     = 0.30  // grants whose access times change
	genDeleteShare     = 0.35  // grants deleted
	genAfterDeleted    = 0.057 // methods of deleted grants with a late event (~2% of methods)
	genNoGrantIDsShare = 0.03  // method events without access_grant_ids
	genExtrasShare     = 0.25  // methods whose events carry acs_system_id and connected_account_id
	genMicroShare      = 0.03  // events with 6 fractional digits
	genNoDescShare     = 0.04  // events without event_description
	genDeviceShare     = 0.30  // grants with lock or device events around them
	genLateShare       = 0.05  // events delivered late
	genMaxLateShift    = 300   // positions a late event moves at most
	genSecond          = int64(1000)
	genMinute          = 60 * genSecond
	genHour            = 60 * genMinute
	genDay             = 24 * genHour
)

// Access method modes.
const (
	genModeCode = iota
	genModeCard
	genModeMobileKey
)

// Non-access event types the generator mixes in.
const (
	genLockUnlocked       = "lock.unlocked"
	genLockLocked         = "lock.locked"
	genDeviceConnected    = "device.connected"
	genDeviceDisconnected = "device.disconnected"
)

var genDescriptions = map[string]string{
	TypeCreated:                     "An access method was created.",
	TypeIssued:                      "An access method was issued.",
	TypeReissued:                    "An access method was reissued.",
	TypeCardEncodingRequired:        "An access method representing a physical card requires encoding.",
	TypeRevoked:                     "An access method was revoked.",
	TypeDeleted:                     "An access method was deleted.",
	TypeDelayInIssuing:              "Seam has not yet issued this access method, even though its access grant is about to begin.",
	TypeFailedToIssue:               "Seam was unable to issue this access method before its access grant started.",
	TypeGrantCreated:                "An Access Grant was created.",
	TypeGrantDeleted:                "An Access Grant was deleted.",
	TypeGrantAccessGrantedToAll:     "All access requested for an Access Grant was successfully granted.",
	TypeGrantAccessGrantedToDoor:    "Access requested as part of an Access Grant to a particular door was successfully granted.",
	TypeGrantAccessToDoorLost:       "Access to a particular door that was requested as part of an Access Grant was lost.",
	TypeGrantAccessTimesChanged:     "An Access Grant's start or end time was changed.",
	TypeGrantCouldNotCreateAccessMs: "One or more requested access methods could not be created for an Access Grant.",
	genLockUnlocked:                 "A lock was unlocked.",
	genLockLocked:                   "A lock was locked.",
	genDeviceConnected:              "A device was connected to Seam.",
	genDeviceDisconnected:           "A device was disconnected from Seam.",
}

var genUnlockMethods = []string{"keycode", "manual", "automatic", "seamapi", "unknown"}

// Generate produces a synthetic, realistic Seam webhook event stream and calls
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
func Generate(opts GenerateOptions, emit func([]byte) error) error {
	g := newGenerator(opts, emit)
	for g.methodsLeft > 0 {
		if err := g.flush(g.now * 1000); err != nil {
			return err
		}
		g.planGrant()
		g.now += 1 + int64(g.rng.ExpFloat64()*genGrantGapMeanMs)
	}
	if err := g.flush(math.MaxInt64); err != nil {
		return err
	}
	for g.late.len() > 0 {
		if err := g.emit(g.late.pop().raw); err != nil {
			return err
		}
	}
	return nil
}

type genWorkspace struct {
	id        ID
	systems   []genSystem
	entrances []ID
	devices   []ID
}

// genSystem is an access control system and the connected account behind it.
type genSystem struct{ acs, account ID }

type genGrant struct {
	id       ID
	ws       *genWorkspace
	key      string // "" when the grant has no access_grant_key
	startsAt int64  // the stay, in Unix ms
	endsAt   int64
	methods  []*genMethod
	doors    []ID
}

type genMethod struct {
	id     ID
	grant  *genGrant
	mode   int
	code   string
	backup bool
	sys    *genSystem // non-nil: events carry acs_system_id and connected_account_id
}

// genPending is a rendered event waiting for its created_at to come.
type genPending struct {
	created int64 // Unix µs
	seq     uint64
	raw     []byte
}

// genLate is an event held back until `due` events have been sent.
type genLate struct {
	due int
	seq uint64
	raw []byte
}

type generator struct {
	rng         *rand.Rand
	emit        func([]byte) error
	methodsLeft int
	now         int64 // creation of the next grant, Unix ms
	workspaces  []*genWorkspace
	booking     int
	pending     genHeap[genPending]
	late        genHeap[genLate]
	seq         uint64
	sent        int
	buf         []byte
	created     int64 // created_at of the event in buf, Unix µs
}

func newGenerator(opts GenerateOptions, emit func([]byte) error) *generator {
	if opts.Methods <= 0 {
		opts.Methods = genDefaultMethods
	}
	start := opts.Start
	if start.IsZero() {
		start = genDefaultStart
	}
	g := &generator{
		rng:         rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		emit:        emit,
		methodsLeft: opts.Methods,
		now:         start.UnixMilli(),
		buf:         make([]byte, 0, 1024),
	}
	g.pending.less = func(a, b genPending) bool {
		return a.created < b.created || (a.created == b.created && a.seq < b.seq)
	}
	g.late.less = func(a, b genLate) bool {
		return a.due < b.due || (a.due == b.due && a.seq < b.seq)
	}
	for range 2 {
		ws := &genWorkspace{id: g.newID()}
		for range 3 {
			ws.systems = append(ws.systems, genSystem{acs: g.newID(), account: g.newID()})
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
	for g.pending.len() > 0 && g.pending.peek().created < limit {
		if err := g.deliver(g.pending.pop().raw); err != nil {
			return err
		}
	}
	return nil
}

// deliver sends raw now, or holds it back a few hundred positions.
func (g *generator) deliver(raw []byte) error {
	if g.chance(genLateShare) {
		g.seq++
		g.late.push(genLate{due: g.sent + 1 + g.rng.IntN(genMaxLateShift), seq: g.seq, raw: raw})
		return nil
	}
	if err := g.emit(raw); err != nil {
		return err
	}
	g.sent++
	for g.late.len() > 0 && g.late.peek().due <= g.sent {
		if err := g.emit(g.late.pop().raw); err != nil {
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
	g.grantHead(gr, TypeGrantCreated, t0)
	g.finish()

	if g.chance(0.01) {
		g.grantHead(gr, TypeGrantCouldNotCreateAccessMs, t0+g.between(1*genSecond, 5*genSecond))
		g.str("error_message", "Could not create the requested access methods: the device is offline.")
		g.ids("missing_device_ids", gr.ws.devices[g.rng.IntN(len(gr.ws.devices))])
		g.finish()
	}

	ready := t0 // all methods issued
	at := t0
	for _, m := range gr.methods {
		at += g.between(150, 900)
		ready = max(ready, g.planIssue(m, at))
	}

	doorAt := t0 + g.between(2*genSecond, 90*genSecond)
	for _, door := range gr.doors {
		g.grantHead(gr, TypeGrantAccessGrantedToDoor, doorAt)
		g.id("acs_entrance_id", door)
		g.finish()
		doorAt += g.between(100, 1500)
	}
	if g.chance(0.85) {
		g.grantHead(gr, TypeGrantAccessGrantedToAll, doorAt+g.between(200, 2000))
		g.finish()
	}

	last := max(ready, doorAt)
	if g.chance(genUpdateShare) {
		for n := 1 + g.rng.IntN(6); n > 0; n-- {
			last = g.planUpdate(gr, last+g.between(10*genMinute, 90*genMinute))
		}
	}
	end := last + g.between(30*genMinute, 4*genHour)
	if g.chance(0.04) {
		g.grantHead(gr, TypeGrantAccessToDoorLost, g.between(doorAt, end))
		g.id("acs_entrance_id", gr.doors[g.rng.IntN(len(gr.doors))])
		g.finish()
	}
	if g.chance(genDeleteShare) {
		g.planDeletion(gr, end)
	}
	if g.chance(genDeviceShare) {
		for n := 1 + g.rng.IntN(2); n > 0; n-- {
			g.deviceEvent(gr, g.between(t0+genSecond, end))
		}
	}
}

func (g *generator) newGrant(t0 int64) *genGrant {
	gr := &genGrant{id: g.newID(), ws: g.workspaces[0]}
	if g.chance(0.2) {
		gr.ws = g.workspaces[1]
	}
	g.booking += 1 + g.rng.IntN(20)
	if !g.chance(0.1) {
		gr.key = "booking-" + strconv.Itoa(g.booking)
	}
	// Check-in at 15:00 one to three weeks ahead, check-out at 11:00.
	checkIn := t0 - t0%genDay + g.between(1, 21)*genDay + 15*genHour
	gr.startsAt = checkIn
	gr.endsAt = checkIn + g.between(1, 7)*genDay - 4*genHour

	n := 1 + g.rng.IntN(3)
	if g.rng.IntN(10) < 3 && n > 1 { // fewer large grants: mean ≈ 1.8 methods
		n--
	}
	n = min(n, g.methodsLeft)
	g.methodsLeft -= n
	modes := g.rng.Perm(3)
	for i := range n {
		m := &genMethod{id: g.newID(), grant: gr, mode: modes[i]}
		if m.mode == genModeCode {
			m.code = g.pin()
			m.backup = g.chance(genBackupShare)
		}
		if g.chance(genExtrasShare) {
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
func (g *generator) planIssue(m *genMethod, at int64) int64 {
	if !g.chance(genNoCreatedShare) {
		g.methodHead(m, TypeCreated, at)
		g.finish()
	}
	at += g.between(200, 1500)
	switch m.mode {
	case genModeCard:
		g.methodHead(m, TypeCardEncodingRequired, at)
		g.finish()
		at += g.between(1*genMinute, 20*genMinute) // someone encodes the card
	case genModeCode:
		at += g.between(1*genSecond, 30*genSecond)
	default:
		at += g.between(2*genSecond, 60*genSecond)
	}
	if g.chance(genDelayShare) {
		g.methodHead(m, TypeDelayInIssuing, at)
		g.finish()
		if g.chance(genFailShare) {
			at += g.between(10*genMinute, 60*genMinute)
			g.methodHead(m, TypeFailedToIssue, at)
			g.finish()
			at += g.between(10*genMinute, 2*genHour)
		} else {
			at += g.between(5*genMinute, 40*genMinute)
		}
	}
	g.methodHead(m, TypeIssued, at)
	if m.mode == genModeCode {
		g.str("code", m.code)
		switch {
		case m.backup:
			g.boolean("is_backup_code", true)
		case g.chance(0.3):
			g.boolean("is_backup_code", false)
		}
	}
	g.finish()
	return at
}

// planUpdate renders an access-time change at `at` and the revoke and reissue
// of every method; it returns the time of the last reissue.
func (g *generator) planUpdate(gr *genGrant, at int64) int64 {
	switch r := g.rng.IntN(10); {
	case r < 5: // stay extended
		gr.endsAt += g.between(1, 3) * genDay
	case r < 8: // stay moved
		shift := g.between(-2, 5) * genDay
		gr.startsAt += shift
		gr.endsAt += shift
	default: // early check-in
		gr.startsAt -= g.between(1, 3) * genHour
	}
	g.grantHead(gr, TypeGrantAccessTimesChanged, at)
	g.time("starts_at", gr.startsAt*1000, false)
	g.time("ends_at", gr.endsAt*1000, false)
	if gr.key != "" && g.chance(0.5) {
		g.str("access_grant_key", gr.key)
	}
	g.finish()

	last := at
	for _, m := range gr.methods {
		t := at + g.between(300, 5*genSecond)
		g.methodHead(m, TypeRevoked, t)
		g.finish()
		switch m.mode {
		case genModeCard:
			t += g.between(300, 3*genSecond)
			g.methodHead(m, TypeCardEncodingRequired, t)
			g.finish()
			t += g.between(1*genMinute, 15*genMinute)
		default:
			t += g.between(1*genSecond, 60*genSecond)
		}
		g.methodHead(m, TypeReissued, t)
		if m.mode == genModeCode && !g.chance(0.25) { // a PIN keeps its value
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
func (g *generator) planDeletion(gr *genGrant, at int64) {
	g.grantHead(gr, TypeGrantDeleted, at)
	g.finish()
	for _, m := range gr.methods {
		t := at + g.between(200, 3*genSecond)
		g.methodHead(m, TypeDeleted, t)
		g.finish()
		if g.chance(genAfterDeleted) {
			typ := TypeRevoked
			switch r := g.rng.IntN(10); {
			case r == 8:
				typ = TypeDelayInIssuing
			case r == 9:
				typ = TypeReissued
			}
			g.methodHead(m, typ, t+g.between(1*genSecond, 10*genMinute))
			g.finish()
		}
	}
}

// deviceEvent renders a non-access event about one of the workspace's devices.
func (g *generator) deviceEvent(gr *genGrant, at int64) {
	var typ string
	switch r := g.rng.IntN(8); {
	case r < 4:
		typ = genLockUnlocked
	case r < 6:
		typ = genLockLocked
	case r == 6:
		typ = genDeviceConnected
	default:
		typ = genDeviceDisconnected
	}
	g.begin(gr.ws, typ, at)
	g.id("device_id", gr.ws.devices[g.rng.IntN(len(gr.ws.devices))])
	g.id("connected_account_id", gr.ws.systems[g.rng.IntN(len(gr.ws.systems))].account)
	if typ == genLockUnlocked {
		g.str("method", genUnlockMethods[g.rng.IntN(len(genUnlockMethods))])
	}
	g.finish()
}

func (g *generator) grantHead(gr *genGrant, typ string, at int64) {
	g.begin(gr.ws, typ, at)
	g.id("access_grant_id", gr.id)
}

func (g *generator) methodHead(m *genMethod, typ string, at int64) {
	g.begin(m.grant.ws, typ, at)
	if m.sys != nil {
		g.id("acs_system_id", m.sys.acs)
	}
	g.id("access_method_id", m.id)
	if m.sys != nil {
		g.id("connected_account_id", m.sys.account)
	}
	if !g.chance(genNoGrantIDsShare) {
		g.ids("access_grant_ids", m.grant.id)
	}
	switch r := g.rng.IntN(100); {
	case m.grant.key == "" && r < 50, m.grant.key != "" && r < 3:
		// access_grant_keys omitted
	case m.grant.key == "", r < 7:
		g.strs("access_grant_keys")
	default:
		g.strs("access_grant_keys", m.grant.key)
	}
}

// begin starts an event in g.buf with the fields every Seam event has.
// at is occurred_at in Unix ms; created_at follows it by 0-3 s.
func (g *generator) begin(ws *genWorkspace, typ string, at int64) {
	micro := g.chance(genMicroShare)
	occurred := at * 1000
	lag := g.between(0, 40)
	if g.chance(0.3) {
		lag = g.between(40, 3*genSecond)
	}
	created := occurred + lag*1000
	if micro {
		occurred += g.rng.Int64N(1000)
		created = occurred + lag*1000 + g.rng.Int64N(1000)
	}
	g.created = created
	g.buf = append(g.buf[:0], `{"event_id":"`...)
	g.buf = appendGenID(g.buf, g.newID())
	g.buf = append(g.buf, '"')
	if !g.chance(genNoDescShare) {
		g.str("event_description", genDescriptions[typ])
	}
	g.str("event_type", typ)
	g.id("workspace_id", ws.id)
	g.time("created_at", created, micro)
	g.time("occurred_at", occurred, micro)
}

// finish closes the event in g.buf and queues a copy of it.
func (g *generator) finish() {
	g.buf = append(g.buf, '}')
	raw := make([]byte, len(g.buf))
	copy(raw, g.buf)
	g.seq++
	g.pending.push(genPending{created: g.created, seq: g.seq, raw: raw})
}

func (g *generator) key(name string) {
	g.buf = append(g.buf, `,"`...)
	g.buf = append(g.buf, name...)
	g.buf = append(g.buf, `":`...)
}

func (g *generator) str(name, v string) {
	g.key(name)
	g.buf = appendGenString(g.buf, v)
}

func (g *generator) time(name string, us int64, micro bool) {
	g.key(name)
	g.buf = appendGenTime(g.buf, us, micro)
}

func (g *generator) id(name string, id ID) {
	g.key(name)
	g.buf = append(g.buf, '"')
	g.buf = appendGenID(g.buf, id)
	g.buf = append(g.buf, '"')
}

func (g *generator) ids(name string, ids ...ID) {
	g.key(name)
	g.buf = append(g.buf, '[')
	for i, id := range ids {
		if i > 0 {
			g.buf = append(g.buf, ',')
		}
		g.buf = append(g.buf, '"')
		g.buf = appendGenID(g.buf, id)
		g.buf = append(g.buf, '"')
	}
	g.buf = append(g.buf, ']')
}

func (g *generator) strs(name string, vs ...string) {
	g.key(name)
	g.buf = append(g.buf, '[')
	for i, v := range vs {
		if i > 0 {
			g.buf = append(g.buf, ',')
		}
		g.buf = appendGenString(g.buf, v)
	}
	g.buf = append(g.buf, ']')
}

func (g *generator) boolean(name string, v bool) {
	g.key(name)
	g.buf = strconv.AppendBool(g.buf, v)
}

// newID returns a random id with RFC 4122 version 4 and variant bits.
func (g *generator) newID() ID {
	var id ID
	binary.LittleEndian.PutUint64(id[:8], g.rng.Uint64())
	binary.LittleEndian.PutUint64(id[8:], g.rng.Uint64())
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// pin returns a 4-6 digit PIN.
func (g *generator) pin() string {
	b := make([]byte, 4+g.rng.IntN(3))
	for i := range b {
		b[i] = byte('0' + g.rng.IntN(10))
	}
	return string(b)
}

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

// between returns a uniform integer in [lo, hi].
func (g *generator) between(lo, hi int64) int64 { return lo + g.rng.Int64N(hi-lo+1) }

// appendGenTime appends Unix µs as a JSON string in UTC with 3 (or, micro, 6)
// fractional digits.
func appendGenTime(b []byte, us int64, micro bool) []byte {
	layout := "2006-01-02T15:04:05.000Z07:00"
	if micro {
		layout = "2006-01-02T15:04:05.000000Z07:00"
	}
	b = append(b, '"')
	b = time.UnixMicro(us).UTC().AppendFormat(b, layout)
	return append(b, '"')
}

// appendGenID appends id in lowercase 8-4-4-4-12 form.
func appendGenID(b []byte, id ID) []byte {
	b = hex.AppendEncode(b, id[0:4])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[4:6])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[6:8])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[8:10])
	b = append(b, '-')
	return hex.AppendEncode(b, id[10:])
}

// appendGenString appends s as a JSON string.
func appendGenString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// genHeap is a binary min-heap ordered by less.
type genHeap[T any] struct {
	items []T
	less  func(a, b T) bool
}

func (h *genHeap[T]) len() int { return len(h.items) }

func (h *genHeap[T]) peek() T { return h.items[0] }

func (h *genHeap[T]) push(x T) {
	h.items = append(h.items, x)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *genHeap[T]) pop() T {
	top := h.items[0]
	n := len(h.items) - 1
	h.items[0] = h.items[n]
	var zero T
	h.items[n] = zero
	h.items = h.items[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.less(h.items[l], h.items[m]) {
			m = l
		}
		if r < n && h.less(h.items[r], h.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
	return top
}
