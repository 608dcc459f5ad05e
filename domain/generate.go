package domain

import (
	"container/heap"
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
	"lock.unlocked":                 "A lock was unlocked.",
	"lock.locked":                   "A lock was locked.",
	"device.connected":              "A device was connected to Seam.",
	"device.disconnected":           "A device was disconnected from Seam.",
}

// genDeviceTypes are the non-access event types mixed in, mostly lock.unlocked.
var genDeviceTypes = [...]string{
	"lock.unlocked", "lock.unlocked", "lock.unlocked", "lock.unlocked",
	"lock.locked", "lock.locked", "device.connected", "device.disconnected",
}

// genModes are Seam's access method modes.
var genModes = [...]string{"code", "card", "mobile_key"}

// genMethodsPerGrant is the distribution of methods per grant (mean 1.7).
var genMethodsPerGrant = [...]int{1, 1, 1, 1, 1, 2, 2, 2, 3, 3}

// genAfterDeletedTypes are the late events after a deletion, mostly revoked.
var genAfterDeletedTypes = [...]string{TypeRevoked, TypeRevoked, TypeRevoked, TypeDelayInIssuing, TypeReissued}

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
	for len(g.late) > 0 {
		if err := g.emit(heap.Pop(&g.late).(genQueued).raw); err != nil {
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
	mode   string // code, card or mobile_key
	code   string
	backup bool
	sys    *genSystem // non-nil: events carry acs_system_id and connected_account_id
}

// genQueued is a rendered event waiting for its turn: its created_at (Unix
// µs) in the pending queue, the number of events sent before it in the late
// queue. seq breaks ties in the order events were queued.
type genQueued struct {
	at  int64
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
	pending     genQueue
	late        genQueue
	seq         uint64
	sent        int
	buf         []byte
	created     int64 // created_at of the event in buf, Unix µs
}

func newGenerator(opts GenerateOptions, emit func([]byte) error) *generator {
	if opts.Methods <= 0 {
		opts.Methods = genDefaultMethods
	}
	if opts.Start.IsZero() {
		opts.Start = genDefaultStart
	}
	g := &generator{
		rng:         rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		emit:        emit,
		methodsLeft: opts.Methods,
		now:         opts.Start.UnixMilli(),
		buf:         make([]byte, 0, 1024),
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
	for len(g.pending) > 0 && g.pending[0].at < limit {
		if err := g.deliver(heap.Pop(&g.pending).(genQueued).raw); err != nil {
			return err
		}
	}
	return nil
}

// deliver sends raw now, or holds it back a few hundred positions.
func (g *generator) deliver(raw []byte) error {
	if g.chance(genLateShare) {
		g.seq++
		heap.Push(&g.late, genQueued{at: int64(g.sent + 1 + g.rng.IntN(genMaxLateShift)), seq: g.seq, raw: raw})
		return nil
	}
	if err := g.emit(raw); err != nil {
		return err
	}
	g.sent++
	for len(g.late) > 0 && g.late[0].at <= int64(g.sent) {
		if err := g.emit(heap.Pop(&g.late).(genQueued).raw); err != nil {
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
	g.grantEvent(gr, TypeGrantCreated, t0)
	if g.chance(0.01) {
		g.grantHead(gr, TypeGrantCouldNotCreateAccessMs, t0+g.between(1*genSecond, 5*genSecond))
		g.str("error_message", "Could not create the requested access methods: the device is offline.")
		g.idList("missing_device_ids", gr.ws.devices[g.rng.IntN(len(gr.ws.devices))])
		g.finish()
	}
	ready, at := t0, t0 // ready: all methods issued
	for _, m := range gr.methods {
		at += g.between(150, 900)
		ready = max(ready, g.planIssue(m, at))
	}
	doorAt := t0 + g.between(2*genSecond, 90*genSecond)
	for _, door := range gr.doors {
		g.doorEvent(gr, TypeGrantAccessGrantedToDoor, doorAt, door)
		doorAt += g.between(100, 1500)
	}
	if g.chance(0.85) {
		g.grantEvent(gr, TypeGrantAccessGrantedToAll, doorAt+g.between(200, 2000))
	}
	last := max(ready, doorAt)
	if g.chance(genUpdateShare) {
		for n := 1 + g.rng.IntN(5); n > 0; n-- {
			last = g.planUpdate(gr, last+g.between(10*genMinute, 90*genMinute))
		}
	}
	end := last + g.between(30*genMinute, 4*genHour)
	if g.chance(0.04) {
		g.doorEvent(gr, TypeGrantAccessToDoorLost, g.between(doorAt, end), gr.doors[g.rng.IntN(len(gr.doors))])
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
	gr.startsAt = t0 - t0%genDay + g.between(1, 21)*genDay + 15*genHour
	gr.endsAt = gr.startsAt + g.between(1, 7)*genDay - 4*genHour
	n := min(genMethodsPerGrant[g.rng.IntN(len(genMethodsPerGrant))], g.methodsLeft)
	g.methodsLeft -= n
	modes := g.rng.Perm(3)
	for i := range n {
		m := &genMethod{id: g.newID(), grant: gr, mode: genModes[modes[i]]}
		if m.mode == "code" {
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
		g.methodEvent(m, TypeCreated, at)
	}
	at += g.between(200, 1500)
	switch m.mode {
	case "card":
		g.methodEvent(m, TypeCardEncodingRequired, at)
		at += g.between(1*genMinute, 20*genMinute) // someone encodes the card
	case "code":
		at += g.between(1*genSecond, 30*genSecond)
	default:
		at += g.between(2*genSecond, 60*genSecond)
	}
	if g.chance(genDelayShare) {
		g.methodEvent(m, TypeDelayInIssuing, at)
		if g.chance(genFailShare) {
			at += g.between(10*genMinute, 60*genMinute)
			g.methodEvent(m, TypeFailedToIssue, at)
			at += g.between(10*genMinute, 2*genHour)
		} else {
			at += g.between(5*genMinute, 40*genMinute)
		}
	}
	g.methodHead(m, TypeIssued, at)
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
		g.methodEvent(m, TypeRevoked, t)
		switch m.mode {
		case "card":
			t += g.between(300, 3*genSecond)
			g.methodEvent(m, TypeCardEncodingRequired, t)
			t += g.between(1*genMinute, 15*genMinute)
		default:
			t += g.between(1*genSecond, 60*genSecond)
		}
		g.methodHead(m, TypeReissued, t)
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
func (g *generator) planDeletion(gr *genGrant, at int64) {
	g.grantEvent(gr, TypeGrantDeleted, at)
	for _, m := range gr.methods {
		t := at + g.between(200, 3*genSecond)
		g.methodEvent(m, TypeDeleted, t)
		if g.chance(genAfterDeleted) {
			typ := genAfterDeletedTypes[g.rng.IntN(len(genAfterDeletedTypes))]
			g.methodEvent(m, typ, t+g.between(1*genSecond, 10*genMinute))
		}
	}
}

// deviceEvent renders a non-access event about one of the workspace's devices.
func (g *generator) deviceEvent(gr *genGrant, at int64) {
	typ := genDeviceTypes[g.rng.IntN(len(genDeviceTypes))]
	g.begin(gr.ws, typ, at)
	g.id("device_id", gr.ws.devices[g.rng.IntN(len(gr.ws.devices))])
	g.id("connected_account_id", gr.ws.systems[g.rng.IntN(len(gr.ws.systems))].account)
	if typ == "lock.unlocked" {
		g.str("method", genUnlockMethods[g.rng.IntN(len(genUnlockMethods))])
	}
	g.finish()
}

// grantEvent renders an access_grant.* event without fields of its own.
func (g *generator) grantEvent(gr *genGrant, typ string, at int64) {
	g.grantHead(gr, typ, at)
	g.finish()
}

// doorEvent renders an access_grant.* event about one entrance.
func (g *generator) doorEvent(gr *genGrant, typ string, at int64, entrance ID) {
	g.grantHead(gr, typ, at)
	g.id("acs_entrance_id", entrance)
	g.finish()
}

// methodEvent renders an access_method.* event without fields of its own.
func (g *generator) methodEvent(m *genMethod, typ string, at int64) {
	g.methodHead(m, typ, at)
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
func (g *generator) begin(ws *genWorkspace, typ string, at int64) {
	micro := g.chance(genMicroShare)
	lag := g.between(0, 40) * 1000 // µs
	if g.chance(0.3) {
		lag = g.between(40, 3*genSecond-1) * 1000
	}
	occurred := at * 1000
	if micro {
		occurred += g.rng.Int64N(1000)
		lag += g.rng.Int64N(1000)
	}
	g.created = occurred + lag
	g.buf = append(g.buf[:0], `{"event_id":"`...)
	g.buf = appendGenID(g.buf, g.newID())
	g.buf = append(g.buf, '"')
	if !g.chance(genNoDescShare) {
		g.str("event_description", genDescriptions[typ])
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
	heap.Push(&g.pending, genQueued{at: g.created, seq: g.seq, raw: raw})
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

func (g *generator) id(name string, id ID) {
	g.key(name, `"`)
	g.buf = append(appendGenID(g.buf, id), '"')
}

// idList writes a one-id array.
func (g *generator) idList(name string, id ID) {
	g.key(name, `["`)
	g.buf = append(appendGenID(g.buf, id), `"]`...)
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
func (g *generator) newID() ID {
	var id ID
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

// appendGenID appends id in lowercase 8-4-4-4-12 form.
func appendGenID(b []byte, id ID) []byte {
	b = hex.AppendEncode(b, id[:4])
	for _, part := range [...][]byte{id[4:6], id[6:8], id[8:10], id[10:]} {
		b = append(b, '-')
		b = hex.AppendEncode(b, part)
	}
	return b
}

// genQueue is a min-heap (container/heap) of queued events by (at, seq).
type genQueue []genQueued

// Len implements heap.Interface.
func (q genQueue) Len() int { return len(q) }

// Less orders by at, then by seq.
func (q genQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || (q[i].at == q[j].at && q[i].seq < q[j].seq)
}

// Swap implements heap.Interface.
func (q genQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }

// Push implements heap.Interface.
func (q *genQueue) Push(x any) { *q = append(*q, x.(genQueued)) }

// Pop implements heap.Interface; it clears the vacated slot.
func (q *genQueue) Pop() any {
	n := len(*q) - 1
	x := (*q)[n]
	(*q)[n] = genQueued{}
	*q = (*q)[:n]
	return x
}
