package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// dump is everything the Each methods stream, in their order.
type dump struct {
	Subnets    []store.Subnet
	Identities []identity
	Clusters   []taggedCluster
	HSMs       []store.HSM
	Backups    []store.Backup
	Policies   []store.Policy
	RetiredIDs []string
}

type identity struct {
	ClusterID    string
	Certificates store.Certificates
}

type taggedCluster struct {
	Cluster store.Cluster
	Tags    []store.Tag
}

// dumpOf reads every record through the Each methods, in a View.
func dumpOf(t *testing.T, s store.Store) dump {
	t.Helper()
	var d dump
	view(t, s, func(tx store.Tx) error {
		noErr(t, "EachSubnet", tx.EachSubnet(func(x store.Subnet) error { d.Subnets = append(d.Subnets, x); return nil }))
		noErr(t, "EachClusterIdentity", tx.EachClusterIdentity(func(id string, c store.Certificates) error {
			d.Identities = append(d.Identities, identity{id, c})
			return nil
		}))
		noErr(t, "EachCluster", tx.EachCluster(func(c store.Cluster, tags []store.Tag) error {
			d.Clusters = append(d.Clusters, taggedCluster{c, tags})
			return nil
		}))
		noErr(t, "EachHSM", tx.EachHSM(func(x store.HSM) error { d.HSMs = append(d.HSMs, x); return nil }))
		noErr(t, "EachBackup", tx.EachBackup(func(x store.Backup) error { d.Backups = append(d.Backups, x); return nil }))
		noErr(t, "EachPolicy", tx.EachPolicy(func(x store.Policy) error { d.Policies = append(d.Policies, x); return nil }))
		noErr(t, "EachRetiredID", tx.EachRetiredID(func(x string) error { d.RetiredIDs = append(d.RetiredIDs, x); return nil }))
		return nil
	})
	return d
}

// snapshotFixture is a store's worth of records of several accounts and regions, written out
// of order: dumpOf must give snapshotDump.
func snapshotFixture(t *testing.T, s store.Store) {
	t.Helper()
	full, aaa, zzz := fullCluster(), newCluster("cluster-aaa", at(5)), newCluster("cluster-zzz", at(0))
	zzz.SubnetMapping, zzz.Certificates = nil, store.Certificates{}
	fb := fullBackup()
	update(t, s, func(tx store.Tx) error {
		for _, sub := range []store.Subnet{
			{Account: acctB, Region: region1, ID: "subnet-b", VpcID: "vpc-b", AvailabilityZone: "us-east-1a"},
			{Account: acctA, Region: region2, ID: "subnet-z", VpcID: "vpc-z", AvailabilityZone: "eu-west-1b"},
			{Account: acctA, Region: region1, ID: "subnet-c", VpcID: "vpc-a", AvailabilityZone: "us-east-1c"},
			{Account: acctA, Region: region1, ID: "subnet-a", VpcID: "vpc-a", AvailabilityZone: "us-east-1a"},
		} {
			noErr(t, "InsertSubnet", tx.InsertSubnet(sub))
		}
		noErr(t, "PutClusterIdentity", tx.PutClusterIdentity("cluster-gone", store.Certificates{ClusterKey: "k", ClusterCertificate: "c"}))
		noErr(t, "PutClusterIdentity", tx.PutClusterIdentity("cluster-full", full.Certificates))
		for _, c := range []store.Cluster{full, zzz, aaa} {
			noErr(t, "InsertCluster", tx.InsertCluster(c))
		}
		noErr(t, "PutTags", tx.PutTags("cluster-full", []store.Tag{{Key: "team", Value: "b"}, {Key: "env", Value: "ci"}}))
		noErr(t, "PutTags", tx.PutTags("cluster-aaa", []store.Tag{{Key: "k", Value: ""}}))
		noErr(t, "InsertHSM", tx.InsertHSM(newHSM("hsm-z", "cluster-full", at(7))))
		noErr(t, "InsertHSM", tx.InsertHSM(newHSM("hsm-a", "cluster-aaa", at(6))))
		for _, b := range []store.Backup{newBackup("backup-b", at(2)), fb, newBackup("backup-a", at(3))} {
			noErr(t, "InsertBackup", tx.InsertBackup(b))
		}
		noErr(t, "PutTags", tx.PutTags("backup-full", []store.Tag{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}}))
		noErr(t, "PutPolicy", tx.PutPolicy(store.Policy{BackupID: "backup-b", Document: `{"b":1}`, Grants: []store.Grant{
			{Account: acctD, Describe: true}, {Account: acctC, CreateCluster: true}, {Account: acctB, Describe: true, CreateCluster: true},
		}}))
		noErr(t, "PutPolicy", tx.PutPolicy(store.Policy{BackupID: "backup-a", Document: "{}"}))
		for _, id := range []string{"hsm-gone", "backup-b", "cluster-zzz", "backup-a", "cluster-full", "backup-full", "hsm-a",
			"cluster-aaa", "hsm-z", "backup-gone", "cluster-gone"} {
			noErr(t, "ReserveID", tx.ReserveID(id))
		}
		return nil
	})
}

