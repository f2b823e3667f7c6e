package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

func eventTests() []contractTest {
	return []contractTest{
		{"NextEvent returns ok false when nothing is scheduled", func(t *testing.T, s store.Store) {
			expectEvents(t, s, nil)
			update(t, s, func(tx store.Tx) error {
				noErr(t, "InsertBackup", tx.InsertBackup(newBackup("backup-1", at(0))))
				noErr(t, "InsertHSM", tx.InsertHSM(newHSM("hsm-1", "cluster-1", at(0))))
				noErr(t, "InsertCluster", tx.InsertCluster(newCluster("cluster-1", at(0))))
				// A daily backup is only due while the cluster is ACTIVE.
				c := newCluster("cluster-2", at(0))
				c.State, c.NextBackupAt = "UPDATE_IN_PROGRESS", at(1)
				return tx.InsertCluster(c)
			})
			expectEvents(t, s, nil)
		}},
		{"NextEvent orders events by At across kinds", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error {
				b := newBackup("backup-1", at(0))
				b.DueAt = at(50)
				noErr(t, "InsertBackup", tx.InsertBackup(b))
				h := newHSM("hsm-1", "cluster-1", at(0))
				h.DueAt = at(30)
				noErr(t, "InsertHSM", tx.InsertHSM(h))
				c := newCluster("cluster-1", at(0))
				c.State, c.DueAt, c.NextBackupAt = "CREATE_IN_PROGRESS", at(40), at(5) // not ACTIVE: no daily backup
				noErr(t, "InsertCluster", tx.InsertCluster(c))
				d := newCluster("cluster-2", at(0))
				d.NextBackupAt = at(20)
				noErr(t, "InsertCluster", tx.InsertCluster(d))
				e := newCluster("cluster-3", at(0))
				e.DueAt, e.NextBackupAt = at(60), at(10) // ACTIVE with both
				return tx.InsertCluster(e)
			})
			expectEvents(t, s, []store.Event{
				{Kind: store.EventDailyBackup, ID: "cluster-3", At: at(10)},
				{Kind: store.EventDailyBackup, ID: "cluster-2", At: at(20)},
				{Kind: store.EventHSM, ID: "hsm-1", At: at(30)},
				{Kind: store.EventCluster, ID: "cluster-1", At: at(40)},
				{Kind: store.EventBackup, ID: "backup-1", At: at(50)},
				{Kind: store.EventCluster, ID: "cluster-3", At: at(60)},
			})
		}},
		{"NextEvent breaks ties by Kind, then ID", func(t *testing.T, s store.Store) {
			tie := at(7)
			update(t, s, func(tx store.Tx) error {
				for _, id := range []string{"cluster-b", "cluster-a"} {
					c := newCluster(id, at(0))
					c.DueAt, c.NextBackupAt = tie, tie
					noErr(t, "InsertCluster", tx.InsertCluster(c))
				}
				for _, id := range []string{"hsm-b", "hsm-a"} {
					h := newHSM(id, "cluster-a", at(0))
					h.DueAt = tie
					noErr(t, "InsertHSM", tx.InsertHSM(h))
				}
				for _, id := range []string{"backup-b", "backup-a"} {
					b := newBackup(id, at(0))
					b.DueAt = tie
					noErr(t, "InsertBackup", tx.InsertBackup(b))
				}
				later := newBackup("backup-0", at(0))
				later.DueAt = tie.Add(time.Millisecond)
				return tx.InsertBackup(later)
			})
			expectEvents(t, s, []store.Event{
				{Kind: store.EventBackup, ID: "backup-a", At: tie},
				{Kind: store.EventBackup, ID: "backup-b", At: tie},
				{Kind: store.EventHSM, ID: "hsm-a", At: tie},
				{Kind: store.EventHSM, ID: "hsm-b", At: tie},
				{Kind: store.EventCluster, ID: "cluster-a", At: tie},
				{Kind: store.EventCluster, ID: "cluster-b", At: tie},
				{Kind: store.EventDailyBackup, ID: "cluster-a", At: tie},
				{Kind: store.EventDailyBackup, ID: "cluster-b", At: tie},
				{Kind: store.EventBackup, ID: "backup-0", At: tie.Add(time.Millisecond)},
			})
		}},
		{"NextEvent and Agenda of a scope see only its tenants' events; an HSM is its cluster's", func(t *testing.T, s store.Store) {
			a := store.Tenant{Account: acctA, Region: region1}
			b := store.Tenant{Account: acctB, Region: region1}
			aElsewhere := store.Tenant{Account: acctA, Region: region2}
			update(t, s, func(tx store.Tx) error {
				noErr(t, "PutSetting", tx.PutSetting("clock", "7"))
				// Tenant A: a backup due at 30 and an HSM of its cluster due at 20.
				ba := newBackup("backup-a", at(0))
				ba.DueAt = at(30)
				noErr(t, "InsertBackup", tx.InsertBackup(ba))
				ca := newCluster("cluster-a", at(0))
				ca.NextBackupAt = time.Time{}
				noErr(t, "InsertCluster", tx.InsertCluster(ca))
				h := newHSM("hsm-a", "cluster-a", at(0))
				h.DueAt = at(20)
				noErr(t, "InsertHSM", tx.InsertHSM(h))
				// Tenant B: a daily backup due at 10 and a cluster event at 15.
				cb := newCluster("cluster-b", at(0))
				cb.Account, cb.NextBackupAt = acctB, at(10)
				noErr(t, "InsertCluster", tx.InsertCluster(cb))
				cb2 := newCluster("cluster-b2", at(0))
				cb2.Account, cb2.State, cb2.DueAt = acctB, "CREATE_IN_PROGRESS", at(15)
				noErr(t, "InsertCluster", tx.InsertCluster(cb2))
				// Account A in the other region: a backup due at 5.
				bx := newBackup("backup-x", at(0))
				bx.Region, bx.DueAt = region2, at(5)
				return tx.InsertBackup(bx)
			})
			for _, tc := range []struct {
				name string
				in   store.Scope
				want *store.Event
			}{
				{"everything", store.Everything(), &store.Event{Kind: store.EventBackup, ID: "backup-x", At: at(5)}},
				{"tenant A", store.Tenants(a), &store.Event{Kind: store.EventHSM, ID: "hsm-a", At: at(20)}},
				{"tenant B", store.Tenants(b), &store.Event{Kind: store.EventDailyBackup, ID: "cluster-b", At: at(10)}},
				{"account A elsewhere", store.Tenants(aElsewhere), &store.Event{Kind: store.EventBackup, ID: "backup-x", At: at(5)}},
				{"tenants A and B", store.Tenants(a, b), &store.Event{Kind: store.EventDailyBackup, ID: "cluster-b", At: at(10)}},
				{"a tenant with nothing", store.Tenants(store.Tenant{Account: acctB, Region: region2}), nil},
				{"no tenant", store.Tenants(), nil},
			} {
				view(t, s, func(tx store.Tx) error {
					ev, ok, err := tx.NextEvent(tc.in)
					noErr(t, "NextEvent", err)
					set, aev, aok, err := tx.Agenda(tc.in, "clock", "unset")
					noErr(t, "Agenda", err)
					if len(set) != 1 || set["clock"] != "7" {
						t.Errorf("%s: Agenda's settings %v, want only clock=7", tc.name, set)
					}
					for what, got := range map[string]struct {
						ev store.Event
						ok bool
					}{"NextEvent": {ev, ok}, "Agenda": {aev, aok}} {
						switch {
						case tc.want == nil && got.ok:
							t.Errorf("%s: %s = %+v, want nothing scheduled", tc.name, what, got.ev)
						case tc.want != nil && (!got.ok || got.ev.Kind != tc.want.Kind || got.ev.ID != tc.want.ID || !got.ev.At.Equal(tc.want.At)):
							t.Errorf("%s: %s = %+v (ok %v), want %+v", tc.name, what, got.ev, got.ok, *tc.want)
						}
					}
					return nil
				})
			}
		}},
	}
}

