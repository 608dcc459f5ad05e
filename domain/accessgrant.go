package domain

// GrantMethod is one access method of a grant, as its summary lists it.
type GrantMethod struct {
	AccessMethodID ID     `json:"access_method_id"`
	Status         string `json:"status"`
	IsIssued       bool   `json:"is_issued"`
}

// AccessGrant is the summary of one access grant (docs/fold.md), aggregated
// from the events of its history. Every aggregate is order-independent
// (unions, minimum, maximum, count, latest by fold key), so applying events
// in any order gives the same summary.
type AccessGrant struct {
	AccessGrantID   ID            `json:"access_grant_id"`
	AccessGrantKeys []string      `json:"access_grant_keys"`
	AccessMethods   []GrantMethod `json:"access_methods"`
	StartsAt        *string       `json:"starts_at"`
	EndsAt          *string       `json:"ends_at"`
	IsDeleted       bool          `json:"is_deleted"`
	DeletedAt       *Time         `json:"deleted_at"`
	FirstEventAt    Time          `json:"first_event_at"`
	LastEventAt     Time          `json:"last_event_at"`
	EventCount      int           `json:"event_count"`

	// Fold bookkeeping: the keys of the events that set starts_at, ends_at and deleted_at.
	StartsKey  *Key `json:"-"`
	EndsKey    *Key `json:"-"`
	DeletedKey *Key `json:"-"`
}

// NewAccessGrant returns the summary of a grant before any event.
func NewAccessGrant(id ID) *AccessGrant {
	return &AccessGrant{AccessGrantID: id, AccessGrantKeys: []string{}, AccessMethods: []GrantMethod{}}
}

// Apply adds one event of the grant's history to the summary. The access
// methods are not derived from events here: they are the methods whose state
// lists the grant.
func (g *AccessGrant) Apply(e *Event) {
	at := Time(e.OccurredAt)
	if g.EventCount == 0 || at < g.FirstEventAt {
		g.FirstEventAt = at
	}
	if g.EventCount == 0 || at > g.LastEventAt {
		g.LastEventAt = at
	}
	g.EventCount++
	g.AccessGrantKeys = unionStrings(g.AccessGrantKeys, e.AccessGrantKeys)
	if e.AccessGrantKey != nil {
		g.AccessGrantKeys = unionStrings(g.AccessGrantKeys, []string{*e.AccessGrantKey})
	}
	k := e.Key()
	switch e.Type {
	case TypeGrantAccessTimesChanged:
		if e.StartsAt != nil && (g.StartsKey == nil || k.Compare(*g.StartsKey) > 0) {
			g.StartsAt, g.StartsKey = ptr(*e.StartsAt), &k
		}
		if e.EndsAt != nil && (g.EndsKey == nil || k.Compare(*g.EndsKey) > 0) {
			g.EndsAt, g.EndsKey = ptr(*e.EndsAt), &k
		}
	case TypeGrantDeleted:
		// The first deletion in fold order gives deleted_at.
		g.IsDeleted = true
		if g.DeletedKey == nil || k.Compare(*g.DeletedKey) < 0 {
			g.DeletedAt, g.DeletedKey = &at, &k
		}
	}
}

// Clone returns a deep copy of g.
func (g *AccessGrant) Clone() *AccessGrant {
	c := *g
	c.AccessGrantKeys = append([]string{}, g.AccessGrantKeys...)
	c.AccessMethods = append([]GrantMethod{}, g.AccessMethods...)
	c.StartsAt = clonePtr(g.StartsAt)
	c.EndsAt = clonePtr(g.EndsAt)
	c.DeletedAt = clonePtr(g.DeletedAt)
	c.StartsKey = clonePtr(g.StartsKey)
	c.EndsKey = clonePtr(g.EndsKey)
	c.DeletedKey = clonePtr(g.DeletedKey)
	return &c
}
