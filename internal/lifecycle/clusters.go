package lifecycle

import (
	"errors"
	"fmt"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

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
