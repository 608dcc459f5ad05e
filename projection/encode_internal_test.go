package projection

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
)

// encodeCase makes random values for TestEncodeLikeJSON: strings with every
// character class encoding/json escapes (HTML, control, invalid UTF-8,
// U+2028), nil and empty lists, nil and set pointers.
type encodeCase struct{ rng *rand.Rand }

var encodePieces = []string{"", "a", "booking-7", `"`, `\`, "<", ">", "&", "\x00", "\x1f", "\x7f", "\b\f\n\r\t",
	"é", "\u2028", "\u2029", "\xff", "\xe2\x80", "😀", "\U0010ffff", " ", "/", "'"}

func (c encodeCase) str() string {
	var b strings.Builder
	for range c.rng.IntN(5) {
		b.WriteString(encodePieces[c.rng.IntN(len(encodePieces))])
	}
	return b.String()
}

func (c encodeCase) strPtr() *string {
	if c.rng.IntN(3) == 0 {
		return nil
	}
	s := c.str()
	return &s
}

func (c encodeCase) id() domain.ID {
	var id domain.ID
	for i := range id {
		id[i] = byte(c.rng.UintN(256))
	}
	return id
}

func (c encodeCase) time() domain.Time {
	switch c.rng.IntN(4) {
	case 0:
		return 0
	case 1:
		return domain.Time(c.rng.Int64N(1 << 62))
	case 2:
		return domain.Time(-c.rng.Int64N(1 << 40))
	}
	return domain.Time(c.rng.Int64N(1<<50) * 1e6) // whole milliseconds
}

func (c encodeCase) timePtr() *domain.Time {
	if c.rng.IntN(3) == 0 {
		return nil
	}
	t := c.time()
	return &t
}

func (c encodeCase) n() int { return c.rng.IntN(4) - 1 } // -1: nil

func (c encodeCase) key() *domain.Key {
	if c.rng.IntN(2) == 0 {
		return nil
	}
	return &domain.Key{OccurredAt: c.rng.Int64(), CreatedAt: -c.rng.Int64N(1000), EventID: c.id()}
}

func (c encodeCase) method() *domain.AccessMethod {
	s := &domain.AccessMethod{AccessMethodID: c.id(), WorkspaceID: c.id(), Status: c.str(), IsIssued: c.rng.IntN(2) == 0,
		Mode: c.strPtr(), IsEncodingRequired: c.rng.IntN(2) == 0, Code: c.strPtr(), CodeRedacted: c.rng.IntN(2) == 0,
		CodeForgotten: c.rng.IntN(2) == 0, CreatedAt: c.timePtr(), FirstSeenAt: c.time(), IssuedAt: c.timePtr(),
		LastIssuedAt: c.timePtr(), RevokedAt: c.timePtr(), DeletedAt: c.timePtr(),
		IssueCount: c.rng.IntN(1000) - 10, ReissueCount: c.rng.IntN(3), RevokeCount: c.rng.IntN(3), Version: c.rng.IntN(1 << 20),
		LastEvent: domain.EventRef{EventID: c.id(), EventType: c.str(), OccurredAt: c.time()}}
	if c.rng.IntN(3) > 0 {
		b := c.rng.IntN(2) == 0
		s.IsBackupCode = &b
	}
	if c.rng.IntN(2) == 0 {
		id := c.id()
		s.CodeEventID = &id
	}
	if n := c.n(); n >= 0 {
		s.AccessGrantIDs = []domain.ID{}
		for range n {
			s.AccessGrantIDs = append(s.AccessGrantIDs, c.id())
		}
	}
	if n := c.n(); n >= 0 {
		s.AccessGrantKeys = []string{}
		for range n {
			s.AccessGrantKeys = append(s.AccessGrantKeys, c.str())
		}
	}
	if n := c.n(); n >= 0 {
		s.Warnings = []domain.Warning{}
		for range n {
			s.Warnings = append(s.Warnings, domain.Warning{Code: c.str(), CreatedAt: c.time()})
		}
	}
	if n := c.n(); n >= 0 {
		s.Errors = []domain.ErrorNotice{}
		for range n {
			s.Errors = append(s.Errors, domain.ErrorNotice{Code: c.str(), CreatedAt: c.time()})
		}
	}
	if n := c.n(); n >= 0 {
		s.Anomalies = []domain.Anomaly{}
		for range n {
			s.Anomalies = append(s.Anomalies, domain.Anomaly{EventID: c.id(), EventType: c.str(), Reason: c.str()})
		}
	}
	return s
}

func (c encodeCase) grant() *domain.AccessGrant {
	g := &domain.AccessGrant{AccessGrantID: c.id(), StartsAt: c.strPtr(), EndsAt: c.strPtr(), IsDeleted: c.rng.IntN(2) == 0,
		DeletedAt: c.timePtr(), FirstEventAt: c.time(), LastEventAt: c.time(), EventCount: c.rng.IntN(100),
		StartsKey: c.key(), EndsKey: c.key(), DeletedKey: c.key(),
		AccessMethods: []domain.GrantMethod{{AccessMethodID: c.id(), Status: "issued"}}}
	if n := c.n(); n >= 0 {
		g.AccessGrantKeys = []string{}
		for range n {
			g.AccessGrantKeys = append(g.AccessGrantKeys, c.str())
		}
	}
	return g
}

// TestEncodeCoversEveryField fails when a field is added to the stored
// types, which the hand-written encoders must then learn (and the random
// values of TestEncodeLikeJSON set).
func TestEncodeCoversEveryField(t *testing.T) {
	for typ, n := range map[reflect.Type]int{
		reflect.TypeFor[domain.AccessMethod](): 28, reflect.TypeFor[domain.AccessGrant](): 13,
		reflect.TypeFor[storedMethod](): 2, reflect.TypeFor[storedGrant](): 4, reflect.TypeFor[domain.EventRef](): 3,
		reflect.TypeFor[domain.Anomaly](): 3, reflect.TypeFor[domain.Notice](): 2, reflect.TypeFor[domain.Key](): 3,
	} {
		require.Equal(t, n, typ.NumField(), "%s has another field: teach appendMethod/appendGrant (encode.go) and encodeCase", typ)
	}
}

// TestEncodeLikeJSON checks that the hand-written encoders give exactly
// json.Marshal's bytes for storedMethod and storedGrant (databases written
// before hold those), over random values with every kind of escape.
func TestEncodeLikeJSON(t *testing.T) {
	c := encodeCase{rand.New(rand.NewPCG(5, 6))}
	for i := range 3000 {
		s := c.method()
		var codeEventID *domain.ID
		if i%2 == 0 {
			id := c.id()
			codeEventID = &id
		}
		want, err := json.Marshal(storedMethod{AccessMethod: s, CodeEventID: codeEventID})
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendMethod(nil, s, codeEventID)), "method %d", i)

		g := c.grant()
		stored := *g
		stored.AccessMethods = []domain.GrantMethod{}
		want, err = json.Marshal(storedGrant{Summary: &stored, StartsKey: g.StartsKey, EndsKey: g.EndsKey, DeletedKey: g.DeletedKey})
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendGrant(nil, g)), "grant %d", i)
		require.Equal(t, string(want), string(encodeGrant(g)), "encodeGrant %d", i)

		// encodeMethod stores neither the code nor its redaction.
		c := *s
		c.Code, c.CodeRedacted = nil, false
		want, err = json.Marshal(storedMethod{AccessMethod: &c, CodeEventID: s.CodeEventID})
		require.NoError(t, err)
		require.Equal(t, string(want), string(encodeMethod(s)), "encodeMethod %d", i)
	}
}
