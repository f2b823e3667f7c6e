package service_test

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

// tickingClock is a wall clock that moves one millisecond each time it is read, as the real one
// does between two reads of a busy transaction.
type tickingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tickingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// TestAdvanceClockNeverRefusesAMoveForward: advancing by d (even 0) moves the virtual clock to
// at least the time read when the move began plus d, however far the wall clock moved meanwhile;
// only an explicit time in the past is refused. (A tiny advance was once refused with 409
// "only moves forward", because the target was computed from one read of the wall clock and
// checked against a later one.)
func TestAdvanceClockNeverRefusesAMoveForward(t *testing.T) {
	st, err := sqlstore.Open(t.Context(), "memory")
	if err != nil {
		t.Fatalf("open memory store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	wall := &tickingClock{t: time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)}
	svc := service.New(service.DefaultConfig(), st, lifecycle.New(lifecycle.DefaultConfig(), wall, rand.NewChaCha8([32]byte{})))
	ctx := t.Context()
	for _, d := range []time.Duration{0, time.Nanosecond, time.Millisecond, 2 * time.Millisecond, time.Hour} {
		before, err := svc.VirtualNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		moved, err := svc.AdvanceClock(ctx, d)
		if err != nil {
			t.Fatalf("AdvanceClock(%s): %v", d, err)
		}
		if want := before.Add(d).Truncate(time.Millisecond); moved.Before(want) {
			t.Fatalf("AdvanceClock(%s) from %s moved to %s, before %s", d, before, moved, want)
		}
	}
	now, err := svc.VirtualNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetClock(ctx, now.Add(-time.Second)); err == nil {
		t.Fatal("SetClock to a second ago succeeded; the clock never moves back")
	}
}

// TestCensusAppliesWhatIsDueFirst: the census counts the world at the virtual time, so a backup
// whose pending deletion ended while nobody looked counts as DELETED, not PENDING_DELETION.
func TestCensusAppliesWhatIsDueFirst(t *testing.T) {
	st, err := sqlstore.Open(t.Context(), "memory")
	if err != nil {
		t.Fatalf("open memory store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	start := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	wall := clock.NewManual(start)
	svc := service.New(service.DefaultConfig(), st, lifecycle.New(lifecycle.DefaultConfig(), wall, rand.NewChaCha8([32]byte{})))
	ctx := t.Context()
	err = st.Update(ctx, store.Everything(), func(tx store.Tx) error {
		return tx.InsertBackup(store.Backup{
			ID: "backup-aaaaaaaaaaa", Account: "111122223333", Region: "us-east-1", State: "PENDING_DELETION",
			HsmType: "hsm2m.medium", Mode: "FIPS", CreatedAt: start.Add(-time.Hour),
			DeleteAt: start.Add(time.Hour), DueAt: start.Add(time.Hour),
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		after time.Duration
		state string
	}{
		{"before its DeleteTimestamp", 0, "PENDING_DELETION"},
		{"after its DeleteTimestamp", 2 * time.Hour, "DELETED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wall.Advance(tc.after)
			got, err := svc.Census(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := []store.StateCount{{Account: "111122223333", Region: "us-east-1", Kind: store.KindBackup, State: tc.state, Count: 1}}
			if len(got) != 1 || got[0] != want[0] {
				t.Fatalf("Census = %+v, want %+v", got, want)
			}
		})
	}
}