// expectEvents checks that NextEvent returns want in order, consuming each event (clearing the
// DueAt or NextBackupAt it came from) before reading the next, and then reports nothing.
func expectEvents(t *testing.T, s store.Store, want []store.Event) {
	t.Helper()
	for i := 0; ; i++ {
		var ev store.Event
		var ok bool
		view(t, s, func(tx store.Tx) error {
			var err error
			ev, ok, err = tx.NextEvent(store.Everything())
			noErr(t, "NextEvent", err)
			return nil
		})
		if i == len(want) {
			if ok {
				t.Fatalf("NextEvent #%d: got %+v, want nothing scheduled", i, ev)
			}
			return
		}
		if !ok {
			t.Fatalf("NextEvent #%d: nothing scheduled, want %+v", i, want[i])
		}
		if ev.Kind != want[i].Kind || ev.ID != want[i].ID || !ev.At.Equal(want[i].At) {
			t.Fatalf("NextEvent #%d: got %+v, want %+v", i, ev, want[i])
		}
		consume(t, s, ev)
	}
}

// consume clears the schedule an event came from.
func consume(t *testing.T, s store.Store, ev store.Event) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		switch ev.Kind {
		case store.EventBackup:
			b, err := tx.Backup(ev.ID)
			if err != nil {
				return err
			}
			b.DueAt = time.Time{}
			_, err = tx.UpdateBackup(b)
			return err
		case store.EventHSM:
			h, err := tx.HSM(ev.ID)
			if err != nil {
				return err
			}
			h.DueAt = time.Time{}
			return tx.UpdateHSM(h)
		case store.EventCluster, store.EventDailyBackup:
			c, err := tx.Cluster(ev.ID)
			if err != nil {
				return err
			}
			if ev.Kind == store.EventCluster {
				c.DueAt = time.Time{}
			} else {
				c.NextBackupAt = time.Time{}
			}
			_, err = tx.UpdateCluster(c)
			return err
		}
		return errors.New("unknown event kind")
	})
}

