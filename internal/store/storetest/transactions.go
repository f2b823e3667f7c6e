package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// fnError is the error type the Update tests return from fn, to check errors.As.
type fnError struct{ msg string }

func (e *fnError) Error() string { return e.msg }

func transactionTests() []contractTest {
	return []contractTest{
		{"Update commits the transaction if fn returns nil", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error {
				if err := tx.PutSetting("k", "v"); err != nil {
					return err
				}
				return tx.InsertBackup(newBackup("backup-commit", at(0)))
			})
			view(t, s, func(tx store.Tx) error {
				v, err := tx.Setting("k")
				noErr(t, "Setting", err)
				equal(t, "setting", v, "v")
				_, err = tx.Backup("backup-commit")
				noErr(t, "Backup", err)
				return nil
			})
		}},
		{"Update keeps nothing fn wrote if fn returns an error", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error { return tx.PutSetting("k", "before") })
			boom := errors.New("boom")
			err := s.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
				noErr(t, "InsertBackup", tx.InsertBackup(newBackup("backup-half", at(0))))
				noErr(t, "InsertCluster", tx.InsertCluster(newCluster("cluster-half", at(0))))
				noErr(t, "PutSetting", tx.PutSetting("k", "after"))
				noErr(t, "ReserveID", tx.ReserveID("backup-half"))
				// The writes are visible inside the transaction...
				_, err := tx.Backup("backup-half")
				noErr(t, "Backup inside the transaction", err)
				return boom
			})
			isErr(t, "Update", err, boom)
			// ...and none of them outside it.
			view(t, s, func(tx store.Tx) error {
				_, err := tx.Backup("backup-half")
				isErr(t, "Backup after rollback", err, store.ErrNotFound)
				_, err = tx.Cluster("cluster-half")
				isErr(t, "Cluster after rollback", err, store.ErrNotFound)
				v, err := tx.Setting("k")
				noErr(t, "Setting", err)
				equal(t, "setting after rollback", v, "before")
				return nil
			})
			update(t, s, func(tx store.Tx) error {
				noErr(t, "ReserveID of a rolled-back reservation", tx.ReserveID("backup-half"))
				return nil
			})
		}},
		{"Update returns fn's error unchanged", func(t *testing.T, s store.Store) {
			want := &fnError{msg: "custom"}
			err := s.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
				if err := tx.PutSetting("k", "v"); err != nil {
					return err
				}
				return want
			})
			if err != want { //nolint:errorlint // identity is the contract
				t.Fatalf("Update returned %v (%T), want fn's error itself", err, err)
			}
			var target *fnError
			if !errors.As(err, &target) || target != want {
				t.Fatalf("errors.As did not find fn's error in %v", err)
			}
			// A store error returned by fn comes back unchanged too, so errors.Is works.
			err = s.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
				_, err := tx.Backup("backup-missing")
				return err
			})
			isErr(t, "Update returning fn's ErrNotFound", err, store.ErrNotFound)
		}},
		{"View sees committed data", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error { return tx.InsertBackup(newBackup("backup-v", at(0))) })
			view(t, s, func(tx store.Tx) error {
				b, err := tx.Backup("backup-v")
				noErr(t, "Backup", err)
				equal(t, "backup", b, newBackup("backup-v", at(0)))
				return nil
			})
		}},
		{"View returns fn's error", func(t *testing.T, s store.Store) {
			want := &fnError{msg: "view"}
			err := s.View(t.Context(), func(tx store.Tx) error { return want })
			if !errors.Is(err, want) {
				t.Fatalf("View returned %v, want fn's error", err)
			}
		}},
		{"View sees one consistent snapshot", viewSnapshot},
		{"Writing through the Tx of a View fails", viewCannotWrite},
	}
}

