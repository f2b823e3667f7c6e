package lifecycle_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// withCSR returns c with a key and CSR, as an UNINITIALIZED cluster has once its HSM is up.
func withCSR(c store.Cluster) store.Cluster {
	c.Certificates = store.Certificates{ClusterKey: "key", ClusterCsr: "csr", HsmCertificate: "hsm"}
	return c
}

// backupTaken checks that cluster c has exactly one backup, taken at instant at, of HSM type
// hsmType.
func backupTaken(t *testing.T, f *fixture, c store.Cluster, at time.Time, hsmType string) {
	t.Helper()
	bs := f.backupsOf(c)
	if len(bs) != 1 {
		t.Fatalf("cluster has %d backups, want 1", len(bs))
	}
	equal(t, "backup's creation time", bs[0].CreatedAt, at)
	equal(t, "backup's HSM type", bs[0].HsmType, hsmType)
}

// noBackup checks that cluster c has no backup.
func noBackup(t *testing.T, f *fixture, c store.Cluster) {
	t.Helper()
	if bs := f.backupsOf(c); len(bs) != 0 {
		t.Errorf("cluster has %d backups, want none", len(bs))
	}
}

// TestClusterCalls: the transitions a call makes on a cluster, with what comes with them.
func TestClusterCalls(t *testing.T) {
	now := t0.Add(time.Minute)
	initialized := withCSR(clusterIn(api.ClusterStateInitialized))
	tests := []struct {
		name  string
		from  store.Cluster
		hsms  []store.HSM
		call  func(e *lifecycle.Engine, tx store.Tx, c store.Cluster) (store.Cluster, error)
		want  func(c store.Cluster) store.Cluster // from the cluster as it was
		check func(t *testing.T, f *fixture)      // what else the call did
	}{
		{"InitializeCluster: UNINITIALIZED → INITIALIZE_IN_PROGRESS with the signed certificate, until the cluster-initialize delay has passed",
			withCSR(clusterIn(api.ClusterStateUninitialized)), nil,
			func(e *lifecycle.Engine, tx store.Tx, c store.Cluster) (store.Cluster, error) {
				return e.InitializeCluster(tx, c, "signed", now)
			},
			func(c store.Cluster) store.Cluster {
				c.State = api.ClusterStateInitializeInProgress
				c.StateMessage = "Cluster is initializing. State will change to INITIALIZED upon completion."
				c.Certificates.ClusterCertificate = "signed"
				c.DueAt = now.Add(clusterInitializeDelay)
				return c
			}, nil},
		{"Activate: INITIALIZED → ACTIVE, daily backups from now, identity recorded, a backup taken",
			initialized, nil,
			func(e *lifecycle.Engine, tx store.Tx, c store.Cluster) (store.Cluster, error) {
				return e.Activate(tx, c, now)
			},
			func(c store.Cluster) store.Cluster {
				c.State, c.NextBackupAt = api.ClusterStateActive, now.Add(backupInterval)
				return c
			},
			func(t *testing.T, f *fixture) {
				certs, _ := f.identity(initialized.ID)
				equal(t, "recorded identity", certs, initialized.Certificates)
				backupTaken(t, f, initialized, now, initialized.HsmType)
			}},
		{"ChangeHsmType: ACTIVE → MODIFY_IN_PROGRESS on the new type, after a backup on the old one, open to rollback",
			clusterIn(api.ClusterStateActive), []store.HSM{hsmIn(api.HsmStateActive)},
			func(e *lifecycle.Engine, tx store.Tx, c store.Cluster) (store.Cluster, error) {
				return e.ChangeHsmType(tx, c, "hsm2m.medium", now)
			},
			func(c store.Cluster) store.Cluster {
				c.State, c.HsmType = api.ClusterStateModifyInProgress, "hsm2m.medium"
				c.HsmTypeRollbackAt, c.DueAt = now.Add(rollbackWindow), now.Add(clusterModifyDelay)
				return c
			},
			func(t *testing.T, f *fixture) {
				backupTaken(t, f, clusterIn(""), now, "hsm1.medium")
				h, _ := f.hsm(hsmIn("").ID)
				equal(t, "the HSM's type", h.HsmType, "hsm2m.medium")
			}},
		{"SetRetention: the new policy is kept",
			clusterIn(api.ClusterStateActive), nil,
			func(e *lifecycle.Engine, tx store.Tx, c store.Cluster) (store.Cluster, error) {
				return e.SetRetention(tx, c, 30, now)
			},
			func(c store.Cluster) store.Cluster {
				c.RetentionDays = 30
				return c
			}, nil},
		{"BeginDeleteCluster: → DELETE_IN_PROGRESS until the cluster-delete delay has passed",
			clusterIn(api.ClusterStateUninitialized), nil,
			func(e *lifecycle.Engine, tx store.Tx, c store.Cluster) (store.Cluster, error) {
				return e.BeginDeleteCluster(tx, c, now)
			},
			func(c store.Cluster) store.Cluster {
				c.State, c.StateMessage, c.DueAt = api.ClusterStateDeleteInProgress, "The cluster is being deleted.", now.Add(clusterDeleteDelay)
				return c
			}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			f.insertCluster(tt.from)
			for _, h := range tt.hsms {
				f.insertHSM(h)
			}
			var got store.Cluster
			f.update(func(tx store.Tx) error {
				var err error
				got, err = tt.call(f.e, tx, tt.from)
				return err
			})
			want := tt.want(tt.from)
			want.Version = tt.from.Version + 1
			equal(t, "returned cluster", got, want)
			stored, _ := f.cluster(tt.from.ID)
			equal(t, "stored cluster", stored, want)
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

// TestCreateCluster: a new cluster is CREATE_IN_PROGRESS from now until the cluster-create
// delay has passed.
func TestCreateCluster(t *testing.T) {
	f := newFixture(t, testConfig())
	now := t0.Add(time.Minute)
	c := clusterIn("")
	c.CreatedAt, c.Version = time.Time{}, 0
	var got store.Cluster
	f.update(func(tx store.Tx) error {
		var err error
		got, err = f.e.CreateCluster(tx, c, now)
		return err
	})
	want := c
	want.State, want.CreatedAt, want.DueAt, want.Version = api.ClusterStateCreateInProgress, now, now.Add(clusterCreateDelay), 1
	equal(t, "returned cluster", got, want)
	stored, _ := f.cluster(c.ID)
	equal(t, "stored cluster", stored, want)
}

// TestActivateRefusesOtherStates: only an INITIALIZED cluster can be activated; any other is
// refused with ErrWrongState and left as it was.
func TestActivateRefusesOtherStates(t *testing.T) {
	for _, state := range []string{
		api.ClusterStateCreateInProgress, api.ClusterStateUninitialized, api.ClusterStateInitializeInProgress,
		api.ClusterStateActive, api.ClusterStateModifyInProgress, api.ClusterStateDeleteInProgress, api.ClusterStateDeleted,
	} {
		t.Run(state, func(t *testing.T) {
			f := newFixture(t, testConfig())
			c := clusterIn(state)
			f.insertCluster(c)
			err := f.st.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
				_, err := f.e.Activate(tx, c, t0)
				return err
			})
			if !errors.Is(err, lifecycle.ErrWrongState) {
				t.Fatalf("Activate: got error %v, want ErrWrongState", err)
			}
			stored, _ := f.cluster(c.ID)
			equal(t, "cluster", stored, c)
			noBackup(t, f, c)
		})
	}
}

// TestClusterSteps: what Settle does to a cluster when its time comes, and not a millisecond
// before.
func TestClusterSteps(t *testing.T) {
	due := t0.Add(time.Hour)
	scheduled := func(c store.Cluster, message string) store.Cluster {
		c.StateMessage, c.DueAt = message, due
		return c
	}
	fromBackup := clusterIn(api.ClusterStateCreateInProgress)
	fromBackup.SourceBackupID = "backup-sssssssssss"
	fromBackup = withCSR(fromBackup)
	modifying := clusterIn(api.ClusterStateModifyInProgress)
	modifying.NextBackupAt = due.Add(-30 * time.Hour) // passed while the cluster was not ACTIVE
	upcoming := clusterIn(api.ClusterStateModifyInProgress)
	upcoming.NextBackupAt = due.Add(time.Hour)
	deleting := clusterIn(api.ClusterStateDeleteInProgress)
	deleting.NextBackupAt = due.Add(time.Hour)
	autoActivate := testConfig()
	autoActivate.AutoActivate = true
	tests := []struct {
		name  string
		cfg   lifecycle.Config
		from  store.Cluster
		want  func(done store.Cluster) store.Cluster // from the cluster without message or schedule; nil: purged
		check func(t *testing.T, f *fixture)
	}{
		{"CREATE_IN_PROGRESS becomes UNINITIALIZED", testConfig(),
			scheduled(clusterIn(api.ClusterStateCreateInProgress), ""),
			func(c store.Cluster) store.Cluster {
				c.State = api.ClusterStateUninitialized
				return c
			},
			func(t *testing.T, f *fixture) { noBackup(t, f, clusterIn("")) }},
		{"CREATE_IN_PROGRESS from a backup becomes ACTIVE, daily backups from then, identity recorded, no backup", testConfig(),
			scheduled(fromBackup, ""),
			func(c store.Cluster) store.Cluster {
				c.State, c.NextBackupAt = api.ClusterStateActive, due.Add(backupInterval)
				return c
			},
			func(t *testing.T, f *fixture) {
				certs, _ := f.identity(fromBackup.ID)
				equal(t, "recorded identity", certs, fromBackup.Certificates)
				noBackup(t, f, fromBackup)
			}},
		{"INITIALIZE_IN_PROGRESS becomes INITIALIZED", testConfig(),
			scheduled(clusterIn(api.ClusterStateInitializeInProgress), "Cluster is initializing."),
			func(c store.Cluster) store.Cluster {
				c.State = api.ClusterStateInitialized
				return c
			},
			func(t *testing.T, f *fixture) { noBackup(t, f, clusterIn("")) }},
		{"INITIALIZE_IN_PROGRESS with AutoActivate becomes ACTIVE at once, with a backup", autoActivate,
			scheduled(clusterIn(api.ClusterStateInitializeInProgress), "Cluster is initializing."),
			func(c store.Cluster) store.Cluster {
				c.State, c.NextBackupAt = api.ClusterStateActive, due.Add(backupInterval)
				return c
			},
			func(t *testing.T, f *fixture) { backupTaken(t, f, clusterIn(""), due, "hsm1.medium") }},
		{"MODIFY_IN_PROGRESS becomes ACTIVE, skipping the daily backups missed meanwhile", testConfig(),
			scheduled(modifying, ""),
			func(c store.Cluster) store.Cluster {
				c.State, c.NextBackupAt = api.ClusterStateActive, due.Add(18*time.Hour)
				return c
			},
			func(t *testing.T, f *fixture) { noBackup(t, f, clusterIn("")) }},
		{"MODIFY_IN_PROGRESS becomes ACTIVE, keeping a daily backup still to come", testConfig(),
			scheduled(upcoming, ""),
			func(c store.Cluster) store.Cluster {
				c.State = api.ClusterStateActive
				return c
			}, nil},
		{"DELETE_IN_PROGRESS becomes DELETED, without daily backups, listed for the tombstone period", testConfig(),
			scheduled(deleting, "The cluster is being deleted."),
			func(c store.Cluster) store.Cluster {
				c.State, c.NextBackupAt, c.DueAt = api.ClusterStateDeleted, time.Time{}, due.Add(tombstone)
				return c
			}, nil},
		{"DELETED is purged at the end of the tombstone period", testConfig(),
			scheduled(clusterIn(api.ClusterStateDeleted), ""),
			nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg)
			f.insertCluster(tt.from)
			got, ok := settleAround(t, f, due, tt.from, func() (store.Cluster, bool) { return f.cluster(tt.from.ID) })
			if tt.want == nil {
				if ok {
					t.Fatalf("cluster still stored: %+v", got)
				}
				return
			}
			done := tt.from // the state's message and schedule end with it
			done.StateMessage, done.DueAt, done.Version = "", time.Time{}, tt.from.Version+1
			equal(t, "cluster once due", got, tt.want(done))
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

// TestDailyBackups: an ACTIVE cluster is backed up every BackupInterval, counted from its
// activation, each backup stamped with its own instant however far the clock jumps.
func TestDailyBackups(t *testing.T) {
	f := newFixture(t, testConfig())
	c := clusterIn(api.ClusterStateActive)
	c.NextBackupAt = t0.Add(time.Hour)
	f.insertCluster(c)
	f.settle(t0.Add(time.Hour + 2*backupInterval + backupCreateDelay)) // three instants: +1h, +1d1h, +2d1h
	bs := f.backupsOf(c)
	if len(bs) != 3 {
		t.Fatalf("cluster has %d backups, want 3", len(bs))
	}
	for i, b := range bs {
		equal(t, "creation time", b.CreatedAt, t0.Add(time.Hour+time.Duration(i)*backupInterval))
		equal(t, "state", b.State, api.BackupStateReady)
	}
	got, _ := f.cluster(c.ID)
	equal(t, "next daily backup", got.NextBackupAt, t0.Add(time.Hour+3*backupInterval))
}
