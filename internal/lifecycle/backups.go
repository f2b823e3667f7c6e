package lifecycle

import (
	"fmt"
	"slices"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

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
	return tx.UpdateBackup(&b)
}

// TakeBackup creates a backup of cluster c at instant at, in CREATE_IN_PROGRESS until the
// backup-create delay has passed.
func (e *Engine) TakeBackup(tx store.Tx, c store.Cluster, at time.Time) (store.Backup, error) {
	id, err := e.ids.NewResourceID(tx, "backup")
	if err != nil {
		return store.Backup{}, err
	}
	b := store.Backup{
		ID: id, Account: c.Account, Region: c.Region, ClusterID: c.ID,
		State: api.BackupStateCreateInProgress, HsmType: c.HsmType, Mode: c.Mode,
		CreatedAt: at, DueAt: at.Add(e.Delay(BackupCreate)), Version: 1,
	}
	if err := tx.InsertBackup(b); err != nil {
		return store.Backup{}, fmt.Errorf("insert backup of %s: %w", c.ID, err)
	}
	return b, nil
}

// MarkPendingDeletion moves a READY backup to PENDING_DELETION at instant at, exactly as
// DeleteBackup does, and returns it. The caller checks the state first.
func (e *Engine) MarkPendingDeletion(tx store.Tx, b store.Backup, at time.Time) (store.Backup, error) {
	b.State = api.BackupStatePendingDeletion
	b.DeleteAt = at.Add(e.cfg.PendingDeletion)
	b.DueAt = b.DeleteAt
	if err := tx.UpdateBackup(&b); err != nil {
		return b, err
	}
	return b, nil
}

// ApplyRetention moves every READY backup of cluster c older than its retention period, and
// not marked NeverExpires, to PENDING_DELETION — except the cluster's newest READY backup,
// which the service never expires. Clusters that are deleted have no policy.
func (e *Engine) ApplyRetention(tx store.Tx, c store.Cluster, at time.Time) error {
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
			return fmt.Errorf("expire backup %s: %w", b.ID, err)
		}
	}
	return nil
}
