package projection

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/amtrack/amtrack/store"
)

// Dump writes the read model as text, one line per row, as of one snapshot:
// each access method's state, each grant and key link, and each grant's
// summary. Lines are ordered by ids and free of anything that depends on
// arrival (stream numbers, seq): two projections of the same set of events
// dump byte-identically. Fold bookkeeping is left out: a method row's key
// columns (last_occurred_at, last_created_at, last_event_id) and the keys
// stored beside a grant's summary.
func (p *Projection) Dump(ctx context.Context, w io.Writer) error {
	return p.db.View(ctx, func(snap *store.Snapshot) error {
		return dump(ctx, snap, w)
	})
}

// dump is Dump in the snapshot snap.
func dump(ctx context.Context, snap *store.Snapshot, w io.Writer) error {
	bw := bufio.NewWriter(w)
	grantLink, keyLink := `json_array(lower(hex(access_grant_id)), lower(hex(access_method_id)))`,
		`json_array(access_grant_key, lower(hex(access_method_id)))`
	if snap.Engine() == store.Postgres {
		grantLink, keyLink = `array_to_json(ARRAY[encode(access_grant_id, 'hex'), encode(access_method_id, 'hex')])::text`,
			`array_to_json(ARRAY[access_grant_key, encode(access_method_id, 'hex')])::text`
	}
	queries := []struct{ prefix, query string }{
		{"method", `SELECT state FROM access_methods ORDER BY access_method_id`},
		{"grant-link", `SELECT ` + grantLink + ` FROM access_method_grants ORDER BY access_grant_id, access_method_id`},
		{"key-link", `SELECT ` + keyLink + ` FROM access_method_keys ORDER BY access_grant_key, access_method_id`},
		{"grant", `SELECT state FROM access_grants ORDER BY access_grant_id`},
	}
	for _, q := range queries {
		rows, err := snap.QueryContext(ctx, q.query)
		if err != nil {
			return fmt.Errorf("dump %s: %w", q.prefix, err)
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return fmt.Errorf("dump %s: %w", q.prefix, err)
			}
			if q.prefix == "grant" {
				// The summary alone: without the fold keys stored beside it
				// (starts_key, ends_key, deleted_key), and with
				// access_methods empty, as stored (queries derive it from
				// the links, which are the grant-link lines).
				g, err := decodeGrant(b)
				if err != nil {
					rows.Close()
					return err
				}
				if b, err = json.Marshal(g); err != nil {
					rows.Close()
					return err
				}
			}
			fmt.Fprintf(bw, "%s %s\n", q.prefix, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("dump %s: %w", q.prefix, err)
		}
	}
	return bw.Flush()
}
