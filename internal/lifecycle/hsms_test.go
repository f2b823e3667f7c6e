package lifecycle_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// TestHSMCalls: the transitions a call makes on an HSM.
func TestHSMCalls(t *testing.T) {
	now := t0.Add(time.Minute)
	fresh := hsmIn("")
	fresh.CreatedAt = time.Time{}
	tests := []struct {
		name   string
		stored *store.HSM // before the call; nil: none
		call   func(e *lifecycle.Engine, tx store.Tx) (store.HSM, error)
		want   store.HSM
	}{
		{"CreateHSM: a new HSM, CREATE_IN_PROGRESS from now until the hsm-create delay has passed", nil,
			func(e *lifecycle.Engine, tx store.Tx) (store.HSM, error) { return e.CreateHSM(tx, fresh, now) },
			func() store.HSM {
				h := fresh
				h.State, h.CreatedAt, h.DueAt = api.HsmStateCreateInProgress, now, now.Add(hsmCreateDelay)
				return h
			}()},
		{"BeginDeleteHSM: ACTIVE → DELETE_IN_PROGRESS until the hsm-delete delay (here the default) has passed", ptr(hsmIn(api.HsmStateActive)),
			func(e *lifecycle.Engine, tx store.Tx) (store.HSM, error) {
				return e.BeginDeleteHSM(tx, hsmIn(api.HsmStateActive), now)
			},
			func() store.HSM {
				h := hsmIn(api.HsmStateDeleteInProgress)
				h.StateMessage, h.DueAt = "The HSM is being deleted.", now.Add(defaultDelay)
				return h
			}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			f.insertCluster(clusterIn(api.ClusterStateActive))
			if tt.stored != nil {
				f.insertHSM(*tt.stored)
			}
			var got store.HSM
			f.update(func(tx store.Tx) error {
				var err error
				got, err = tt.call(f.e, tx)
				return err
			})
			equal(t, "returned HSM", got, tt.want)
			stored, _ := f.hsm(tt.want.ID)
			equal(t, "stored HSM", stored, tt.want)
		})
	}
}

// TestHSMSteps: what Settle does to an HSM, and through it to its cluster, when its time comes
// and not a millisecond before.
func TestHSMSteps(t *testing.T) {
	due := t0.Add(time.Hour)
	scheduled := func(state string) store.HSM {
		h := hsmIn(state)
		h.DueAt = due
		if state == api.HsmStateDeleteInProgress {
			h.StateMessage = "The HSM is being deleted."
		}
		return h
	}
	active := hsmIn(api.HsmStateActive)
	csrIssued := func(t *testing.T, f *fixture) {
		c, _ := f.cluster(clusterIn("").ID)
		if !strings.Contains(c.Certificates.ClusterCsr, "CERTIFICATE REQUEST") || c.Certificates.ClusterKey == "" ||
			c.Certificates.HsmCertificate == "" || c.Certificates.AwsHardwareCertificate == "" || c.Certificates.ManufacturerHardwareCertificate == "" {
			t.Errorf("cluster has no key, CSR and hardware certificates: %+v", c.Certificates)
		}
		noBackup(t, f, c)
	}
	unchanged := func(want store.Cluster) func(t *testing.T, f *fixture) {
		return func(t *testing.T, f *fixture) {
			c, _ := f.cluster(want.ID)
			equal(t, "cluster", c, want)
			noBackup(t, f, c)
		}
	}
	backedUp := func(t *testing.T, f *fixture) { backupTaken(t, f, clusterIn(""), due, "hsm1.medium") }
	tests := []struct {
		name    string
		cluster store.Cluster
		from    store.HSM
		want    *store.HSM // nil: gone
		check   func(t *testing.T, f *fixture)
	}{
		{"CREATE_IN_PROGRESS becomes ACTIVE; the first in an UNINITIALIZED cluster gives it its key, CSR and certificates",
			clusterIn(api.ClusterStateUninitialized), scheduled(api.HsmStateCreateInProgress), &active, csrIssued},
		{"CREATE_IN_PROGRESS becomes ACTIVE; an UNINITIALIZED cluster that has a CSR keeps it",
			withCSR(clusterIn(api.ClusterStateUninitialized)), scheduled(api.HsmStateCreateInProgress), &active,
			unchanged(withCSR(clusterIn(api.ClusterStateUninitialized)))},
		{"CREATE_IN_PROGRESS becomes ACTIVE; an ACTIVE cluster is backed up",
			clusterIn(api.ClusterStateActive), scheduled(api.HsmStateCreateInProgress), &active, backedUp},
		{"CREATE_IN_PROGRESS becomes ACTIVE; a cluster still being created gets nothing yet",
			clusterIn(api.ClusterStateCreateInProgress), scheduled(api.HsmStateCreateInProgress), &active,
			unchanged(clusterIn(api.ClusterStateCreateInProgress))},
		{"DELETE_IN_PROGRESS is gone; an ACTIVE cluster is backed up",
			clusterIn(api.ClusterStateActive), scheduled(api.HsmStateDeleteInProgress), nil, backedUp},
		{"DELETE_IN_PROGRESS is gone; a cluster that is not ACTIVE is not backed up",
			clusterIn(api.ClusterStateUninitialized), scheduled(api.HsmStateDeleteInProgress), nil,
			unchanged(clusterIn(api.ClusterStateUninitialized))},
		{"ACTIVE with a stale schedule only loses the schedule",
			clusterIn(api.ClusterStateActive), scheduled(api.HsmStateActive), &active, unchanged(clusterIn(api.ClusterStateActive))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			f.insertCluster(tt.cluster)
			f.insertHSM(tt.from)
			got, ok := settleAround(t, f, due, tt.from, func() (store.HSM, bool) { return f.hsm(tt.from.ID) })
			switch {
			case tt.want == nil && ok:
				t.Errorf("HSM still stored: %+v", got)
			case tt.want != nil:
				equal(t, "HSM once due", got, *tt.want)
			}
			tt.check(t, f)
		})
	}
}

// TestHSMUpBeforeItsCluster: an HSM that becomes ACTIVE while its cluster is still being created
// gives the cluster its CSR as soon as the cluster is UNINITIALIZED.
func TestHSMUpBeforeItsCluster(t *testing.T) {
	f := newFixture(t, testConfig())
	c := clusterIn(api.ClusterStateCreateInProgress)
	c.DueAt = t0.Add(2 * time.Hour)
	h := hsmIn(api.HsmStateCreateInProgress)
	h.DueAt = t0.Add(time.Hour)
	f.insertCluster(c)
	f.insertHSM(h)
	f.settle(c.DueAt)
	got, _ := f.cluster(c.ID)
	equal(t, "cluster state", got.State, api.ClusterStateUninitialized)
	if !strings.Contains(got.Certificates.ClusterCsr, "CERTIFICATE REQUEST") {
		t.Errorf("cluster has no CSR: %+v", got.Certificates)
	}
}

func ptr[T any](v T) *T { return &v }
