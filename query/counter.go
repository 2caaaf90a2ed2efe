package query

import "sync/atomic"

type counter struct{ n atomic.Uint64 }

func (c *counter) add(d uint64) { c.n.Add(d) }
func (c *counter) load() uint64 { return c.n.Load() }