// viewSnapshot changes a backup in a concurrent Update while a View that has already read it
// is open, and checks that the View reads the old value again. The "memory" backend's View and
// Update share its one connection, so there the Update must wait for the View instead (checked:
// it has not run when the View reads again); every other backend must run it meanwhile.
func viewSnapshot(t *testing.T, s store.Store) {
	b := newBackup("backup-snap", at(0))
	update(t, s, func(tx store.Tx) error { return tx.InsertBackup(b) })
	serial := s.Kind() == "memory"
	updated := make(chan error, 1)
	err := s.View(t.Context(), func(tx store.Tx) error {
		first, err := tx.Backup(b.ID)
		noErr(t, "Backup", err)
		go func() {
			updated <- s.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
				c := first
				c.State = "DELETED"
				_, err := tx.UpdateBackup(c)
				return err
			})
		}()
		if serial {
			select {
			case err := <-updated:
				t.Errorf("the Update ran while a View held the one connection (%v)", err)
				updated <- err
			case <-time.After(200 * time.Millisecond):
			}
		} else {
			select {
			case err := <-updated:
				noErr(t, "concurrent Update", err)
				updated <- nil
			case <-time.After(30 * time.Second):
				t.Fatal("a concurrent Update did not finish within 30 s while a View was open")
			}
		}
		again, err := tx.Backup(b.ID)
		noErr(t, "Backup again", err)
		equal(t, "second read in the same View", again, first)
		return nil
	})
	noErr(t, "View", err)
	noErr(t, "concurrent Update", <-updated)
	view(t, s, func(tx store.Tx) error {
		got, err := tx.Backup(b.ID)
		noErr(t, "Backup", err)
		equal(t, "state after the Update", got.State, "DELETED")
		return nil
	})
}

// viewCannotWrite tries every write method of Tx inside a View, each on data where it would
// succeed in an Update, and checks each fails and changes nothing.
func viewCannotWrite(t *testing.T, s store.Store) {
	backup := newBackup("backup-ro", at(0))
	backup.DueAt = at(10)
	cluster := newCluster("cluster-ro", at(0))
	hsm := newHSM("hsm-ro", cluster.ID, at(0))
	subnet := store.Subnet{Account: acctA, Region: region1, ID: "subnet-ro", VpcID: "vpc-1", AvailabilityZone: "us-east-1a"}
	policy := store.Policy{BackupID: backup.ID, Document: "{}", Grants: []store.Grant{{Account: acctB, Describe: true}}}
	update(t, s, func(tx store.Tx) error {
		noErr(t, "PutSetting", tx.PutSetting("name", "value"))
		noErr(t, "ReserveID", tx.ReserveID("backup-ro"))
		noErr(t, "InsertBackup", tx.InsertBackup(backup))
		noErr(t, "InsertCluster", tx.InsertCluster(cluster))
		noErr(t, "InsertHSM", tx.InsertHSM(hsm))
		noErr(t, "InsertSubnet", tx.InsertSubnet(subnet))
		noErr(t, "PutTags", tx.PutTags(backup.ID, []store.Tag{{Key: "k", Value: "v"}}))
		noErr(t, "PutPolicy", tx.PutPolicy(policy))
		return nil
	})
	before := snapshot(t, s, backup.ID, cluster.ID, hsm.ID, subnet)

	changed := backup
	changed.State = "DELETED"
	changedCluster := cluster
	changedCluster.State = "DELETED"
	changedHSM := hsm
	changedHSM.State = "DELETED"
	writes := []struct {
		name string
		fn   func(tx store.Tx) error
	}{
		{"PutSetting", func(tx store.Tx) error { return tx.PutSetting("name", "changed") }},
		{"InitSetting", func(tx store.Tx) error { _, err := tx.InitSetting("other", "x"); return err }},
		{"ReserveID", func(tx store.Tx) error { return tx.ReserveID("backup-new") }},
		{"InsertBackup", func(tx store.Tx) error { return tx.InsertBackup(newBackup("backup-new", at(1))) }},
		{"UpdateBackup", func(tx store.Tx) error { _, err := tx.UpdateBackup(changed); return err }},
		{"DeleteBackup", func(tx store.Tx) error { return tx.DeleteBackup(backup.ID) }},
		{"InsertCluster", func(tx store.Tx) error { return tx.InsertCluster(newCluster("cluster-new", at(1))) }},
		{"UpdateCluster", func(tx store.Tx) error { _, err := tx.UpdateCluster(changedCluster); return err }},
		{"DeleteCluster", func(tx store.Tx) error { return tx.DeleteCluster(cluster.ID) }},
		{"InsertHSM", func(tx store.Tx) error { return tx.InsertHSM(newHSM("hsm-new", cluster.ID, at(1))) }},
		{"UpdateHSM", func(tx store.Tx) error { return tx.UpdateHSM(changedHSM) }},
		{"DeleteHSM", func(tx store.Tx) error { return tx.DeleteHSM(hsm.ID) }},
		{"InsertSubnet", func(tx store.Tx) error {
			return tx.InsertSubnet(store.Subnet{Account: acctA, Region: region1, ID: "subnet-new", VpcID: "vpc-1"})
		}},
		{"PutTags", func(tx store.Tx) error { return tx.PutTags(backup.ID, []store.Tag{{Key: "k", Value: "changed"}}) }},
		{"DeleteTags", func(tx store.Tx) error { return tx.DeleteTags(backup.ID, []string{"k"}) }},
		{"PutPolicy", func(tx store.Tx) error { return tx.PutPolicy(store.Policy{BackupID: backup.ID, Document: "[]"}) }},
		{"DeletePolicy", func(tx store.Tx) error { return tx.DeletePolicy(backup.ID) }},
		{"PutClusterIdentity", func(tx store.Tx) error { return tx.PutClusterIdentity(cluster.ID, store.Certificates{ClusterKey: "k"}) }},
		{"Reset", func(tx store.Tx) error { return tx.Reset() }},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			err := s.View(t.Context(), w.fn)
			if err == nil {
				t.Fatalf("%s through a View succeeded", w.name)
			}
			equal(t, "state after the failed write", snapshot(t, s, backup.ID, cluster.ID, hsm.ID, subnet), before)
		})
	}
	// The store still writes through Update afterwards.
	update(t, s, func(tx store.Tx) error { return tx.PutSetting("name", "later") })
}

