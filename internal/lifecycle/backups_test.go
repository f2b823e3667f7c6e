package lifecycle_test

import (
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// TestBackupBirth: every new backup starts CREATE_IN_PROGRESS under a new ID, scheduled to be
// READY when the backup-create delay has passed.
func TestBackupBirth(t *testing.T) {
	cluster := clusterIn(api.ClusterStateActive)
	ready := backupIn(api.BackupStateReady)
	copied := backupIn(api.BackupStateReady)
	copied.ClusterID, copied.SourceRegion, copied.SourceBackupID, copied.SourceClusterID = "", "eu-west-1", "backup-sssssssssss", "cluster-sssssssssss"
	copied.CopiedAt = t0.Add(-time.Minute)
	now := t0.Add(time.Minute)
	tests := []struct {
		name   string
		create func(e *lifecycle.Engine, tx store.Tx) (store.Backup, error)
		want   store.Backup // but for its ID
	}{
		{"TakeBackup backs up a cluster: its type and mode, created now", func(e *lifecycle.Engine, tx store.Tx) (store.Backup, error) {
			return e.TakeBackup(tx, cluster, now)
		}, store.Backup{
			Account: cluster.Account, Region: cluster.Region, ClusterID: cluster.ID,
			State: api.BackupStateCreateInProgress, HsmType: cluster.HsmType, Mode: cluster.Mode,
			CreatedAt: now, DueAt: now.Add(backupCreateDelay), Version: 1,
		}},
		{"CopyBackup copies a backup into another region: its creation time, copied now, with its origin and no cluster", func(e *lifecycle.Engine, tx store.Tx) (store.Backup, error) {
			return e.CopyBackup(tx, ready, "us-west-2", now)
		}, store.Backup{
			Account: ready.Account, Region: "us-west-2",
			State: api.BackupStateCreateInProgress, HsmType: ready.HsmType, Mode: ready.Mode,
			CreatedAt: ready.CreatedAt, CopiedAt: now,
			SourceRegion: ready.Region, SourceBackupID: ready.ID, SourceClusterID: ready.ClusterID,
			DueAt: now.Add(backupCreateDelay), Version: 1,
		}},
		{"CopyBackup of a copy keeps the original cluster as SourceCluster", func(e *lifecycle.Engine, tx store.Tx) (store.Backup, error) {
			return e.CopyBackup(tx, copied, "us-west-2", now)
		}, store.Backup{
			Account: copied.Account, Region: "us-west-2",
			State: api.BackupStateCreateInProgress, HsmType: copied.HsmType, Mode: copied.Mode,
			CreatedAt: copied.CreatedAt, CopiedAt: now,
			SourceRegion: copied.Region, SourceBackupID: copied.ID, SourceClusterID: "cluster-sssssssssss",
			DueAt: now.Add(backupCreateDelay), Version: 1,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			var got store.Backup
			f.update(func(tx store.Tx) error {
				var err error
				got, err = tt.create(f.e, tx)
				return err
			})
			if !backupID.MatchString(got.ID) {
				t.Errorf("ID %q is not a backup ID", got.ID)
			}
			want := tt.want
			want.ID = got.ID
			equal(t, "returned backup", got, want)
			stored, _ := f.backup(got.ID)
			equal(t, "stored backup", stored, want)

			f.settle(want.DueAt.Add(-time.Millisecond))
			stored, _ = f.backup(got.ID)
			equal(t, "state just before the delay has passed", stored.State, api.BackupStateCreateInProgress)
			f.settle(want.DueAt)
			stored, _ = f.backup(got.ID)
			equal(t, "state once the delay has passed", stored.State, api.BackupStateReady)
			equal(t, "schedule once READY", stored.DueAt, time.Time{})
		})
	}
}

// TestBackupCalls: the transitions a call makes on an existing backup.
func TestBackupCalls(t *testing.T) {
	now := t0.Add(time.Minute)
	pending := backupIn(api.BackupStatePendingDeletion)
	pending.DeleteAt, pending.DueAt = now.Add(time.Hour), now.Add(time.Hour)
	tests := []struct {
		name string
		from store.Backup
		call func(e *lifecycle.Engine, tx store.Tx, b store.Backup) (store.Backup, error)
		want func(b store.Backup) store.Backup // from the backup as it was
	}{
		{"MarkPendingDeletion: READY → PENDING_DELETION, DeleteTimestamp and expiry at now + the pending-deletion window",
			backupIn(api.BackupStateReady),
			func(e *lifecycle.Engine, tx store.Tx, b store.Backup) (store.Backup, error) {
				return e.MarkPendingDeletion(tx, b, now)
			},
			func(b store.Backup) store.Backup {
				b.State, b.DeleteAt, b.DueAt = api.BackupStatePendingDeletion, now.Add(pendingDeletion), now.Add(pendingDeletion)
				return b
			}},
		{"RestoreBackup: PENDING_DELETION → READY, without DeleteTimestamp or schedule",
			pending,
			func(e *lifecycle.Engine, tx store.Tx, b store.Backup) (store.Backup, error) {
				return e.RestoreBackup(tx, b)
			},
			func(b store.Backup) store.Backup {
				b.State, b.DeleteAt, b.DueAt = api.BackupStateReady, time.Time{}, time.Time{}
				return b
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			f.insertBackup(tt.from)
			var got store.Backup
			f.update(func(tx store.Tx) error {
				var err error
				got, err = tt.call(f.e, tx, tt.from)
				return err
			})
			want := tt.want(tt.from)
			want.Version = tt.from.Version + 1
			equal(t, "returned backup", got, want)
			stored, _ := f.backup(tt.from.ID)
			equal(t, "stored backup", stored, want)
		})
	}
}

// TestBackupSteps: what Settle does to a backup when its time comes, and not a millisecond
// before.
func TestBackupSteps(t *testing.T) {
	due := t0.Add(time.Hour)
	scheduled := func(state string, deleteAt time.Time) store.Backup {
		b := backupIn(state)
		b.DeleteAt, b.DueAt = deleteAt, due
		return b
	}
	tests := []struct {
		name string
		from store.Backup
		want *store.Backup // nil: purged
	}{
		{"CREATE_IN_PROGRESS becomes READY", scheduled(api.BackupStateCreateInProgress, time.Time{}),
			&store.Backup{State: api.BackupStateReady}},
		{"PENDING_DELETION expires at its DeleteTimestamp: DELETED, kept for the tombstone period", scheduled(api.BackupStatePendingDeletion, due),
			&store.Backup{State: api.BackupStateDeleted, DeleteAt: due, DueAt: due.Add(tombstone)}},
		{"DELETED is purged at the end of the tombstone period", scheduled(api.BackupStateDeleted, due.Add(-tombstone)),
			nil},
		{"READY with a stale schedule only loses the schedule", scheduled(api.BackupStateReady, time.Time{}),
			&store.Backup{State: api.BackupStateReady}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			f.insertBackup(tt.from)
			got, ok := settleAround(t, f, due, tt.from, func() (store.Backup, bool) { return f.backup(tt.from.ID) })
			if tt.want == nil {
				if ok {
					t.Fatalf("backup still stored: %+v", got)
				}
				return
			}
			want := tt.from
			want.State, want.DeleteAt, want.DueAt, want.Version = tt.want.State, tt.want.DeleteAt, tt.want.DueAt, tt.from.Version+1
			equal(t, "backup once due", got, want)
		})
	}
}

