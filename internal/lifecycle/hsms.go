package lifecycle

import (
	"fmt"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

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
