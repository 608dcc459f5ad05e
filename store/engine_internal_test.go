package store

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRebind numbers ? parameters for PostgreSQL, leaving those in strings,
// quoted identifiers and -- comments alone.
func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`:                               `SELECT 1`,
		`SELECT ? WHERE a = ? AND b IN (?, ?)`:   `SELECT $1 WHERE a = $2 AND b IN ($3, $4)`,
		`SELECT '?', "a?b", ? -- what's this? ?`: `SELECT '?', "a?b", $1 -- what's this? ?`,
		"SELECT 'it''s ?', ? -- ?\n, ?":          "SELECT 'it''s ?', $1 -- ?\n, $2",
		`SELECT 'unterminated ?`:                 `SELECT 'unterminated ?`,
	} {
		assert.Equal(t, want, rebind(in), in)
	}
}
