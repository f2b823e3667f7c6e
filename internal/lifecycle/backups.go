package lifecycle

import (
	"fmt"
	"slices"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// A backup's life (docs/BEHAVIOUR.md §4). Calls enter a state; Settle (backupDue) leaves it when
// its time comes:
//
//	TakeBackup, CopyBackup ─► CREATE_IN_PROGRESS ─(backup-create delay)─► READY
//	READY ─MarkPendingDeletion (DeleteBackup, retention)─► PENDING_DELETION
//	PENDING_DELETION ─RestoreBackup─► READY
//	PENDING_DELETION ─(DeleteTimestamp)─► DELETED ─(tombstone)─► purged
//
// The caller checks that the backup is in the state a call starts from.

// backupDue ends a backup's current state: creation completes, pending deletion expires, or
// the DELETED tombstone is purged.
func (e *Engine) backupDue(tx store.Tx, ev store.Event) error {
	b, err := tx.Backup(ev.ID)
	if err != nil {
		return err
	}
	switch b.State {
	case api.BackupStateCreateInProgress:
		b.State, b.DueAt = api.BackupStateReady, time.Time{}
	case api.BackupStatePendingDeletion:
		b.State, b.DueAt = api.BackupStateDeleted, b.DeleteAt.Add(e.cfg.Tombstone)
	case api.BackupStateDeleted:
		return tx.DeleteBackup(b.ID)
	default:
		b.DueAt = time.Time{} // nothing is due in this state; drop the stale schedule
	}
	_, err = tx.UpdateBackup(b)
	return err
}

// TakeBackup creates a backup of cluster c at instant at, in CREATE_IN_PROGRESS until the
// backup-create delay has passed.
func (e *Engine) TakeBackup(tx store.Tx, c store.Cluster, at time.Time) (store.Backup, error) {
	b, err := e.insertBackup(tx, store.Backup{
		Account: c.Account, Region: c.Region, ClusterID: c.ID,
		HsmType: c.HsmType, Mode: c.Mode, CreatedAt: at,
	}, at)
	if err != nil {
		return store.Backup{}, fmt.Errorf("back up cluster %s: %w", c.ID, err)
	}
	return b, nil
}

// CopyBackup creates the copy of backup src in region (of the same account) at instant now, in
// CREATE_IN_PROGRESS until the backup-create delay has passed. The copy keeps src's creation
// time, type and mode, and records where it comes from; it belongs to no cluster.
func (e *Engine) CopyBackup(tx store.Tx, src store.Backup, region string, now time.Time) (store.Backup, error) {
	sourceCluster := src.ClusterID
	if sourceCluster == "" { // a copy of a copy
		sourceCluster = src.SourceClusterID
	}
	b, err := e.insertBackup(tx, store.Backup{
		Account: src.Account, Region: region, HsmType: src.HsmType, Mode: src.Mode,
		CreatedAt: src.CreatedAt, CopiedAt: now,
		SourceRegion: src.Region, SourceBackupID: src.ID, SourceClusterID: sourceCluster,
	}, now)
	if err != nil {
		return store.Backup{}, fmt.Errorf("copy backup %s to %s: %w", src.ID, region, err)
	}
	return b, nil
}

// insertBackup is where every backup is born: b, under a new ID, in CREATE_IN_PROGRESS from
// at until the backup-create delay has passed.
func (e *Engine) insertBackup(tx store.Tx, b store.Backup, at time.Time) (store.Backup, error) {
	id, err := e.ids.NewResourceID(tx, "backup")
	if err != nil {
		return store.Backup{}, err
	}
	b.ID, b.State, b.DueAt, b.Version = id, api.BackupStateCreateInProgress, at.Add(e.delay(BackupCreate)), 1
	if err := tx.InsertBackup(b); err != nil {
		return store.Backup{}, err
	}
	return b, nil
}

// MarkPendingDeletion moves a READY backup to PENDING_DELETION at instant at, exactly as
// DeleteBackup does: it can be restored until its DeleteTimestamp, the pending-deletion window
// after at, when it expires.
func (e *Engine) MarkPendingDeletion(tx store.Tx, b store.Backup, at time.Time) (store.Backup, error) {
	b.State = api.BackupStatePendingDeletion
	b.DeleteAt = at.Add(e.cfg.PendingDeletion)
	b.DueAt = b.DeleteAt
	b, err := tx.UpdateBackup(b)
	if err != nil {
		return store.Backup{}, fmt.Errorf("mark backup %s for deletion: %w", b.ID, err)
	}
	return b, nil
}

// RestoreBackup brings a PENDING_DELETION backup back to READY, without a DeleteTimestamp or
// anything scheduled. Settle has expired every backup whose DeleteTimestamp has passed, so one
// still PENDING_DELETION is within its window.
func (e *Engine) RestoreBackup(tx store.Tx, b store.Backup) (store.Backup, error) {
	b.State, b.DeleteAt, b.DueAt = api.BackupStateReady, time.Time{}, time.Time{}
	b, err := tx.UpdateBackup(b)
	if err != nil {
		return store.Backup{}, fmt.Errorf("restore backup %s: %w", b.ID, err)
	}
	return b, nil
}

// applyRetention moves every READY backup of cluster c older than its retention period, and
// not marked NeverExpires, to PENDING_DELETION — except the cluster's newest READY backup,
// which the service never expires. Clusters that are deleted have no policy.
func (e *Engine) applyRetention(tx store.Tx, c store.Cluster, at time.Time) error {
	if c.State == api.ClusterStateDeleted || c.State == api.ClusterStateDeleteInProgress || c.RetentionDays <= 0 {
		return nil
	}
	ready, err := tx.Backups(store.BackupQuery{
		Account: c.Account, Region: c.Region, ClusterIDs: []string{c.ID},
		States: []string{api.BackupStateReady},
	})
	if err != nil {
		return fmt.Errorf("list backups of %s: %w", c.ID, err)
	}
	if len(ready) <= 1 {
		return nil
	}
	// Newest first: ready[0] is kept whatever its age.
	cutoff := at.Add(-time.Duration(c.RetentionDays) * 24 * time.Hour)
	for _, b := range slices.Clip(ready[1:]) {
		if b.NeverExpires || !b.CreatedAt.Before(cutoff) {
			continue
		}
		if _, err := e.MarkPendingDeletion(tx, b, at); err != nil {
			return err
		}
	}
	return nil
}
