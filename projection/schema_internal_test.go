package projection

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSplitSchema: schema.sql splits into its tables, created when a
// rebuild claims its generation, and its indexes, built after the rows are
// in: none lost, none in both, none changed.
func TestSplitSchema(t *testing.T) {
	statement := regexp.MustCompile(`(?m)^CREATE (UNIQUE )?(TABLE|INDEX) `)
	var tables, indexes int
	for _, m := range statement.FindAllStringSubmatch(schemaSQL, -1) {
		if m[2] == "TABLE" {
			tables++
		} else {
			indexes++
		}
	}
	require.Equal(t, 4, tables, "the read model's tables")
	require.Equal(t, 4, indexes, "their secondary indexes")

	assert.Equal(t, tables, strings.Count(tableDDL, "CREATE TABLE "))
	assert.NotContains(t, tableDDL, "INDEX")
	assert.Contains(t, tableDDL, "-- One row per access method", "the tables keep their comments")
	require.Len(t, indexDDL, indexes)
	for _, ddl := range indexDDL {
		assert.Regexp(t, `^CREATE (UNIQUE )?INDEX \S+@g_\w+ ON \w+@t \(\w+\)$`, ddl)
		assert.Contains(t, strings.Join(strings.Fields(schemaSQL), " "), ddl+";", "an index statement as written")
	}

	tables2, indexes2 := splitSchema("-- a comment; with a semicolon\nCREATE TABLE a (x);\n\nCREATE INDEX a_x\n  ON a (x);\n")
	assert.Equal(t, "-- a comment; with a semicolon\nCREATE TABLE a (x);\n", tables2)
	assert.Equal(t, []string{"CREATE INDEX a_x ON a (x)"}, indexes2)
	assert.PanicsWithValue(t, "schema.sql: neither a table nor an index: DROP TABLE a", func() { splitSchema("CREATE TABLE a (x);\nDROP TABLE a;\n") })
}
