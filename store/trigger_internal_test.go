package store

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPostgresAppendOnlyTriggers lists what PostgreSQL's migration creates
// to keep the log append-only: a row trigger for UPDATE and for DELETE and a
// statement trigger for TRUNCATE on every log table, and the function they
// call, each read whole (the trigger repair recreates them from this).
func TestPostgresAppendOnlyTriggers(t *testing.T) {
	ts, err := pgAppendOnlyTriggers()
	require.NoError(t, err)
	var names []string
	for _, tr := range ts {
		names = append(names, tr.Name)
		if strings.HasSuffix(tr.Name, "()") {
			assert.True(t, strings.HasPrefix(tr.SQL, "CREATE FUNCTION "+tr.Name+" RETURNS trigger"), tr.SQL)
			assert.True(t, strings.HasSuffix(tr.SQL, "$$"), tr.SQL)
			continue
		}
		assert.True(t, strings.HasPrefix(tr.SQL, "CREATE TRIGGER "+tr.Name+" BEFORE "), tr.SQL)
		assert.True(t, strings.HasSuffix(tr.SQL, "EXECUTE FUNCTION amtrack_append_only()"), tr.SQL)
	}
	var want []string
	for _, table := range []string{"event_chain", "event_grants", "event_streams", "events", "log_meta"} {
		want = append(want, table+"_no_delete", table+"_no_truncate", table+"_no_update")
	}
	assert.Equal(t, append([]string{"amtrack_append_only()"}, want...), names)
}
