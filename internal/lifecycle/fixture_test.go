package lifecycle_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// TestLiveBackup: a backup taken in the past is taken through the life that ends in the state
// asked for by now, or refused when it is too young to have reached it.
func TestLiveBackup(t *testing.T) {
	now := t0.Add(30 * 24 * time.Hour)
	tests := []struct {
		name          string
		age           time.Duration
		state         string
		deleteAt, due time.Time
		refused       bool
	}{
		{"READY once the backup-create delay has passed", time.Hour, api.BackupStateReady, time.Time{}, time.Time{}, false},
		{"PENDING_DELETION: deleted now, restorable for the window", 20 * 24 * time.Hour, api.BackupStatePendingDeletion, now.Add(pendingDeletion), now.Add(pendingDeletion), false},
		{"DELETED: deleted a window ago, expired now, listed for the tombstone", 8 * 24 * time.Hour, api.BackupStateDeleted, now, now.Add(tombstone), false},
		{"too young to be READY", time.Minute, api.BackupStateReady, time.Time{}, time.Time{}, true},
		{"too young to have been deleted a window ago", 3 * 24 * time.Hour, api.BackupStateDeleted, time.Time{}, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			c := clusterIn(api.ClusterStateActive)
			f.insertCluster(c)
			var got store.Backup
			var err error
			if err := f.st.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
				b, terr := f.e.TakeBackup(tx, c, now.Add(-tt.age))
				if terr != nil {
					return terr
				}
				got, err = f.e.LiveBackup(tx, b, tt.state, now)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if tt.refused {
				if !errors.Is(err, lifecycle.ErrWrongState) {
					t.Fatalf("LiveBackup = %+v, %v; want ErrWrongState", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "state", got.State, tt.state)
			equal(t, "CreateTimestamp", got.CreatedAt, now.Add(-tt.age))
			equal(t, "DeleteTimestamp", got.DeleteAt, tt.deleteAt)
			equal(t, "schedule", got.DueAt, tt.due)
			f.settle(now) // nothing more is due
			stored, _ := f.backup(got.ID)
			equal(t, "stored after settling now", stored, got)
		})
	}
}

// TestSkipDailyBackups: a cluster activated in the past takes its next daily backup after now,
// on the schedule counted from its activation, and none for the days in between.
func TestSkipDailyBackups(t *testing.T) {
	f := newFixture(t, testConfig())
	c := clusterIn(api.ClusterStateInitialized)
	f.insertCluster(c)
	activated := t0.Add(-40*24*time.Hour + time.Hour)
	f.update(func(tx store.Tx) error {
		a, err := f.e.Activate(tx, c, activated)
		if err != nil {
			return err
		}
		c, err = f.e.SkipDailyBackups(tx, a, t0)
		return err
	})
	equal(t, "next daily backup", c.NextBackupAt, t0.Add(time.Hour))
	f.settle(t0)
	equal(t, "backups by now: the activation's only", len(f.backupsOf(c)), 1)
}
