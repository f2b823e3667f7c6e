package lifecycle_test

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

// backupID is the shape of the IDs the engine gives new backups.
var backupID = regexp.MustCompile(`^backup-[a-z2-7]{11}$`)

// t0 is the wall time of every test's clock, and so the virtual time until a test moves it.
var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// Each transition has a delay of its own, so that a row shows which one it used.
const (
	backupCreateDelay      = 2 * time.Minute
	clusterCreateDelay     = 3 * time.Minute
	clusterInitializeDelay = 4 * time.Minute
	clusterModifyDelay     = 5 * time.Minute
	clusterDeleteDelay     = 6 * time.Minute
	hsmCreateDelay         = 7 * time.Minute
	defaultDelay           = 9 * time.Minute // hsm-delete has no delay of its own
	pendingDeletion        = 7 * 24 * time.Hour
	tombstone              = 3 * 24 * time.Hour
	backupInterval         = 24 * time.Hour
	rollbackWindow         = 2 * 24 * time.Hour
)

func testConfig() lifecycle.Config {
	return lifecycle.Config{
		DefaultDelay: defaultDelay,
		Delays: map[lifecycle.Transition]time.Duration{
			lifecycle.BackupCreate:      backupCreateDelay,
			lifecycle.ClusterCreate:     clusterCreateDelay,
			lifecycle.ClusterInitialize: clusterInitializeDelay,
			lifecycle.ClusterModify:     clusterModifyDelay,
			lifecycle.ClusterDelete:     clusterDeleteDelay,
			lifecycle.HSMCreate:         hsmCreateDelay,
		},
		PendingDeletion:       pendingDeletion,
		Tombstone:             tombstone,
		BackupInterval:        backupInterval,
		HsmTypeRollbackWindow: rollbackWindow,
	}
}

// fixture is an engine on a fresh memory store, its wall clock at t0.
type fixture struct {
	t    *testing.T
	st   store.Store
	wall *clock.Manual
	e    *lifecycle.Engine
}

