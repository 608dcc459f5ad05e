package projection

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRowProgressFinish: a rebuild's progress always ends with done ==
// total, also when its total became known only after the last row (sorted
// reads of a log whose grants' fold read no rows), and says it once.
func TestRowProgressFinish(t *testing.T) {
	tests := []struct {
		name       string
		rows, done int64
		want       [][2]int64
	}{
		{"total never known to step", 0, 40, [][2]int64{{7, 7}}},
		{"step stopped short of the total", 50, 40, [][2]int64{{7, 7}}},
		{"step told the end already", 50, 50, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][2]int64
			rp := &rowProgress{fn: func(done, total int64) { got = append(got, [2]int64{done, total}) }, rows: tt.rows, done: tt.done, events: 7}
			rp.finish(7)
			assert.Equal(t, tt.want, got)
		})
	}
	(&rowProgress{}).finish(7) // no fn: nothing to tell
}
