package main

import (
	"runtime/debug"
	"testing"
)

// tuneGC sets the collector only when the environment leaves it alone.
func TestTuneGC(t *testing.T) {
	for _, tc := range []struct {
		name        string
		env         map[string]string
		wantPercent int
		wantLimit   int64
	}{
		{"no GOGC or GOMEMLIMIT: the server's settings", nil, gcPercent, gcMemoryLimit},
		{"GOGC set: left to the runtime", map[string]string{"GOGC": "50"}, 77, 1 << 40},
		{"GOMEMLIMIT set: left to the runtime", map[string]string{"GOMEMLIMIT": "1GiB"}, 77, 1 << 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Start from values no branch sets, and put the test binary's own back afterwards.
			oldPercent := debug.SetGCPercent(77)
			oldLimit := debug.SetMemoryLimit(1 << 40)
			t.Cleanup(func() {
				debug.SetGCPercent(oldPercent)
				debug.SetMemoryLimit(oldLimit)
			})
			tuneGC(func(name string) string { return tc.env[name] })
			if got := debug.SetGCPercent(77); got != tc.wantPercent {
				t.Errorf("GC percent %d, want %d", got, tc.wantPercent)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tc.wantLimit)
			}
		})
	}
}
