package lifecycle

import (
	"fmt"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// An HSM's life (docs/BEHAVIOUR.md §5). Calls enter a state; Settle (hsmDue) leaves it when its
// time comes:
//
//	CreateHSM ─► CREATE_IN_PROGRESS ─(hsm-create delay)─► ACTIVE: the first ACTIVE HSM of an
//	                UNINITIALIZED cluster gives it its CSR; a new HSM of an ACTIVE cluster, a backup
//	ACTIVE, CREATE_IN_PROGRESS ─BeginDeleteHSM─► DELETE_IN_PROGRESS ─(hsm-delete delay)─► gone,
//	                and a backup if its cluster is ACTIVE
//
// The caller checks that the HSM is in the state a call starts from.

// CreateHSM inserts h, which carries its ID and attributes, as a new HSM created at now:
// CREATE_IN_PROGRESS until the hsm-create delay has passed.
func (e *Engine) CreateHSM(tx store.Tx, h store.HSM, now time.Time) (store.HSM, error) {
	h.State, h.CreatedAt, h.DueAt = api.HsmStateCreateInProgress, now, now.Add(e.delay(HSMCreate))
	if err := tx.InsertHSM(h); err != nil {
		return store.HSM{}, fmt.Errorf("insert HSM %s: %w", h.ID, err)
	}
	return h, nil
}

// BeginDeleteHSM starts deleting an HSM: DELETE_IN_PROGRESS until the hsm-delete delay has
// passed, when it is gone.
func (e *Engine) BeginDeleteHSM(tx store.Tx, h store.HSM, now time.Time) (store.HSM, error) {
	h.State, h.StateMessage = api.HsmStateDeleteInProgress, "The HSM is being deleted."
	h.DueAt = now.Add(e.delay(HSMDelete))
	if err := tx.UpdateHSM(h); err != nil {
		return store.HSM{}, fmt.Errorf("delete HSM %s: %w", h.ID, err)
	}
	return h, nil
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
		_, err = tx.UpdateCluster(c)
		return err
	case api.ClusterStateActive:
		_, err := e.TakeBackup(tx, c, at)
		return err
	}
	return nil
}
