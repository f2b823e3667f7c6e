package main

import "runtime/debug"

// The server's garbage-collector settings. A request allocates tens of kilobytes (a page of 50
// backups about 150 KiB) and keeps none of them, while the live heap stays a few MiB: with the
// runtime's default (GOGC=100) the collector then runs every few milliseconds under load, and
// a page of 50 spent a quarter of its CPU on collection.
const (
	// gcPercent lets the heap grow to five times the live heap between collections.
	gcPercent = 400
	// gcMemoryLimit bounds what gcPercent may cost: near it the collector runs as often as it
	// must to stay under it, which is never more often than with GOGC=100 while the live heap
	// is below half of it. Idle, the server's heap is far below it.
	gcMemoryLimit = 64 << 20
)

// tuneGC applies gcPercent and gcMemoryLimit, unless GOGC or GOMEMLIMIT is set in the
// environment: whoever sets either has tuned the collector already (the runtime read both at
// start).
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(gcMemoryLimit)
}
