//go:build linux

package store

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/dbtest"
)

// TestReadChoice: a whole-log read does without a sorted copy when the file
// is in the page cache and copies when it is not (Linux: mincore), one choice
// for each Log; the options force either.
func TestReadChoice(t *testing.T) {
	dbtest.SQLiteOnly(t, "the choice is SQLite's")
	db, _ := sortedDB(t, 200, 64)
	db.sortedReads = false
	share := residentShare(db.path)
	require.GreaterOrEqual(t, share, walkResident, "a file just written is in the page cache")
	log := db.Log()
	assert.False(t, log.sorted(), "the cached file is walked")

	// Out of the cache (not on tmpfs, whose pages cannot leave it), the
	// next Log copies; the first keeps its choice.
	require.NoError(t, db.write.Close()) // its dirty pages flushed
	f, err := os.Open(db.path)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	if _, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, 4, 0, 0); e != 0 { // POSIX_FADV_DONTNEED
		t.Fatal(e)
	}
	require.NoError(t, f.Close())
	if residentShare(db.path) >= walkResident {
		t.Skip("the page cache kept the file (tmpfs?)")
	}
	assert.True(t, db.Log().sorted(), "the evicted file is copied")
	assert.False(t, log.sorted(), "one Log, one choice")

	db.sortedReads = true
	db.walkIndexes = true
	assert.False(t, db.Log().sorted(), "WalkIndexes wins")
	db.walkIndexes = false
	assert.True(t, db.Log().sorted(), "SortedReads forces the copy")
}