func newFixture(t *testing.T, cfg lifecycle.Config) *fixture {
	t.Helper()
	st, err := sqlstore.Open(t.Context(), "memory")
	if err != nil {
		t.Fatalf("open memory store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	wall := clock.NewManual(t0)
	return &fixture{t: t, st: st, wall: wall, e: lifecycle.New(cfg, wall, rand.NewChaCha8([32]byte{}))}
}

// update runs fn in a read-write transaction and fails the test on an error.
func (f *fixture) update(fn func(tx store.Tx) error) {
	f.t.Helper()
	if err := f.st.Update(f.t.Context(), store.Everything(), fn); err != nil {
		f.t.Fatalf("Update: %v", err)
	}
}

// settle applies everything due at instant at.
func (f *fixture) settle(at time.Time) {
	f.t.Helper()
	f.update(func(tx store.Tx) error { return f.e.Settle(tx, at, store.Everything()) })
}

func (f *fixture) insertCluster(c store.Cluster) {
	f.t.Helper()
	f.update(func(tx store.Tx) error { return tx.InsertCluster(c) })
}

func (f *fixture) insertHSM(h store.HSM) {
	f.t.Helper()
	f.update(func(tx store.Tx) error { return tx.InsertHSM(h) })
}

func (f *fixture) insertBackup(b store.Backup) {
	f.t.Helper()
	f.update(func(tx store.Tx) error { return tx.InsertBackup(b) })
}

// lookup reads one record with get, with ok false if get finds none.
func lookup[T any](f *fixture, get func(tx store.Tx) (T, error)) (v T, ok bool) {
	f.t.Helper()
	f.update(func(tx store.Tx) error {
		var err error
		v, err = get(tx)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		ok = true
		return err
	})
	return v, ok
}

// cluster returns a stored cluster, with ok false if there is none.
func (f *fixture) cluster(id string) (store.Cluster, bool) {
	return lookup(f, func(tx store.Tx) (store.Cluster, error) { return tx.Cluster(id) })
}

// hsm returns a stored HSM, with ok false if there is none.
func (f *fixture) hsm(id string) (store.HSM, bool) {
	return lookup(f, func(tx store.Tx) (store.HSM, error) { return tx.HSM(id) })
}

// backup returns a stored backup, with ok false if there is none.
func (f *fixture) backup(id string) (store.Backup, bool) {
	return lookup(f, func(tx store.Tx) (store.Backup, error) { return tx.Backup(id) })
}

// identity returns the identity recorded for cluster id, with ok false if there is none.
func (f *fixture) identity(id string) (store.Certificates, bool) {
	return lookup(f, func(tx store.Tx) (store.Certificates, error) { return tx.ClusterIdentity(id) })
}

// settleAround settles a millisecond before due and checks that get still reads from, then
// settles at due and returns what get reads then.
func settleAround[T any](t *testing.T, f *fixture, due time.Time, from T, get func() (T, bool)) (T, bool) {
	t.Helper()
	f.settle(due.Add(-time.Millisecond))
	before, _ := get()
	equal(t, "a millisecond before it is due", before, from)
	f.settle(due)
	return get()
}

// backupsOf returns the backups of cluster c, oldest first.
func (f *fixture) backupsOf(c store.Cluster) []store.Backup {
	f.t.Helper()
	var bs []store.Backup
	f.update(func(tx store.Tx) error {
		var err error
		bs, err = tx.Backups(store.BackupQuery{Account: c.Account, Region: c.Region, ClusterIDs: []string{c.ID}, Ascending: true})
		return err
	})
	return bs
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// Fixtures: a cluster, an HSM and a backup, each in the state a test gives it.

func clusterIn(state string) store.Cluster {
	return store.Cluster{
		ID: "cluster-aaaaaaaaaaa", Account: "111122223333", Region: "us-east-1", State: state,
		HsmType: "hsm1.medium", Mode: "FIPS", NetworkType: "IPV4", RetentionDays: 90,
		VpcID: "vpc-1", SecurityGroup: "sg-1", SubnetMapping: map[string]string{"us-east-1a": "subnet-1"},
		CreatedAt: t0.Add(-time.Hour), Version: 1,
	}
}

func hsmIn(state string) store.HSM {
	return store.HSM{
		ID: "hsm-aaaaaaaaaaa", ClusterID: "cluster-aaaaaaaaaaa", AvailabilityZone: "us-east-1a",
		SubnetID: "subnet-1", EniID: "eni-1", EniIP: "10.0.0.4", HsmType: "hsm1.medium", State: state,
		CreatedAt: t0.Add(-time.Hour),
	}
}

func backupIn(state string) store.Backup {
	return store.Backup{
		ID: "backup-aaaaaaaaaaa", Account: "111122223333", Region: "us-east-1", ClusterID: "cluster-aaaaaaaaaaa",
		State: state, HsmType: "hsm1.medium", Mode: "FIPS", CreatedAt: t0.Add(-time.Hour), Version: 1,
	}
}

// TestTransitionsOfChangedRecordsFail: a transition of a record that changed since it was read
// (a cluster or backup of another Version), or that is gone, fails with the store's error and
// changes nothing; a resource created under an ID in use fails with ErrConflict.
func TestTransitionsOfChangedRecordsFail(t *testing.T) {
	now := t0.Add(time.Minute)
	stale := clusterIn(api.ClusterStateActive)
	stale.Version = 7
	staleBackup := backupIn(api.BackupStateReady)
	staleBackup.Version = 7
	gone := hsmIn(api.HsmStateActive)
	gone.ID = "hsm-ggggggggggg"
	tests := []struct {
		name string
		call func(e *lifecycle.Engine, tx store.Tx) error
		want error
	}{
		{"CreateCluster", func(e *lifecycle.Engine, tx store.Tx) error {
			_, err := e.CreateCluster(tx, clusterIn(""), now)
			return err
		}, store.ErrConflict},
		{"InitializeCluster", func(e *lifecycle.Engine, tx store.Tx) error {
			_, err := e.InitializeCluster(tx, stale, "signed", now)
			return err
		}, store.ErrConflict},
		{"Activate", func(e *lifecycle.Engine, tx store.Tx) error {
			c := stale
			c.State = api.ClusterStateInitialized
			_, err := e.Activate(tx, c, now)
			return err
		}, store.ErrConflict},
		{"ChangeHsmType", func(e *lifecycle.Engine, tx store.Tx) error {
			_, err := e.ChangeHsmType(tx, stale, "hsm2m.medium", now)
			return err
		}, store.ErrConflict},
		{"SetRetention", func(e *lifecycle.Engine, tx store.Tx) error {
			_, err := e.SetRetention(tx, stale, 30, now)
			return err
		}, store.ErrConflict},
		{"BeginDeleteCluster", func(e *lifecycle.Engine, tx store.Tx) error {
			_, err := e.BeginDeleteCluster(tx, stale, now)
			return err
		}, store.ErrConflict},
		{"CreateHSM", func(e *lifecycle.Engine, tx store.Tx) error {
			_, err := e.CreateHSM(tx, hsmIn(""), now)
			return err
		}, store.ErrConflict},
		{"BeginDeleteHSM", func(e *lifecycle.Engine, tx store.Tx) error {
			_, err := e.BeginDeleteHSM(tx, gone, now)
			return err
		}, store.ErrNotFound},
		{"MarkPendingDeletion", func(e *lifecycle.Engine, tx store.Tx) error {
			_, err := e.MarkPendingDeletion(tx, staleBackup, now)
			return err
		}, store.ErrConflict},
		{"RestoreBackup", func(e *lifecycle.Engine, tx store.Tx) error {
			_, err := e.RestoreBackup(tx, staleBackup)
			return err
		}, store.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			f.insertCluster(clusterIn(api.ClusterStateActive))
			f.insertHSM(hsmIn(api.HsmStateActive))
			f.insertBackup(backupIn(api.BackupStateReady))
			err := f.st.Update(t.Context(), store.Everything(), func(tx store.Tx) error { return tt.call(f.e, tx) })
			if !errors.Is(err, tt.want) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			c, _ := f.cluster(clusterIn("").ID)
			equal(t, "cluster", c, clusterIn(api.ClusterStateActive))
			h, _ := f.hsm(hsmIn("").ID)
			equal(t, "HSM", h, hsmIn(api.HsmStateActive))
			b, _ := f.backup(backupIn("").ID)
			equal(t, "backup", b, backupIn(api.BackupStateReady))
		})
	}
}
