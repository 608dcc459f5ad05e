package projection

import (
	"sync"

	"github.com/amtrack/amtrack/domain"
)

// maxCached bounds each map of the state cache; past it the map starts over.
const maxCached = 20000

// stateCache keeps the committed states of recently folded methods and
// grants, by stream, so an append does not read and decode them again. It
// holds only what committed (filled from OnCommit), is dropped when another
// process writes the database or a rebuild swaps tables, and hands out
// copies, so a rolled-back fold never leaks into it.
type stateCache struct {
	mu      sync.Mutex
	methods map[int64]*domain.AccessMethod
	grants  map[int64]*domain.AccessGrant
}

func (c *stateCache) method(stream int64) *domain.AccessMethod {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.methods[stream]; ok {
		return s.Clone()
	}
	return nil
}

func (c *stateCache) grant(stream int64) *domain.AccessGrant {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g, ok := c.grants[stream]; ok {
		return g.Clone()
	}
	return nil
}

// put stores committed states; the caller must not change them afterwards.
func (c *stateCache) put(methods map[int64]*domain.AccessMethod, grants map[int64]*domain.AccessGrant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.methods == nil || len(c.methods)+len(methods) > maxCached {
		c.methods = make(map[int64]*domain.AccessMethod, len(methods))
	}
	if c.grants == nil || len(c.grants)+len(grants) > maxCached {
		c.grants = make(map[int64]*domain.AccessGrant, len(grants))
	}
	for k, v := range methods {
		c.methods[k] = v
	}
	for k, v := range grants {
		c.grants[k] = v
	}
}

func (c *stateCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.methods, c.grants = nil, nil
}