func resetTests() []contractTest {
	return []contractTest{
		{"Reset deletes every resource, setting and reserved ID", func(t *testing.T, s store.Store) {
			populate := func(tx store.Tx) error {
				noErr(t, "PutSetting", tx.PutSetting("clock", "1"))
				noErr(t, "ReserveID", tx.ReserveID("backup-1"))
				b := newBackup("backup-1", at(0))
				b.DueAt = at(1)
				noErr(t, "InsertBackup", tx.InsertBackup(b))
				c := newCluster("cluster-1", at(0))
				c.NextBackupAt = at(1)
				noErr(t, "InsertCluster", tx.InsertCluster(c))
				h := newHSM("hsm-1", "cluster-1", at(0))
				h.DueAt = at(1)
				noErr(t, "InsertHSM", tx.InsertHSM(h))
				noErr(t, "InsertSubnet", tx.InsertSubnet(store.Subnet{Account: acctA, Region: region1, ID: "subnet-1"}))
				noErr(t, "PutTags", tx.PutTags("cluster-1", []store.Tag{{Key: "k", Value: "v"}}))
				noErr(t, "PutTags", tx.PutTags("backup-1", []store.Tag{{Key: "k", Value: "v"}}))
				noErr(t, "PutClusterIdentity", tx.PutClusterIdentity("cluster-1", store.Certificates{ClusterCertificate: "pem"}))
				return tx.PutPolicy(store.Policy{BackupID: "backup-1", Document: "{}", Grants: []store.Grant{{Account: acctB, Describe: true}}})
			}
			update(t, s, populate)
			update(t, s, func(tx store.Tx) error { return tx.Reset() })
			view(t, s, func(tx store.Tx) error {
				_, err := tx.Setting("clock")
				isErr(t, "Setting", err, store.ErrNotFound)
				_, err = tx.Backup("backup-1")
				isErr(t, "Backup", err, store.ErrNotFound)
				_, err = tx.Cluster("cluster-1")
				isErr(t, "Cluster", err, store.ErrNotFound)
				_, err = tx.HSM("hsm-1")
				isErr(t, "HSM", err, store.ErrNotFound)
				_, err = tx.Subnet(acctA, region1, "subnet-1")
				isErr(t, "Subnet", err, store.ErrNotFound)
				_, err = tx.Policy("backup-1")
				isErr(t, "Policy", err, store.ErrNotFound)
				_, err = tx.ClusterIdentity("cluster-1")
				isErr(t, "ClusterIdentity", err, store.ErrNotFound)
				tags, err := tx.Tags("cluster-1", "backup-1")
				noErr(t, "Tags", err)
				equal(t, "tags", len(tags), 0)
				bs, err := tx.Backups(store.BackupQuery{Account: acctA, Region: region1})
				noErr(t, "Backups", err)
				equal(t, "backups", len(bs), 0)
				bs, err = tx.Backups(store.BackupQuery{Account: acctB, Region: region1, SharedWith: acctB})
				noErr(t, "Backups shared", err)
				equal(t, "shared backups", len(bs), 0)
				cs, err := tx.Clusters(store.ClusterQuery{Account: acctA, Region: region1})
				noErr(t, "Clusters", err)
				equal(t, "clusters", len(cs), 0)
				n, err := tx.CountClusters(acctA, region1, 50)
				noErr(t, "CountClusters", err)
				equal(t, "CountClusters", n, 0)
				n, err = tx.CountSubnets(acctA, region1)
				noErr(t, "CountSubnets", err)
				equal(t, "CountSubnets", n, 0)
				hs, err := tx.HSMs("cluster-1")
				noErr(t, "HSMs", err)
				equal(t, "HSMs", len(hs), 0)
				_, ok, err := tx.NextEvent(store.Everything())
				noErr(t, "NextEvent", err)
				equal(t, "NextEvent ok", ok, false)
				return nil
			})
			// As new: the reserved ID and every key are free again.
			update(t, s, populate)
		}},
	}
}

