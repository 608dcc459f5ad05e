package store

import (
	"context"
	"fmt"
)

// ProbeWrite commits a tiny write transaction through the writer connection,
// the way every append commits: it fails when nothing can be written now
// (a full disk, a damaged or read-only file, a closed database), so that
// readiness can mean an append would be acknowledged. The probe table holds
// one row, counting the probes: probing never grows the database. Errors:
// internal.
func (db *DB) ProbeWrite(ctx context.Context) error {
	err := db.Update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, db.DDL(`CREATE TABLE IF NOT EXISTS write_probe (
			id INTEGER PRIMARY KEY CHECK (id = 1), probes INTEGER NOT NULL)`)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO write_probe (id, probes) VALUES (1, 1)
			ON CONFLICT (id) DO UPDATE SET probes = write_probe.probes + 1`)
		return err
	})
	if err != nil {
		return fmt.Errorf("probe write: %w", err)
	}
	return nil
}