// TestRetention: a cluster's retention policy, applied when it is set and with every daily
// backup, moves each READY backup older than the policy to PENDING_DELETION as DeleteBackup
// would — except backups that NeverExpire, the cluster's newest READY backup, and the backups of
// a cluster being deleted.
func TestRetention(t *testing.T) {
	now := t0.Add(time.Minute)
	const days = 7
	old := backupIn(api.BackupStateReady)
	old.CreatedAt = now.Add(-days*24*time.Hour - time.Millisecond)
	newest := backupIn(api.BackupStateReady)
	newest.ID, newest.CreatedAt = "backup-nnnnnnnnnnn", now.Add(-time.Hour)
	marked := old
	marked.State, marked.DeleteAt, marked.DueAt, marked.Version = api.BackupStatePendingDeletion, now.Add(pendingDeletion), now.Add(pendingDeletion), 2
	tests := []struct {
		name         string
		clusterState string
		subject      func(b store.Backup) store.Backup
		newer        bool // the cluster has a newer READY backup
		want         func(b store.Backup) store.Backup
	}{
		{"a READY backup older than the policy goes to PENDING_DELETION", api.ClusterStateActive,
			func(b store.Backup) store.Backup { return b }, true,
			func(store.Backup) store.Backup { return marked }},
		{"a backup exactly as old as the policy is kept", api.ClusterStateActive,
			func(b store.Backup) store.Backup { b.CreatedAt = now.Add(-days * 24 * time.Hour); return b }, true,
			func(b store.Backup) store.Backup { return b }},
		{"a backup that NeverExpires is kept", api.ClusterStateActive,
			func(b store.Backup) store.Backup { b.NeverExpires = true; return b }, true,
			func(b store.Backup) store.Backup { return b }},
		{"the newest READY backup is kept whatever its age", api.ClusterStateActive,
			func(b store.Backup) store.Backup { return b }, false,
			func(b store.Backup) store.Backup { return b }},
		{"a backup that is not READY is not touched", api.ClusterStateActive,
			func(b store.Backup) store.Backup { b.State = api.BackupStateCreateInProgress; return b }, true,
			func(b store.Backup) store.Backup { return b }},
		{"the backups of a cluster being deleted are under no policy", api.ClusterStateDeleteInProgress,
			func(b store.Backup) store.Backup { return b }, true,
			func(b store.Backup) store.Backup { return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			c := clusterIn(tt.clusterState)
			f.insertCluster(c)
			subject := tt.subject(old)
			f.insertBackup(subject)
			if tt.newer {
				f.insertBackup(newest)
			}
			f.update(func(tx store.Tx) error {
				_, err := f.e.SetRetention(tx, c, days, now)
				return err
			})
			got, _ := f.backup(subject.ID)
			equal(t, "backup", got, tt.want(subject))
			if tt.newer {
				got, _ := f.backup(newest.ID)
				equal(t, "newest backup", got, newest)
			}
		})
	}
}
