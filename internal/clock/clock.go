// Package clock is the only place that reads the wall clock. Everything else receives a Clock,
// so tests can pin time and the service can run on virtual time (wall time plus an offset kept in
// the store; see lifecycle.Engine.VirtualNow). It must never know of virtual time itself.
package clock

import (
	"sync"
	"time"
)

// Clock tells the current wall time: real time, or a test's pinned time, never virtual time.
type Clock interface {
	// Now returns the current wall time.
	Now() time.Time
}

// Real is the system clock, in UTC.
type Real struct{}

// Now returns the system time in UTC.
func (Real) Now() time.Time { return time.Now().UTC() }

// Manual is a clock that only moves when told to; safe for concurrent use. Its zero value
// starts at the Unix epoch; use NewManual for another start.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

// NewManual returns a Manual clock set to start.
func NewManual(start time.Time) *Manual { return &Manual{now: start.UTC()} }

// Now returns the clock's current time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.current()
}

// Advance moves the clock forward by d.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.current().Add(d)
}

// current is the clock's time, the Unix epoch for the zero value; m.mu must be held.
func (m *Manual) current() time.Time {
	if m.now.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return m.now
}

// Mark is an instant on the monotonic clock, which setting the wall clock never moves: what
// durations (of a request, say) are measured with. Start makes one.
type Mark struct{ t time.Time }

// Start returns the monotonic clock's current instant.
func Start() Mark { return Mark{t: time.Now()} }

// Elapsed returns the time passed since m was made by Start.
func (m Mark) Elapsed() time.Duration { return time.Since(m.t) }
