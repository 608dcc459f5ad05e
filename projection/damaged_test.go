package projection_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
	"github.com/amtrack/amtrack/projection"
	"github.com/amtrack/amtrack/store"
)

// TestReadModelRefusesDamagedIDs damages the id columns of read-model rows
// (what a damaged file could leave) and requires the queries to fail with
// an internal error naming the row, not to hand out a zero id.
func methodRow(m *domain.AccessMethod) string { return "access method " + m.AccessMethodID.String() }

func TestReadModelRefusesDamagedIDs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage []string // statements, each given m's id
		read   func(p *projection.Projection, m *domain.AccessMethod) error
		row    func(m *domain.AccessMethod) string // the row the error must name
		col    string
	}{
		{"last_event_id", []string{`UPDATE access_methods SET last_event_id = x'0102' WHERE access_method_id = ?`},
			func(p *projection.Projection, m *domain.AccessMethod) error {
				_, err := p.AccessMethod(ctx, m.AccessMethodID)
				return err
			}, methodRow, "last_event_id"},
		{"listed last_event_id", []string{`UPDATE access_methods SET last_event_id = x'0102' WHERE access_method_id = ?`},
			func(p *projection.Projection, _ *domain.AccessMethod) error {
				_, err := p.ListAccessMethods(ctx, projection.MethodFilter{})
				return err
			}, methodRow, "last_event_id"},
		{"a grant's method id", []string{
			`UPDATE access_method_grants SET access_method_id = x'0102' WHERE access_method_id = ?`,
			`UPDATE access_methods SET access_method_id = x'0102' WHERE access_method_id = ?`},
			func(p *projection.Projection, m *domain.AccessMethod) error {
				_, err := p.AccessGrant(ctx, m.AccessGrantIDs[0])
				return err
			}, func(m *domain.AccessMethod) string { return "access grant " + m.AccessGrantIDs[0].String() }, "access_method_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := MustOpen(t)
			ingest(t, p, testutil.Events(t, 20, 3), rand.New(rand.NewPCG(3, 3)), 50)
			methods, err := p.ListAccessMethods(ctx, projection.MethodFilter{})
			require.NoError(t, err)
			var m *domain.AccessMethod
			for _, s := range methods {
				if len(s.AccessGrantIDs) > 0 {
					m = s
					break
				}
			}
			require.NotNil(t, m, "no method with a grant")
			err = p.DB().Update(ctx, func(tx *store.Tx) error {
				for _, stmt := range tc.damage {
					// The same two bytes as PostgreSQL writes a BYTEA literal.
					if p.DB().Engine() == store.Postgres {
						stmt = strings.ReplaceAll(stmt, `x'0102'`, `'\x0102'::bytea`)
					}
					if _, err := tx.ExecContext(ctx, stmt, m.AccessMethodID[:]); err != nil {
						return err
					}
				}
				return nil
			})
			require.NoError(t, err)
			err = tc.read(p, m)
			require.Error(t, err)
			assert.Equal(t, domain.EInternal, domain.ErrorCode(err))
			assert.Contains(t, err.Error(), tc.row(m))
			assert.Contains(t, err.Error(), tc.col)
		})
	}
}