// snapshotDump is what dumpOf reads from snapshotFixture.
func snapshotDump() dump {
	full, aaa, zzz := fullCluster(), newCluster("cluster-aaa", at(5)), newCluster("cluster-zzz", at(0))
	zzz.SubnetMapping, zzz.Certificates = nil, store.Certificates{}
	fb := fullBackup()
	fb.Tags = []store.Tag{{Key: "a", Value: "2"}, {Key: "z", Value: "1"}}
	return dump{
		Subnets: []store.Subnet{ // region2 (eu-west-1) sorts before region1 (us-east-1)
			{Account: acctA, Region: region2, ID: "subnet-z", VpcID: "vpc-z", AvailabilityZone: "eu-west-1b"},
			{Account: acctA, Region: region1, ID: "subnet-a", VpcID: "vpc-a", AvailabilityZone: "us-east-1a"},
			{Account: acctA, Region: region1, ID: "subnet-c", VpcID: "vpc-a", AvailabilityZone: "us-east-1c"},
			{Account: acctB, Region: region1, ID: "subnet-b", VpcID: "vpc-b", AvailabilityZone: "us-east-1a"},
		},
		Identities: []identity{
			{"cluster-full", full.Certificates},
			{"cluster-gone", store.Certificates{ClusterKey: "k", ClusterCertificate: "c"}},
		},
		Clusters: []taggedCluster{
			{aaa, []store.Tag{{Key: "k", Value: ""}}},
			{full, []store.Tag{{Key: "env", Value: "ci"}, {Key: "team", Value: "b"}}},
			{zzz, nil},
		},
		HSMs:    []store.HSM{newHSM("hsm-a", "cluster-aaa", at(6)), newHSM("hsm-z", "cluster-full", at(7))},
		Backups: []store.Backup{newBackup("backup-a", at(3)), newBackup("backup-b", at(2)), fb},
		Policies: []store.Policy{
			{BackupID: "backup-a", Document: "{}"},
			{BackupID: "backup-b", Document: `{"b":1}`, Grants: []store.Grant{
				{Account: acctD, Describe: true}, {Account: acctC, CreateCluster: true}, {Account: acctB, Describe: true, CreateCluster: true},
			}},
		},
		RetiredIDs: []string{"backup-gone", "cluster-gone", "hsm-gone"},
	}
}

