package lifecycle_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// now reads the virtual clock.
func (f *fixture) now() time.Time {
	f.t.Helper()
	var now time.Time
	f.update(func(tx store.Tx) error {
		var err error
		now, err = f.e.VirtualNow(tx)
		return err
	})
	return now
}

// TestVirtualNow: the virtual clock is the wall clock plus the offset the last move left, to the
// millisecond, never earlier than the time it was last moved to.
func TestVirtualNow(t *testing.T) {
	f := newFixture(t, testConfig())
	f.wall.Advance(1234567 * time.Nanosecond)
	equal(t, "before any move: the wall clock, to the millisecond", f.now(), t0.Add(time.Millisecond))

	moved := t0.Add(48 * time.Hour)
	f.update(func(tx store.Tx) error { _, err := f.e.SetClock(tx, moved); return err })
	equal(t, "right after the move", f.now(), moved)
	f.wall.Advance(time.Minute)
	equal(t, "a minute of wall time later", f.now(), moved.Add(time.Minute))

	// Another replica on the same store whose wall clock lags an hour behind.
	lagging := lifecycle.New(testConfig(), clock.NewManual(t0.Add(-time.Hour)), rand.NewChaCha8([32]byte{1}))
	var now time.Time
	f.update(func(tx store.Tx) error {
		var err error
		now, err = lagging.VirtualNow(tx)
		return err
	})
	equal(t, "on a replica whose wall clock lags: the time of the last move", now, moved)
}

// TestMovingTheClock: SetClock only moves forward; AdvanceTo moves forward unless the clock has
// passed its target already, and never fails for that.
func TestMovingTheClock(t *testing.T) {
	tests := []struct {
		name    string
		move    func(e *lifecycle.Engine, tx store.Tx, to time.Time) (time.Time, error)
		to      time.Duration // after the virtual time of the call
		want    time.Duration // the virtual time after the call, from that of the call
		wantErr error
	}{
		{"SetClock forward", (*lifecycle.Engine).SetClock, time.Hour, time.Hour, nil},
		{"SetClock to now", (*lifecycle.Engine).SetClock, 0, 0, nil},
		{"SetClock backwards fails", (*lifecycle.Engine).SetClock, -time.Millisecond, 0, lifecycle.ErrClockBackwards},
		{"AdvanceTo forward", (*lifecycle.Engine).AdvanceTo, time.Hour, time.Hour, nil},
		{"AdvanceTo a time already passed leaves the clock", (*lifecycle.Engine).AdvanceTo, -time.Hour, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			start := f.now()
			err := f.st.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
				got, err := tt.move(f.e, tx, start.Add(tt.to))
				if err == nil {
					equal(t, "returned time", got, start.Add(tt.want))
				}
				return err
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			equal(t, "virtual time afterwards", f.now(), start.Add(tt.want))
		})
	}
}

// TestAgenda: a step is due from its instant on, not a millisecond before, and only in the
// scope of its own tenant.
func TestAgenda(t *testing.T) {
	f := newFixture(t, testConfig())
	const account, region = "111122223333", "us-east-1" // backupIn's
	own := store.Tenants(store.Tenant{Account: account, Region: region})
	other := store.Tenants(store.Tenant{Account: "999988887777", Region: region})
	due := func(at time.Time, in store.Scope) bool {
		var due bool
		f.update(func(tx store.Tx) error {
			if err := f.e.Pin(tx, at); err != nil {
				return err
			}
			now, d, err := f.e.Agenda(tx, in)
			equal(t, "Agenda's virtual time", now, at)
			due = d
			return err
		})
		return due
	}
	equal(t, "with nothing scheduled", due(t0, store.Everything()), false)
	b := backupIn(api.BackupStateCreateInProgress)
	b.DueAt = t0.Add(time.Hour)
	f.insertBackup(b)
	for _, tc := range []struct {
		name string
		at   time.Time
		in   store.Scope
		want bool
	}{
		{"a millisecond before, its tenant", b.DueAt.Add(-time.Millisecond), own, false},
		{"a millisecond before, everything", b.DueAt.Add(-time.Millisecond), store.Everything(), false},
		{"at its instant, everything", b.DueAt, store.Everything(), true},
		{"at its instant, its tenant", b.DueAt, own, true},
		{"at its instant, its tenant and another", b.DueAt, store.Tenants(store.Tenant{Account: "999988887777", Region: region}, store.Tenant{Account: account, Region: region}), true},
		{"at its instant, another tenant", b.DueAt, other, false},
		{"at its instant, its account in another region", b.DueAt, store.Tenants(store.Tenant{Account: account, Region: "eu-west-1"}), false},
		{"at its instant, no tenant", b.DueAt, store.Tenants(), false},
	} {
		equal(t, tc.name, due(tc.at, tc.in), tc.want)
	}
}

// TestClockJumpReplaysEveryDay: advancing the clock 30 days takes 30 daily backups and applies
// retention on each of those days, and expires and purges what became due, each at its own
// instant (docs/BEHAVIOUR.md §3).
func TestClockJumpReplaysEveryDay(t *testing.T) {
	f := newFixture(t, testConfig())
	c := clusterIn(api.ClusterStateActive)
	c.RetentionDays, c.NextBackupAt = 7, t0.Add(time.Hour)
	f.insertCluster(c)
	f.update(func(tx store.Tx) error { _, err := f.e.SetClock(tx, t0.Add(30*24*time.Hour)); return err })

	// Backup i is taken on day i at t0+1h; retention marks it 8 days later (the first daily run
	// at which it is more than 7 days old), so it expires 15 days after it was taken and is
	// purged 3 days after that.
	day := func(i int) time.Time { return t0.Add(time.Hour + time.Duration(i)*24*time.Hour) }
	bs := f.backupsOf(c)
	if len(bs) != 18 { // backups 0–11 are purged
		t.Fatalf("cluster has %d backups, want 18", len(bs))
	}
	for k, b := range bs {
		i := k + 12
		want := store.Backup{State: api.BackupStateReady}
		switch {
		case i <= 14:
			want = store.Backup{State: api.BackupStateDeleted, DeleteAt: day(i + 15), DueAt: day(i + 18)}
		case i <= 21:
			want = store.Backup{State: api.BackupStatePendingDeletion, DeleteAt: day(i + 15), DueAt: day(i + 15)}
		}
		got := store.Backup{State: b.State, DeleteAt: b.DeleteAt, DueAt: b.DueAt}
		equal(t, "creation time of backup "+b.ID, b.CreatedAt, day(i))
		equal(t, "backup "+b.ID+" of day "+day(i).Format(time.DateOnly), got, want)
	}
}

// TestDefaultConfig: the documented defaults (docs/BEHAVIOUR.md §3, §4): no delays, a 7-day pending
// deletion and tombstone, daily backups, a 7-day HSM-type rollback window.
func TestDefaultConfig(t *testing.T) {
	equal(t, "DefaultConfig", lifecycle.DefaultConfig(), lifecycle.Config{
		PendingDeletion:       7 * 24 * time.Hour,
		Tombstone:             7 * 24 * time.Hour,
		BackupInterval:        24 * time.Hour,
		HsmTypeRollbackWindow: 7 * 24 * time.Hour,
	})
}
