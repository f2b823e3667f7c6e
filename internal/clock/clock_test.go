package clock

import (
	"sync"
	"testing"
	"time"
)

var epoch = time.Unix(0, 0).UTC()

// Real follows the system clock; Manual stands still until it is advanced. Both tell UTC.
func TestClocks(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.FixedZone("UTC+1", 3600))
	tests := []struct {
		name  string
		clock Clock
		moves bool // by itself, as time passes
	}{
		{"Real follows the system clock", Real{}, true},
		{"Manual stands still", NewManual(start), false},
		{"the zero Manual stands still", &Manual{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			first := tc.clock.Now()
			time.Sleep(20 * time.Millisecond)
			second := tc.clock.Now()
			after := time.Now()
			for _, got := range []time.Time{first, second} {
				if got.Location() != time.UTC {
					t.Fatalf("Now() = %s, not in UTC", got)
				}
			}
			if tc.moves {
				if first.Before(before) || second.After(after) || !second.After(first) {
					t.Fatalf("read %s then %s, 20ms apart between %s and %s", first, second, before, after)
				}
			} else if !second.Equal(first) {
				t.Fatalf("moved by itself from %s to %s", first, second)
			}
		})
	}
}

// A Manual clock starts where it is told, in UTC (its zero value at the Unix epoch), and moves
// exactly as far as it is advanced.
func TestManual(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.FixedZone("UTC+1", 3600))
	tests := []struct {
		name     string
		clock    *Manual
		advances []time.Duration
		want     time.Time
	}{
		{"NewManual starts at its start, in UTC", NewManual(start), nil, start.UTC()},
		{"the zero value starts at the Unix epoch", &Manual{}, nil, epoch},
		{"Advance moves it forward by d", NewManual(start), []time.Duration{time.Hour}, start.UTC().Add(time.Hour)},
		{"advances add up", NewManual(start), []time.Duration{time.Nanosecond, 168 * time.Hour, 30 * time.Minute}, start.UTC().Add(168*time.Hour + 30*time.Minute + time.Nanosecond)},
		{"Advance(0) stays put", NewManual(start), []time.Duration{0}, start.UTC()},
		{"the zero value advances from the Unix epoch", &Manual{}, []time.Duration{24 * time.Hour}, epoch.Add(24 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, d := range tc.advances {
				tc.clock.Advance(d)
			}
			if got := tc.clock.Now(); !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Fatalf("Now() = %s, want %s", got, tc.want)
			}
		})
	}
}

// Manual is safe for concurrent use: advances from many goroutines all count.
func TestManualConcurrent(t *testing.T) {
	m := NewManual(epoch)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				m.Advance(time.Second)
				m.Now()
			}
		})
	}
	wg.Wait()
	if got, want := m.Now(), epoch.Add(800*time.Second); !got.Equal(want) {
		t.Fatalf("after 800 one-second advances: %s, want %s", got, want)
	}
}

// A Mark measures the time passed since Start, at least what was slept.
func TestMarkElapsed(t *testing.T) {
	m := Start()
	time.Sleep(20 * time.Millisecond)
	first := m.Elapsed()
	second := m.Elapsed()
	if first < 20*time.Millisecond || second < first {
		t.Fatalf("after sleeping 20ms: Elapsed() = %s, then %s", first, second)
	}
}
