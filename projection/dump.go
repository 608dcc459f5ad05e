package projection

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
)

// Dump writes the whole read model as text, one line per row, ordered by
// ids and free of anything that depends on arrival (stream numbers, seq): two
// projections of the same set of events dump byte-identically.
func (p *Projection) Dump(ctx context.Context, w io.Writer) error {
	snap, err := p.db.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	defer snap.Rollback()
	bw := bufio.NewWriter(w)
	queries := []struct{ prefix, query string }{
		{"method", `SELECT state FROM access_methods ORDER BY access_method_id`},
		{"grant-link", `SELECT json_array(lower(hex(access_grant_id)), lower(hex(access_method_id)))
			FROM access_method_grants ORDER BY access_grant_id, access_method_id`},
		{"key-link", `SELECT json_array(access_grant_key, lower(hex(access_method_id)))
			FROM access_method_keys ORDER BY access_grant_key, access_method_id`},
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
				// The stored form plus its derived access_methods.
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