func concurrencyTests() []contractTest {
	return []contractTest{
		{"Update is serializable: concurrent read-modify-write transactions lose no update", func(t *testing.T, s store.Store) {
			counterRace(t, s, func(inc func(tx store.Tx) error) error {
				return s.Update(t.Context(), store.Everything(), inc)
			})
		}},
		{"UpdateBackup is conditional: read in a View, write in an Update, retry on ErrConflict, lose no update", func(t *testing.T, s store.Store) {
			counterRace(t, s, nil)
		}},
	}
}

// counterRace has 8 goroutines increment a counter kept in a backup's DueAt (minutes after
// at(0)), 25 times each,
// retrying on ErrConflict. With run set, each increment reads and writes in one transaction
// run(inc); without, it reads in a View and writes with the Version read in a separate Update.
func counterRace(t *testing.T, s store.Store, run func(inc func(tx store.Tx) error) error) {
	const workers, increments = 8, 25
	const id = "backup-counter"
	b := newBackup(id, at(0))
	b.DueAt = at(0)
	update(t, s, func(tx store.Tx) error { return tx.InsertBackup(b) })

	increment := func(cur store.Backup) (store.Backup, error) {
		cur.DueAt = cur.DueAt.Add(time.Minute)
		return cur, nil
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < increments; {
				var err error
				if run != nil {
					err = run(func(tx store.Tx) error {
						cur, err := tx.Backup(id)
						if err != nil {
							return err
						}
						if cur, err = increment(cur); err != nil {
							return err
						}
						_, err = tx.UpdateBackup(cur)
						return err
					})
				} else {
					var cur store.Backup
					err = s.View(t.Context(), func(tx store.Tx) error {
						var err error
						cur, err = tx.Backup(id)
						return err
					})
					if err == nil {
						if cur, err = increment(cur); err == nil {
							err = s.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
								_, err := tx.UpdateBackup(cur)
								return err
							})
						}
					}
				}
				switch {
				case err == nil:
					i++
				case errors.Is(err, store.ErrConflict):
					// lost the race: read again
				default:
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	view(t, s, func(tx store.Tx) error {
		got, err := tx.Backup(id)
		noErr(t, "Backup", err)
		equal(t, "count", got.DueAt, at(workers*increments))
		equal(t, "version", got.Version, int64(1+workers*increments))
		return nil
	})
}