// eachMethods calls every Each method of tx with fn adapted to its record type.
func eachMethods(tx store.Tx, fn func() error) map[string]error {
	return map[string]error{
		"EachSubnet":          tx.EachSubnet(func(store.Subnet) error { return fn() }),
		"EachClusterIdentity": tx.EachClusterIdentity(func(string, store.Certificates) error { return fn() }),
		"EachCluster":         tx.EachCluster(func(store.Cluster, []store.Tag) error { return fn() }),
		"EachHSM":             tx.EachHSM(func(store.HSM) error { return fn() }),
		"EachBackup":          tx.EachBackup(func(store.Backup) error { return fn() }),
		"EachPolicy":          tx.EachPolicy(func(store.Policy) error { return fn() }),
		"EachRetiredID":       tx.EachRetiredID(func(string) error { return fn() }),
	}
}

// stop is the error the iteration tests return from fn.
type stop struct{ n int }

func (s *stop) Error() string { return fmt.Sprintf("stop %d", s.n) }

func snapshotTests() []contractTest {
	return []contractTest{
		{"Each methods stream every record of every account and region, each kind in its order", func(t *testing.T, s store.Store) {
			snapshotFixture(t, s)
			got, want := dumpOf(t, s), snapshotDump()
			equal(t, "subnets", got.Subnets, want.Subnets)
			equal(t, "cluster identities", got.Identities, want.Identities)
			equal(t, "clusters with their tags", got.Clusters, want.Clusters)
			equal(t, "HSMs", got.HSMs, want.HSMs)
			equal(t, "backups with their tags", got.Backups, want.Backups)
			equal(t, "policies with their grants in the order put", got.Policies, want.Policies)
			equal(t, "retired IDs", got.RetiredIDs, want.RetiredIDs)
		}},
		{"Each methods stop at fn's first error and return it unchanged", func(t *testing.T, s store.Store) {
			snapshotFixture(t, s)
			view(t, s, func(tx store.Tx) error {
				calls := 0
				for name, err := range eachMethods(tx, func() error { calls++; return &stop{calls} }) {
					var st *stop
					if !errors.As(err, &st) || err != error(st) {
						t.Errorf("%s returned %v, want fn's error itself", name, err)
					}
				}
				equal(t, "fn calls (one per method)", calls, 7)
				return nil
			})
			// The transaction is still usable after an iteration stopped early.
			equal(t, "a read after the stops", len(dumpOf(t, s).Backups), 3)
		}},
		{"Each methods of an empty store call fn never; Empty says so", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error { return tx.PutSetting("clock", "1") })
			view(t, s, func(tx store.Tx) error {
				for name, err := range eachMethods(tx, func() error { return errors.New("called") }) {
					noErr(t, name, err)
				}
				empty, err := tx.Empty()
				noErr(t, "Empty", err)
				equal(t, "Empty of a store with settings only", empty, true)
				return nil
			})
		}},
		{"Empty is false once the store holds any record but a setting", emptyTests},
		{"EachRetiredID lists reserved IDs no resource has", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error {
				noErr(t, "ReserveIDs", tx.ReserveIDs([]string{"backup-1", "cluster-1", "hsm-1", "backup-2"}))
				noErr(t, "InsertBackup", tx.InsertBackup(newBackup("backup-1", at(0))))
				noErr(t, "InsertCluster", tx.InsertCluster(newCluster("cluster-1", at(0))))
				return tx.InsertHSM(newHSM("hsm-1", "cluster-1", at(0)))
			})
			equal(t, "retired", dumpOf(t, s).RetiredIDs, []string{"backup-2"})
			update(t, s, func(tx store.Tx) error { return tx.DeleteBackup("backup-1") })
			equal(t, "retired after a purge", dumpOf(t, s).RetiredIDs, []string{"backup-1", "backup-2"})
		}},
		{"ReserveIDs records IDs as ReserveID does, across statements", func(t *testing.T, s store.Store) {
			many := ids("backup", 1200)
			update(t, s, func(tx store.Tx) error {
				noErr(t, "ReserveIDs of none", tx.ReserveIDs(nil))
				return tx.ReserveIDs(many)
			})
			update(t, s, func(tx store.Tx) error {
				for _, id := range []string{many[0], many[600], many[1199]} {
					isErr(t, "ReserveID of "+id, tx.ReserveID(id), store.ErrConflict)
				}
				return nil
			})
			equal(t, "retired (reserved, without a resource)", len(dumpOf(t, s).RetiredIDs), 1200)
		}},
		{"ReserveIDs names the first ID reserved before or given twice", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error { return tx.ReserveID("hsm-taken") })
			for _, tc := range []struct {
				ids  []string
				want string
			}{
				{[]string{"hsm-new", "hsm-taken", "hsm-other"}, "hsm-taken"},
				{append(ids("hsm", 700), "hsm-taken"), "hsm-taken"}, // in the second statement
				{[]string{"hsm-x", "hsm-y", "hsm-x"}, "hsm-x"},
			} {
				err := s.Update(t.Context(), store.Everything(), func(tx store.Tx) error { return tx.ReserveIDs(tc.ids) })
				var conflict *store.IDConflictError
				if !errors.As(err, &conflict) || conflict.ID != tc.want || !errors.Is(err, store.ErrConflict) {
					t.Fatalf("ReserveIDs(%d IDs): %v, want an IDConflictError naming %s", len(tc.ids), err, tc.want)
				}
			}
			equal(t, "retired after the failed Updates", dumpOf(t, s).RetiredIDs, []string{"hsm-taken"})
		}},
		{"InsertBackups adds backups with Version 1 and their tags, across statements", func(t *testing.T, s store.Store) {
			var bs []store.Backup
			for i, id := range ids("backup", 1100) {
				b := newBackup(id, at(i))
				b.Version = 7 // ignored: new backups have Version 1
				if i%3 == 0 {
					b.Tags = []store.Tag{{Key: "a", Value: id}, {Key: "b", Value: ""}}
				}
				bs = append(bs, b)
			}
			bs[5] = fullBackup()
			bs[5].Tags = []store.Tag{{Key: "k", Value: "v"}}
			update(t, s, func(tx store.Tx) error {
				noErr(t, "InsertBackups of none", tx.InsertBackups(nil))
				return tx.InsertBackups(bs)
			})
			got := dumpOf(t, s).Backups
			equal(t, "count", len(got), len(bs))
			byID := map[string]store.Backup{}
			for _, b := range got {
				byID[b.ID] = b
			}
			for _, b := range bs {
				b.Version = 1
				equal(t, "backup "+b.ID, byID[b.ID], b)
			}
			view(t, s, func(tx store.Tx) error {
				tags, err := tx.Tags("backup-full", "backup-03")
				noErr(t, "Tags", err)
				equal(t, "Tags", tags, map[string][]store.Tag{"backup-full": {{Key: "k", Value: "v"}},
					"backup-03": {{Key: "a", Value: "backup-03"}, {Key: "b", Value: ""}}})
				return nil
			})
		}},
		{"InsertBackups names the first backup that exists or comes twice", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error { return tx.InsertBackup(newBackup("backup-taken", at(0))) })
			for _, tc := range []struct {
				ids  []string
				want string
			}{
				{[]string{"backup-new", "backup-taken"}, "backup-taken"},
				{append(ids("backup", 600), "backup-taken"), "backup-taken"},
				{[]string{"backup-x", "backup-x"}, "backup-x"},
			} {
				var bs []store.Backup
				for _, id := range tc.ids {
					bs = append(bs, newBackup(id, at(1)))
				}
				err := s.Update(t.Context(), store.Everything(), func(tx store.Tx) error { return tx.InsertBackups(bs) })
				var conflict *store.IDConflictError
				if !errors.As(err, &conflict) || conflict.ID != tc.want || !errors.Is(err, store.ErrConflict) {
					t.Fatalf("InsertBackups(%d): %v, want an IDConflictError naming %s", len(bs), err, tc.want)
				}
			}
			equal(t, "backups after the failed Updates", backupIDs(dumpOf(t, s).Backups), []string{"backup-taken"})
		}},
		{"ReserveIDs and InsertBackups through a View fail", func(t *testing.T, s store.Store) {
			err := s.View(t.Context(), func(tx store.Tx) error {
				if tx.ReserveIDs([]string{"backup-1"}) == nil || tx.InsertBackups([]store.Backup{newBackup("backup-1", at(0))}) == nil {
					t.Error("a bulk write through a View succeeded")
				}
				return nil
			})
			noErr(t, "View", err)
			equal(t, "backups", len(dumpOf(t, s).Backups), 0)
		}},
		{"What the Each methods read, written back after Reset, reads the same", func(t *testing.T, s store.Store) {
			snapshotFixture(t, s)
			before := dumpOf(t, s)
			update(t, s, func(tx store.Tx) error {
				noErr(t, "Reset", tx.Reset())
				return restore(tx, before)
			})
			equal(t, "the store written back", dumpOf(t, s), before)
		}},
	}
}

