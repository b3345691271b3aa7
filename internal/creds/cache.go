package creds

import (
	"sync"
	"sync/atomic"
)

// useCache holds the decrypted entries of /access and /proxy. Reads are
// numbered in the order they start; an entry is kept only if no
// invalidation of its integration happened after its read started, and
// never replaces an entry read later. Without that, a slow read that
// began before a local change (a save, a revoke, a 401 reload) could put
// the old state back after the change cleared it.
type useCache struct {
	seq     atomic.Uint64
	entries sync.Map // integration id → *useEntry
	marks   sync.Map // integration id → *atomic.Uint64: seq of the last invalidation
}

// begin numbers a read of the store that is about to start.
func (c *useCache) begin() uint64 { return c.seq.Add(1) }

func (c *useCache) get(id string) (*useEntry, bool) {
	v, ok := c.entries.Load(id)
	if !ok {
		return nil, false
	}
	return v.(*useEntry), true
}

func (c *useCache) mark(id string) *atomic.Uint64 {
	if v, ok := c.marks.Load(id); ok {
		return v.(*atomic.Uint64)
	}
	v, _ := c.marks.LoadOrStore(id, new(atomic.Uint64))
	return v.(*atomic.Uint64)
}

// invalidate drops id's entry; reads that started before are not kept.
func (c *useCache) invalidate(id string) {
	c.mark(id).Store(c.seq.Add(1))
	c.entries.Delete(id)
}

// put keeps e (read at e.seq) unless it is stale.
func (c *useCache) put(id string, e *useEntry) {
	m := c.mark(id)
	for {
		if m.Load() > e.seq {
			return
		}
		cur, ok := c.entries.Load(id)
		if ok {
			if cur.(*useEntry).seq >= e.seq || c.entries.CompareAndSwap(id, cur, e) {
				break
			}
			continue
		}
		if _, loaded := c.entries.LoadOrStore(id, e); !loaded {
			break
		}
	}
	// An invalidation between the check and the store wins.
	if m.Load() > e.seq {
		c.entries.CompareAndDelete(id, e)
	}
}
