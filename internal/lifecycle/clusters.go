package lifecycle

import (
	"errors"
	"fmt"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// A cluster's life (docs/BEHAVIOUR.md §5). Calls enter a state; Settle (clusterDue, dailyBackupDue)
// leaves it when its time comes:
//
//	CreateCluster ─► CREATE_IN_PROGRESS ─(cluster-create delay)─► UNINITIALIZED, or ACTIVE if made from a backup
//	UNINITIALIZED ─InitializeCluster─► INITIALIZE_IN_PROGRESS ─(cluster-initialize delay)─► INITIALIZED
//	INITIALIZED ─Activate (or AutoActivate, at once)─► ACTIVE, with a backup
//	ACTIVE ─ChangeHsmType─► MODIFY_IN_PROGRESS, with a backup ─(cluster-modify delay)─► ACTIVE
//	ACTIVE ─(every BackupInterval from activation)─► ACTIVE, with a backup and retention applied
//	any other ─BeginDeleteCluster─► DELETE_IN_PROGRESS ─(cluster-delete delay)─► DELETED ─(tombstone)─► purged
//
// SetRetention changes the retention policy in any state and applies it at once. Except for
// Activate, the caller checks that the cluster is in the state a call starts from.

// CreateCluster inserts c, which carries its ID and attributes, as a new cluster created at
// now: CREATE_IN_PROGRESS until the cluster-create delay has passed, with Version 1.
func (e *Engine) CreateCluster(tx store.Tx, c store.Cluster, now time.Time) (store.Cluster, error) {
	c.State, c.CreatedAt, c.DueAt, c.Version = api.ClusterStateCreateInProgress, now, now.Add(e.delay(ClusterCreate)), 1
	if err := tx.InsertCluster(c); err != nil {
		return store.Cluster{}, fmt.Errorf("insert cluster %s: %w", c.ID, err)
	}
	return c, nil
}

// InitializeCluster starts initializing an UNINITIALIZED cluster with signedCert, the
// certificate its owner's CA issued for its CSR: INITIALIZE_IN_PROGRESS until the
// cluster-initialize delay has passed.
func (e *Engine) InitializeCluster(tx store.Tx, c store.Cluster, signedCert string, now time.Time) (store.Cluster, error) {
	c.State = api.ClusterStateInitializeInProgress
	c.StateMessage = "Cluster is initializing. State will change to INITIALIZED upon completion."
	c.Certificates.ClusterCertificate = signedCert
	c.DueAt = now.Add(e.delay(ClusterInitialize))
	c, err := tx.UpdateCluster(c)
	if err != nil {
		return store.Cluster{}, fmt.Errorf("initialize cluster %s: %w", c.ID, err)
	}
	return c, nil
}

// ErrWrongState is returned when a lifecycle action finds a resource in a state that forbids it.
var ErrWrongState = errors.New("wrong state")

// Activate makes an INITIALIZED cluster ACTIVE and takes its first backup, as the CloudHSM CLI's
// activation does in AWS. It returns ErrWrongState (wrapped, naming the state) otherwise.
func (e *Engine) Activate(tx store.Tx, c store.Cluster, now time.Time) (store.Cluster, error) {
	if c.State != api.ClusterStateInitialized {
		return c, fmt.Errorf("%w: cluster %s is %s; only an INITIALIZED cluster can be activated", ErrWrongState, c.ID, c.State)
	}
	return e.activate(tx, c, now, true)
}

// activate makes c ACTIVE at instant at, starts its daily backups and records its identity;
// with backup, it also takes a backup at once.
func (e *Engine) activate(tx store.Tx, c store.Cluster, at time.Time, backup bool) (store.Cluster, error) {
	c.State, c.StateMessage, c.DueAt = api.ClusterStateActive, "", time.Time{}
	c.NextBackupAt = at.Add(e.cfg.BackupInterval)
	c, err := tx.UpdateCluster(c)
	if err != nil {
		return store.Cluster{}, fmt.Errorf("activate cluster %s: %w", c.ID, err)
	}
	// Its backups carry this identity; keep it for when the cluster itself is long gone.
	if err := tx.PutClusterIdentity(c.ID, c.Certificates); err != nil {
		return store.Cluster{}, fmt.Errorf("record identity of %s: %w", c.ID, err)
	}
	if backup {
		if _, err := e.TakeBackup(tx, c, at); err != nil {
			return store.Cluster{}, err
		}
	}
	return c, nil
}

// ChangeHsmType starts migrating an ACTIVE cluster and its HSMs to hsmType at now: a backup
// of the cluster as it was first, then MODIFY_IN_PROGRESS until the cluster-modify delay has
// passed, with the change open to rollback for the rollback window.
func (e *Engine) ChangeHsmType(tx store.Tx, c store.Cluster, hsmType string, now time.Time) (store.Cluster, error) {
	if _, err := e.TakeBackup(tx, c, now); err != nil {
		return store.Cluster{}, err
	}
	hsms, err := tx.HSMs(c.ID)
	if err != nil {
		return store.Cluster{}, fmt.Errorf("HSMs of %s: %w", c.ID, err)
	}
	for _, h := range hsms {
		h.HsmType = hsmType
		if err := tx.UpdateHSM(h); err != nil {
			return store.Cluster{}, fmt.Errorf("migrate HSM %s: %w", h.ID, err)
		}
	}
	c.HsmType, c.State = hsmType, api.ClusterStateModifyInProgress
	c.HsmTypeRollbackAt = now.Add(e.cfg.HsmTypeRollbackWindow)
	c.DueAt = now.Add(e.delay(ClusterModify))
	if c, err = tx.UpdateCluster(c); err != nil {
		return store.Cluster{}, fmt.Errorf("change HSM type of cluster %s: %w", c.ID, err)
	}
	return c, nil
}

// SetRetention gives cluster c a retention policy of days and applies it at once, at now
// (docs/BEHAVIOUR.md §4, Retention).
func (e *Engine) SetRetention(tx store.Tx, c store.Cluster, days int, now time.Time) (store.Cluster, error) {
	c.RetentionDays = days
	c, err := tx.UpdateCluster(c)
	if err != nil {
		return store.Cluster{}, fmt.Errorf("set retention of cluster %s: %w", c.ID, err)
	}
	if err := e.applyRetention(tx, c, now); err != nil {
		return store.Cluster{}, err
	}
	return c, nil
}

// BeginDeleteCluster starts deleting a cluster that has no HSMs: DELETE_IN_PROGRESS until the
// cluster-delete delay has passed. Its backups stay.
func (e *Engine) BeginDeleteCluster(tx store.Tx, c store.Cluster, now time.Time) (store.Cluster, error) {
	c.State, c.StateMessage = api.ClusterStateDeleteInProgress, "The cluster is being deleted."
	c.DueAt = now.Add(e.delay(ClusterDelete))
	c, err := tx.UpdateCluster(c)
	if err != nil {
		return store.Cluster{}, fmt.Errorf("delete cluster %s: %w", c.ID, err)
	}
	return c, nil
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
			_, err := e.activate(tx, c, ev.At, false)
			return err
		}
		c.State = api.ClusterStateUninitialized
		if c, err = tx.UpdateCluster(c); err != nil {
			return err
		}
		return e.certifyActiveHSM(tx, c, ev.At)
	case api.ClusterStateInitializeInProgress:
		c.State = api.ClusterStateInitialized
		if e.cfg.AutoActivate {
			_, err := e.activate(tx, c, ev.At, true)
			return err
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
	_, err = tx.UpdateCluster(c)
	return err
}

// certifyActiveHSM gives a cluster that has just become UNINITIALIZED its key, CSR and
// certificates if one of its HSMs became ACTIVE while the cluster was still being created (when
// hsmBecameActive could not yet issue them).
func (e *Engine) certifyActiveHSM(tx store.Tx, c store.Cluster, at time.Time) error {
	hsms, err := tx.HSMs(c.ID)
	if err != nil {
		return fmt.Errorf("HSMs of %s: %w", c.ID, err)
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

// dailyBackupDue takes an ACTIVE cluster's periodic backup and applies its retention policy,
// both at the instant they were due.
func (e *Engine) dailyBackupDue(tx store.Tx, ev store.Event) error {
	c, err := tx.Cluster(ev.ID)
	if err != nil {
		return err
	}
	c.NextBackupAt = ev.At.Add(e.cfg.BackupInterval)
	if c, err = tx.UpdateCluster(c); err != nil {
		return err
	}
	if _, err := e.TakeBackup(tx, c, ev.At); err != nil {
		return err
	}
	return e.applyRetention(tx, c, ev.At)
}