// state is everything viewCannotWrite seeded, as read back.
type state struct {
	Setting string
	Backup  store.Backup
	Cluster store.Cluster
	HSM     store.HSM
	Subnet  store.Subnet
	Count   int
	Tags    map[string][]store.Tag
	Policy  store.Policy
	Event   store.Event
}

// snapshot reads the seeded state in a View. The reserved-ID check runs in an Update that is
// rolled back, so it changes nothing.
func snapshot(t *testing.T, s store.Store, backupID, clusterID, hsmID string, subnet store.Subnet) state {
	t.Helper()
	var st state
	view(t, s, func(tx store.Tx) error {
		var err error
		st.Setting, err = tx.Setting("name")
		noErr(t, "Setting", err)
		_, err = tx.Setting("other")
		isErr(t, "Setting other", err, store.ErrNotFound)
		st.Backup, err = tx.Backup(backupID)
		noErr(t, "Backup", err)
		_, err = tx.Backup("backup-new")
		isErr(t, "Backup backup-new", err, store.ErrNotFound)
		st.Cluster, err = tx.Cluster(clusterID)
		noErr(t, "Cluster", err)
		_, err = tx.Cluster("cluster-new")
		isErr(t, "Cluster cluster-new", err, store.ErrNotFound)
		st.HSM, err = tx.HSM(hsmID)
		noErr(t, "HSM", err)
		_, err = tx.HSM("hsm-new")
		isErr(t, "HSM hsm-new", err, store.ErrNotFound)
		st.Subnet, err = tx.Subnet(subnet.Account, subnet.Region, subnet.ID)
		noErr(t, "Subnet", err)
		st.Count, err = tx.CountSubnets(subnet.Account, subnet.Region)
		noErr(t, "CountSubnets", err)
		st.Tags, err = tx.Tags(backupID)
		noErr(t, "Tags", err)
		st.Policy, err = tx.Policy(backupID)
		noErr(t, "Policy", err)
		var ok bool
		st.Event, ok, err = tx.NextEvent(store.Everything())
		noErr(t, "NextEvent", err)
		if !ok {
			t.Fatal("NextEvent: nothing scheduled")
		}
		return nil
	})
	errProbe := errors.New("probe")
	err := s.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
		if err := tx.ReserveID("backup-new"); err != nil {
			return err
		}
		return errProbe
	})
	if !errors.Is(err, errProbe) {
		t.Fatalf("ReserveID backup-new: %v (it was reserved)", err)
	}
	return st
}