// restore writes d into tx as an import does: every resource, its tags and policy, and every
// ID reserved.
func restore(tx store.Tx, d dump) error {
	var reserved []string
	for _, sub := range d.Subnets {
		if err := tx.InsertSubnet(sub); err != nil {
			return err
		}
	}
	for _, id := range d.Identities {
		if err := tx.PutClusterIdentity(id.ClusterID, id.Certificates); err != nil {
			return err
		}
	}
	for _, c := range d.Clusters {
		reserved = append(reserved, c.Cluster.ID)
		if err := tx.InsertCluster(c.Cluster); err != nil {
			return err
		}
		if err := tx.PutTags(c.Cluster.ID, c.Tags); err != nil {
			return err
		}
	}
	for _, h := range d.HSMs {
		reserved = append(reserved, h.ID)
		if err := tx.InsertHSM(h); err != nil {
			return err
		}
	}
	for _, b := range d.Backups {
		reserved = append(reserved, b.ID)
	}
	if err := tx.InsertBackups(d.Backups); err != nil {
		return err
	}
	for _, p := range d.Policies {
		if err := tx.PutPolicy(p); err != nil {
			return err
		}
	}
	return tx.ReserveIDs(append(reserved, d.RetiredIDs...))
}

// emptyTests puts one record of each kind in an otherwise empty store.
func emptyTests(t *testing.T, s store.Store) {
	for _, tc := range []struct {
		kind  string
		write func(tx store.Tx) error
	}{
		{"a reserved ID", func(tx store.Tx) error { return tx.ReserveID("backup-1") }},
		{"a subnet", func(tx store.Tx) error {
			return tx.InsertSubnet(store.Subnet{Account: acctA, Region: region1, ID: "subnet-1", VpcID: "vpc-1", AvailabilityZone: "us-east-1a"})
		}},
		{"a backup", func(tx store.Tx) error { return tx.InsertBackup(newBackup("backup-1", at(0))) }},
		{"a cluster", func(tx store.Tx) error { return tx.InsertCluster(newCluster("cluster-1", at(0))) }},
		{"an HSM", func(tx store.Tx) error { return tx.InsertHSM(newHSM("hsm-1", "cluster-1", at(0))) }},
		{"a cluster identity", func(tx store.Tx) error {
			return tx.PutClusterIdentity("cluster-1", store.Certificates{ClusterKey: "k"})
		}},
		{"a tag", func(tx store.Tx) error { return tx.PutTags("backup-1", []store.Tag{{Key: "k", Value: "v"}}) }},
		{"a policy", func(tx store.Tx) error { return tx.PutPolicy(store.Policy{BackupID: "backup-1", Document: "{}"}) }},
	} {
		update(t, s, func(tx store.Tx) error {
			noErr(t, "Reset", tx.Reset())
			noErr(t, "write "+tc.kind, tc.write(tx))
			empty, err := tx.Empty()
			noErr(t, "Empty", err)
			if empty {
				t.Errorf("Empty with %s: true", tc.kind)
			}
			return nil
		})
	}
}
