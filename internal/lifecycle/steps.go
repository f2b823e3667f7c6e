package lifecycle

import (
	"errors"
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

// hsmDue ends an HSM's creation or deletion, with the effects those have on its cluster.
func (e *Engine) hsmDue(tx store.Tx, ev store.Event) error {
	h, err := tx.HSM(ev.ID)
	if err != nil {
		return err
	}
	c, err := tx.Cluster(h.ClusterID)
	if err != nil {
		return fmt.Errorf("cluster of %s: %w", h.ID, err)
	}
	switch h.State {
	case api.HsmStateCreateInProgress:
		h.State, h.StateMessage, h.DueAt = api.HsmStateActive, "", time.Time{}
		if err := tx.UpdateHSM(h); err != nil {
			return err
		}
		return e.hsmBecameActive(tx, c, h, ev.At)
	case api.HsmStateDeleteInProgress:
		if err := tx.DeleteHSM(h.ID); err != nil {
			return err
		}
		if c.State == api.ClusterStateActive {
			_, err := e.TakeBackup(tx, c, ev.At)
			return err
		}
		return nil
	}
	h.DueAt = time.Time{}
	return tx.UpdateHSM(h)
}

// hsmBecameActive gives an UNINITIALIZED cluster its key, CSR and certificates when its first
// HSM comes up, and backs up an ACTIVE cluster that gained an HSM.
func (e *Engine) hsmBecameActive(tx store.Tx, c store.Cluster, h store.HSM, at time.Time) error {
	switch c.State {
	case api.ClusterStateUninitialized:
		if c.Certificates.ClusterCsr != "" {
			return nil
		}
		certs, err := e.issueClusterCertificates(tx, c.ID, h.ID, at)
		if err != nil {
			return err
		}
		c.Certificates = certs
		return tx.UpdateCluster(&c)
	case api.ClusterStateActive:
		_, err := e.TakeBackup(tx, c, at)
		return err
	}
	return nil
}

// clusterDue ends a cluster's *_IN_PROGRESS state or purges its DELETED tombstone.
func (e *Engine) clusterDue(tx store.Tx, ev store.Event) error {
	c, err := tx.Cluster(ev.ID)
	if err != nil {
		return err
	}
	c.DueAt, c.StateMessage = time.Time{}, ""
	switch c.State {
	case api.ClusterStateCreateInProgress:
		if c.SourceBackupID != "" {
			return e.activate(tx, c, ev.At, false)
		}
		c.State = api.ClusterStateUninitialized
		if err := tx.UpdateCluster(&c); err != nil {
			return err
		}
		return e.certifyActiveHSM(tx, c.ID, ev.At)
	case api.ClusterStateInitializeInProgress:
		c.State = api.ClusterStateInitialized
		if e.cfg.AutoActivate {
			return e.activate(tx, c, ev.At, true)
		}
	case api.ClusterStateModifyInProgress:
		c.State = api.ClusterStateActive
		c.NextBackupAt = e.skipMissedBackups(c.NextBackupAt, ev.At)
	case api.ClusterStateDeleteInProgress:
		c.State, c.NextBackupAt = api.ClusterStateDeleted, time.Time{}
		c.DueAt = ev.At.Add(e.cfg.Tombstone)
	case api.ClusterStateDeleted:
		return tx.DeleteCluster(c.ID)
	}
	return tx.UpdateCluster(&c)
}

// certifyActiveHSM gives a cluster that has just become UNINITIALIZED its key, CSR and
// certificates if one of its HSMs became ACTIVE while the cluster was still being created (when
// hsmBecameActive could not yet issue them).
func (e *Engine) certifyActiveHSM(tx store.Tx, clusterID string, at time.Time) error {
	c, err := tx.Cluster(clusterID)
	if err != nil {
		return err
	}
	hsms, err := tx.HSMs(clusterID)
	if err != nil {
		return fmt.Errorf("HSMs of %s: %w", clusterID, err)
	}
	for _, h := range hsms {
		if h.State == api.HsmStateActive {
			return e.hsmBecameActive(tx, c, h, at)
		}
	}
	return nil
}

// skipMissedBackups returns the first daily-backup instant of the schedule that starts at next
// and is not before at. Daily backups are taken only while a cluster is ACTIVE: the instants
// that passed while it was not (an HSM-type change) are skipped, not replayed afterwards with
// timestamps from the past; the schedule stays counted from activation.
func (e *Engine) skipMissedBackups(next, at time.Time) time.Time {
	if next.IsZero() || !next.Before(at) || e.cfg.BackupInterval <= 0 {
		return next
	}
	missed := (at.Sub(next) + e.cfg.BackupInterval - 1) / e.cfg.BackupInterval
	return next.Add(missed * e.cfg.BackupInterval)
}

// ErrWrongState is returned when a lifecycle action finds a resource in a state that forbids it.
var ErrWrongState = errors.New("wrong state")

// Activate makes an INITIALIZED cluster ACTIVE and takes its first backup, as the CloudHSM CLI's
// activation does in AWS. It returns ErrWrongState (wrapped, naming the state) otherwise.
func (e *Engine) Activate(tx store.Tx, c store.Cluster, now time.Time) (store.Cluster, error) {
	if c.State != api.ClusterStateInitialized {
		return c, fmt.Errorf("%w: cluster %s is %s; only an INITIALIZED cluster can be activated", ErrWrongState, c.ID, c.State)
	}
	if err := e.activate(tx, c, now, true); err != nil {
		return c, err
	}
	return tx.Cluster(c.ID)
}

func (e *Engine) activate(tx store.Tx, c store.Cluster, at time.Time, backup bool) error {
	c.State, c.StateMessage, c.DueAt = api.ClusterStateActive, "", time.Time{}
	c.NextBackupAt = at.Add(e.cfg.BackupInterval)
	if err := tx.UpdateCluster(&c); err != nil {
		return err
	}
	// Its backups carry this identity; keep it for when the cluster itself is long gone.
	if err := tx.PutClusterIdentity(c.ID, c.Certificates); err != nil {
		return fmt.Errorf("record identity of %s: %w", c.ID, err)
	}
	if !backup {
		return nil
	}
	_, err := e.TakeBackup(tx, c, at)
	return err
}

// dailyBackupDue takes an ACTIVE cluster's periodic backup and applies its retention policy,
// both at the instant they were due.
func (e *Engine) dailyBackupDue(tx store.Tx, ev store.Event) error {
	c, err := tx.Cluster(ev.ID)
	if err != nil {
		return err
	}
	c.NextBackupAt = ev.At.Add(e.cfg.BackupInterval)
	if err := tx.UpdateCluster(&c); err != nil {
		return err
	}
	if _, err := e.TakeBackup(tx, c, ev.At); err != nil {
		return err
	}
	return e.ApplyRetention(tx, c, ev.At)
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
