package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

func clusterTests() []contractTest {
	return []contractTest{
		{"Cluster returns ErrNotFound for a missing cluster", func(t *testing.T, s store.Store) {
			view(t, s, func(tx store.Tx) error {
				_, err := tx.Cluster("cluster-none")
				isErr(t, "Cluster", err, store.ErrNotFound)
				return nil
			})
		}},
		{"InsertCluster adds a cluster with Version 1; ErrConflict if the ID exists", func(t *testing.T, s store.Store) {
			c := fullCluster()
			in := c
			in.Version = 9
			update(t, s, func(tx store.Tx) error { return tx.InsertCluster(in) })
			bare := store.Cluster{ID: "cluster-bare", Account: acctA, Region: region1, State: "UNINITIALIZED", CreatedAt: at(0), Version: 1}
			update(t, s, func(tx store.Tx) error { return tx.InsertCluster(bare) })
			update(t, s, func(tx store.Tx) error {
				isErr(t, "InsertCluster again", tx.InsertCluster(newCluster(c.ID, at(9))), store.ErrConflict)
				return nil
			})
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Cluster(c.ID)
				noErr(t, "Cluster", err)
				equal(t, "cluster", got, c)
				got, err = tx.Cluster(bare.ID)
				noErr(t, "Cluster", err)
				equal(t, "cluster with nil SubnetMapping and no Certificates", got, bare)
				return nil
			})
		}},
		{"UpdateCluster replaces the cluster, increments Version and returns the cluster with it", func(t *testing.T, s store.Store) {
			c := newCluster("cluster-upd", at(0))
			update(t, s, func(tx store.Tx) error { return tx.InsertCluster(c) })
			changed := fullCluster()
			changed.ID, changed.Version = c.ID, 1
			var returned store.Cluster
			update(t, s, func(tx store.Tx) error {
				var err error
				returned, err = tx.UpdateCluster(changed)
				return err
			})
			want := changed
			want.Version = 2
			equal(t, "returned cluster", returned, want)
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Cluster(c.ID)
				noErr(t, "Cluster", err)
				equal(t, "cluster", got, want)
				return nil
			})
			// Twice more in one transaction, without reading it back in between.
			update(t, s, func(tx store.Tx) error {
				want.RetentionDays++
				again, err := tx.UpdateCluster(want)
				noErr(t, "UpdateCluster", err)
				again.RetentionDays++
				want, err = tx.UpdateCluster(again)
				return err
			})
			equal(t, "Version after two more updates", want.Version, int64(4))
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Cluster(c.ID)
				noErr(t, "Cluster", err)
				equal(t, "cluster updated twice", got, want)
				return nil
			})
		}},
		{"UpdateCluster returns ErrConflict or ErrNotFound as UpdateBackup, and the cluster unchanged", func(t *testing.T, s store.Store) {
			c := newCluster("cluster-stale", at(0))
			update(t, s, func(tx store.Tx) error { return tx.InsertCluster(c) })
			var current store.Cluster
			update(t, s, func(tx store.Tx) error { // now Version 2
				var err error
				current, err = tx.UpdateCluster(c)
				return err
			})
			stale := c
			stale.State = "DELETED"
			missing := newCluster("cluster-none", at(0))
			update(t, s, func(tx store.Tx) error {
				got, err := tx.UpdateCluster(stale)
				isErr(t, "UpdateCluster with a stale Version", err, store.ErrConflict)
				equal(t, "cluster returned with ErrConflict", got, stale)
				got, err = tx.UpdateCluster(missing)
				isErr(t, "UpdateCluster of a missing cluster", err, store.ErrNotFound)
				equal(t, "cluster returned with ErrNotFound", got, missing)
				return nil
			})
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Cluster(c.ID)
				noErr(t, "Cluster", err)
				equal(t, "cluster after the failed updates", got, current)
				return nil
			})
		}},
		{"DeleteCluster removes a cluster and its tags; its backups stay", func(t *testing.T, s store.Store) {
			c := newCluster("cluster-del", at(0))
			b := newBackup("backup-of-del", at(1))
			b.ClusterID = c.ID
			update(t, s, func(tx store.Tx) error {
				noErr(t, "InsertCluster", tx.InsertCluster(c))
				noErr(t, "InsertBackup", tx.InsertBackup(b))
				noErr(t, "PutTags", tx.PutTags(c.ID, []store.Tag{{Key: "k", Value: "c"}}))
				return tx.PutTags(b.ID, []store.Tag{{Key: "k", Value: "b"}})
			})
			update(t, s, func(tx store.Tx) error { return tx.DeleteCluster(c.ID) })
			view(t, s, func(tx store.Tx) error {
				_, err := tx.Cluster(c.ID)
				isErr(t, "Cluster", err, store.ErrNotFound)
				got, err := tx.Backup(b.ID)
				noErr(t, "Backup", err)
				equal(t, "backup", got, b)
				tags, err := tx.Tags(c.ID, b.ID)
				noErr(t, "Tags", err)
				equal(t, "tags", tags, map[string][]store.Tag{b.ID: {{Key: "k", Value: "b"}}})
				return nil
			})
			update(t, s, func(tx store.Tx) error { return tx.DeleteCluster("cluster-none") })
		}},
		{"Clusters filters, ascending (CreatedAt, ID) order, After and Limit", clusterQueries},
		{"CountClusters counts the clusters of an account and region that are not DELETED, up to its limit", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error {
				for i, st := range []string{"ACTIVE", "DELETED", "UNINITIALIZED", "DELETE_IN_PROGRESS", "DELETED"} {
					c := newCluster(ids("cluster-a", 5)[i], at(i))
					c.State = st
					noErr(t, "InsertCluster", tx.InsertCluster(c))
				}
				other := newCluster("cluster-b", at(0))
				other.Account = acctB
				noErr(t, "InsertCluster", tx.InsertCluster(other))
				elsewhere := newCluster("cluster-r2", at(0))
				elsewhere.Region = region2
				return tx.InsertCluster(elsewhere)
			})
			view(t, s, func(tx store.Tx) error {
				for _, tc := range []struct {
					account, region string
					want            int
				}{{acctA, region1, 3}, {acctB, region1, 1}, {acctA, region2, 1}, {acctC, region1, 0}} {
					n, err := tx.CountClusters(tc.account, tc.region, 50)
					noErr(t, "CountClusters", err)
					equal(t, "CountClusters("+tc.account+", "+tc.region+", 50)", n, tc.want)
				}
				for limit, want := range []int{0, 1, 2, 3, 3} {
					n, err := tx.CountClusters(acctA, region1, limit)
					noErr(t, "CountClusters", err)
					equal(t, fmt.Sprintf("CountClusters(%s, %s, %d)", acctA, region1, limit), n, want)
				}
				n, err := tx.CountClusters(acctA, region1, -1)
				noErr(t, "CountClusters", err)
				equal(t, "CountClusters with a negative limit", n, 0)
				return nil
			})
		}},
		{"CountClusters follows state changes into and out of DELETED, deletions and rolled-back writes", func(t *testing.T, s store.Store) {
			count := func(want int) {
				t.Helper()
				view(t, s, func(tx store.Tx) error {
					n, err := tx.CountClusters(acctA, region1, 50)
					noErr(t, "CountClusters", err)
					equal(t, "CountClusters", n, want)
					return nil
				})
			}
			var live, gone store.Cluster
			update(t, s, func(tx store.Tx) error {
				live, gone = newCluster("cluster-live", at(0)), newCluster("cluster-gone", at(1))
				noErr(t, "InsertCluster", tx.InsertCluster(live))
				return tx.InsertCluster(gone)
			})
			count(2)
			update(t, s, func(tx store.Tx) error {
				var err error
				gone, err = tx.Cluster(gone.ID)
				noErr(t, "Cluster", err)
				gone.State = "DELETED"
				gone, err = tx.UpdateCluster(gone)
				return err
			})
			count(1)
			errRollback := errors.New("roll back")
			err := s.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
				c, err := tx.Cluster(live.ID)
				noErr(t, "Cluster", err)
				c.State = "DELETED"
				_, err = tx.UpdateCluster(c)
				noErr(t, "UpdateCluster", err)
				return errRollback
			})
			equal(t, "Update's error", err, errRollback)
			count(1)
			update(t, s, func(tx store.Tx) error {
				gone.State = "ACTIVE"
				var err error
				gone, err = tx.UpdateCluster(gone)
				return err
			})
			count(2)
			update(t, s, func(tx store.Tx) error { return tx.DeleteCluster(live.ID) })
			count(1)
			update(t, s, func(tx store.Tx) error {
				gone.State = "DELETED"
				_, err := tx.UpdateCluster(gone)
				noErr(t, "UpdateCluster", err)
				return tx.DeleteCluster(gone.ID)
			})
			count(0)
		}},
	}
}

// fullCluster is a cluster with every field set.
func fullCluster() store.Cluster {
	return store.Cluster{
		ID:                "cluster-full",
		Account:           acctB,
		Region:            region2,
		State:             "UPDATE_IN_PROGRESS",
		StateMessage:      "modifying",
		HsmType:           "hsm2m.medium",
		Mode:              "NON_FIPS",
		NetworkType:       "DUALSTACK",
		RetentionDays:     7,
		SourceBackupID:    "backup-source",
		VpcID:             "vpc-22222222",
		SecurityGroup:     "sg-22222222",
		SubnetMapping:     map[string]string{"eu-west-1a": "subnet-a", "eu-west-1b": "subnet-b", "eu-west-1c": "subnet-c"},
		PreCoPassword:     "secret",
		CreatedAt:         at(1),
		HsmTypeRollbackAt: at(2),
		Certificates: store.Certificates{
			ClusterKey:                      "key \"quoted\" \n\\",
			ClusterCsr:                      "csr",
			HsmCertificate:                  "hsm",
			AwsHardwareCertificate:          "aws",
			ManufacturerHardwareCertificate: "manufacturer",
			ClusterCertificate:              "cluster",
		},
		DueAt:        at(3),
		NextBackupAt: at(4),
		Version:      1,
	}
}

func clusterQueries(t *testing.T, s store.Store) {
	mk := func(id string, created int, vpc, state string) store.Cluster {
		c := newCluster(id, at(created))
		c.VpcID, c.State = vpc, state
		return c
	}
	other := mk("cluster-07", 0, "vpc-1", "ACTIVE")
	other.Account = acctB
	elsewhere := mk("cluster-08", 0, "vpc-1", "ACTIVE")
	elsewhere.Region = region2
	fixture := []store.Cluster{
		mk("cluster-03", 1, "vpc-1", "ACTIVE"),
		mk("cluster-01", 1, "vpc-2", "UNINITIALIZED"),
		mk("cluster-02", 1, "vpc-1", "DELETED"),
		mk("cluster-00", 2, "vpc-2", "ACTIVE"),
		mk("cluster-09", 0, "vpc-3", "DEGRADED"),
		other, elsewhere,
	}
	update(t, s, func(tx store.Tx) error {
		for _, c := range fixture {
			noErr(t, "InsertCluster", tx.InsertCluster(c))
		}
		return nil
	})
	all := []string{"cluster-09", "cluster-01", "cluster-02", "cluster-03", "cluster-00"}
	cases := []struct {
		name string
		q    store.ClusterQuery
		want []string
	}{
		{"no filter, ascending with ties by ID", store.ClusterQuery{}, all},
		{"empty lists", store.ClusterQuery{IDs: []string{}, VpcIDs: []string{}, States: []string{}}, all},
		{"IDs", store.ClusterQuery{IDs: []string{"cluster-00", "cluster-03", "cluster-07", "cluster-08"}}, []string{"cluster-03", "cluster-00"}},
		{"VpcIDs one", store.ClusterQuery{VpcIDs: []string{"vpc-2"}}, []string{"cluster-01", "cluster-00"}},
		{"VpcIDs two", store.ClusterQuery{VpcIDs: []string{"vpc-2", "vpc-3"}}, []string{"cluster-09", "cluster-01", "cluster-00"}},
		{"States", store.ClusterQuery{States: []string{"ACTIVE", "DELETED"}}, []string{"cluster-02", "cluster-03", "cluster-00"}},
		{"VpcIDs and States", store.ClusterQuery{VpcIDs: []string{"vpc-1"}, States: []string{"ACTIVE"}}, []string{"cluster-03"}},
		{"IDs, VpcIDs and States", store.ClusterQuery{IDs: []string{"cluster-00", "cluster-01"}, VpcIDs: []string{"vpc-2"}, States: []string{"ACTIVE"}}, []string{"cluster-00"}},
		{"After", store.ClusterQuery{After: &store.Cursor{CreatedAt: at(1), ID: "cluster-01"}}, []string{"cluster-02", "cluster-03", "cluster-00"}},
		{"Limit", store.ClusterQuery{Limit: 2}, []string{"cluster-09", "cluster-01"}},
		{"After and Limit", store.ClusterQuery{After: &store.Cursor{CreatedAt: at(0), ID: "cluster-09"}, Limit: 2}, []string{"cluster-01", "cluster-02"}},
		{"After the last", store.ClusterQuery{After: &store.Cursor{CreatedAt: at(2), ID: "cluster-00"}}, []string{}},
		{"other account", store.ClusterQuery{Account: acctB}, []string{"cluster-07"}},
		{"other region", store.ClusterQuery{Region: region2}, []string{"cluster-08"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			if q.Account == "" {
				q.Account = acctA
			}
			if q.Region == "" {
				q.Region = region1
			}
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Clusters(q)
				noErr(t, "Clusters", err)
				equal(t, "clusters", clusterIDs(got), tc.want)
				return nil
			})
		})
	}
	t.Run("pages of 2 visit every cluster once, in order", func(t *testing.T) {
		var visited []string
		var after *store.Cursor
		for range 10 {
			var page []store.Cluster
			view(t, s, func(tx store.Tx) error {
				var err error
				page, err = tx.Clusters(store.ClusterQuery{Account: acctA, Region: region1, After: after, Limit: 2})
				noErr(t, "Clusters", err)
				return nil
			})
			if len(page) == 0 {
				break
			}
			last := page[len(page)-1]
			after = &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
			visited = append(visited, clusterIDs(page)...)
		}
		equal(t, "visited", visited, all)
	})
	t.Run("rows are complete", func(t *testing.T) {
		view(t, s, func(tx store.Tx) error {
			got, err := tx.Clusters(store.ClusterQuery{Account: acctA, Region: region1, IDs: []string{"cluster-03"}})
			noErr(t, "Clusters", err)
			equal(t, "clusters", got, fixture[:1])
			return nil
		})
	})
}

func hsmTests() []contractTest {
	return []contractTest{
		{"HSM returns one HSM by ID, or ErrNotFound; InsertHSM ErrConflict if the ID exists", func(t *testing.T, s store.Store) {
			h := newHSM("hsm-1", "cluster-1", at(0))
			h.DueAt = at(5)
			h.State, h.StateMessage = "CREATE_IN_PROGRESS", "creating"
			update(t, s, func(tx store.Tx) error { return tx.InsertHSM(h) })
			update(t, s, func(tx store.Tx) error {
				isErr(t, "InsertHSM again", tx.InsertHSM(newHSM("hsm-1", "cluster-2", at(1))), store.ErrConflict)
				return nil
			})
			view(t, s, func(tx store.Tx) error {
				got, err := tx.HSM(h.ID)
				noErr(t, "HSM", err)
				equal(t, "HSM", got, h)
				_, err = tx.HSM("hsm-none")
				isErr(t, "HSM", err, store.ErrNotFound)
				return nil
			})
		}},
		{"UpdateHSM replaces the HSM with h's ID; ErrNotFound if there is none", func(t *testing.T, s store.Store) {
			h := newHSM("hsm-1", "cluster-1", at(0))
			update(t, s, func(tx store.Tx) error { return tx.InsertHSM(h) })
			changed := store.HSM{ID: h.ID, ClusterID: "cluster-2", AvailabilityZone: "us-east-1b", SubnetID: "subnet-1b",
				EniID: "eni-2", EniIP: "10.0.1.10", HsmType: "hsm2m.medium", State: "DELETE_IN_PROGRESS",
				StateMessage: "deleting", CreatedAt: at(1), DueAt: at(2)}
			update(t, s, func(tx store.Tx) error {
				noErr(t, "UpdateHSM", tx.UpdateHSM(changed))
				isErr(t, "UpdateHSM of a missing HSM", tx.UpdateHSM(newHSM("hsm-none", "cluster-1", at(0))), store.ErrNotFound)
				return nil
			})
			view(t, s, func(tx store.Tx) error {
				got, err := tx.HSM(h.ID)
				noErr(t, "HSM", err)
				equal(t, "HSM", got, changed)
				return nil
			})
		}},
		{"DeleteHSM removes an HSM for good", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error {
				noErr(t, "InsertHSM", tx.InsertHSM(newHSM("hsm-1", "cluster-1", at(0))))
				return tx.InsertHSM(newHSM("hsm-2", "cluster-1", at(0)))
			})
			update(t, s, func(tx store.Tx) error { return tx.DeleteHSM("hsm-1") })
			view(t, s, func(tx store.Tx) error {
				_, err := tx.HSM("hsm-1")
				isErr(t, "HSM", err, store.ErrNotFound)
				hs, err := tx.HSMs("cluster-1")
				noErr(t, "HSMs", err)
				equal(t, "HSMs", hsmIDs(hs), []string{"hsm-2"})
				return nil
			})
			update(t, s, func(tx store.Tx) error { return tx.InsertHSM(newHSM("hsm-1", "cluster-1", at(0))) })
		}},
		{"HSMs returns the HSMs of the given clusters ordered by (CreatedAt, ID), including those being deleted", func(t *testing.T, s store.Store) {
			mk := func(id, cluster string, created int, state string) store.HSM {
				h := newHSM(id, cluster, at(created))
				h.State = state
				return h
			}
			fixture := []store.HSM{
				mk("hsm-05", "cluster-1", 2, "ACTIVE"),
				mk("hsm-04", "cluster-2", 1, "ACTIVE"),
				mk("hsm-03", "cluster-1", 1, "DELETE_IN_PROGRESS"),
				mk("hsm-01", "cluster-1", 1, "CREATE_IN_PROGRESS"),
				mk("hsm-02", "cluster-3", 0, "ACTIVE"),
				mk("hsm-00", "cluster-2", 3, "DELETED"),
			}
			update(t, s, func(tx store.Tx) error {
				for _, h := range fixture {
					noErr(t, "InsertHSM", tx.InsertHSM(h))
				}
				return nil
			})
			view(t, s, func(tx store.Tx) error {
				for _, tc := range []struct {
					clusters []string
					want     []string
				}{
					{[]string{"cluster-1"}, []string{"hsm-01", "hsm-03", "hsm-05"}},
					{[]string{"cluster-1", "cluster-2"}, []string{"hsm-01", "hsm-03", "hsm-04", "hsm-05", "hsm-00"}},
					{[]string{"cluster-2", "cluster-none"}, []string{"hsm-04", "hsm-00"}},
					{[]string{"cluster-none"}, []string{}},
					{nil, []string{}},
				} {
					hs, err := tx.HSMs(tc.clusters...)
					noErr(t, "HSMs", err)
					equal(t, "HSMs of "+strings.Join(tc.clusters, ","), hsmIDs(hs), tc.want)
				}
				hs, err := tx.HSMs("cluster-3")
				noErr(t, "HSMs", err)
				equal(t, "complete rows", hs, []store.HSM{fixture[4]})
				return nil
			})
		}},
	}
}

func subnetTests() []contractTest {
	return []contractTest{
		{"Subnet returns a known subnet or ErrNotFound; InsertSubnet ErrConflict if known; CountSubnets", func(t *testing.T, s store.Store) {
			sub := store.Subnet{Account: acctA, Region: region1, ID: "subnet-1", VpcID: "vpc-1", AvailabilityZone: "us-east-1a"}
			update(t, s, func(tx store.Tx) error {
				noErr(t, "InsertSubnet", tx.InsertSubnet(sub))
				noErr(t, "InsertSubnet", tx.InsertSubnet(store.Subnet{Account: acctA, Region: region1, ID: "subnet-2", VpcID: "vpc-1", AvailabilityZone: "us-east-1b"}))
				// The same subnet ID is another subnet in another account or region.
				noErr(t, "InsertSubnet other account", tx.InsertSubnet(store.Subnet{Account: acctB, Region: region1, ID: "subnet-1", VpcID: "vpc-9"}))
				noErr(t, "InsertSubnet other region", tx.InsertSubnet(store.Subnet{Account: acctA, Region: region2, ID: "subnet-1", VpcID: "vpc-8"}))
				return nil
			})
			update(t, s, func(tx store.Tx) error {
				again := sub
				again.VpcID = "vpc-changed"
				isErr(t, "InsertSubnet again", tx.InsertSubnet(again), store.ErrConflict)
				return nil
			})
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Subnet(acctA, region1, "subnet-1")
				noErr(t, "Subnet", err)
				equal(t, "subnet", got, sub)
				got, err = tx.Subnet(acctB, region1, "subnet-1")
				noErr(t, "Subnet", err)
				equal(t, "subnet VPC in the other account", got.VpcID, "vpc-9")
				_, err = tx.Subnet(acctA, region1, "subnet-none")
				isErr(t, "Subnet", err, store.ErrNotFound)
				_, err = tx.Subnet(acctC, region1, "subnet-1")
				isErr(t, "Subnet of another account", err, store.ErrNotFound)
				for _, tc := range []struct {
					account, region string
					want            int
				}{{acctA, region1, 2}, {acctB, region1, 1}, {acctA, region2, 1}, {acctC, region1, 0}} {
					n, err := tx.CountSubnets(tc.account, tc.region)
					noErr(t, "CountSubnets", err)
					equal(t, "CountSubnets("+tc.account+", "+tc.region+")", n, tc.want)
				}
				return nil
			})
		}},
	}
}

func tagTests() []contractTest {
	return []contractTest{
		{"Tags: PutTags adds and replaces, DeleteTags removes, lists ordered by key, untagged resources absent", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error {
				noErr(t, "PutTags", tx.PutTags("backup-1", []store.Tag{{Key: "b", Value: "1"}, {Key: "a", Value: "2"}}))
				noErr(t, "PutTags", tx.PutTags("cluster-1", []store.Tag{{Key: "z", Value: "9"}}))
				noErr(t, "PutTags nothing", tx.PutTags("backup-2", nil))
				return nil
			})
			update(t, s, func(tx store.Tx) error {
				return tx.PutTags("backup-1", []store.Tag{{Key: "b", Value: "3"}, {Key: "c", Value: ""}, {Key: "aa", Value: "4"}})
			})
			view(t, s, func(tx store.Tx) error {
				tags, err := tx.Tags("backup-1", "cluster-1", "backup-2", "backup-none")
				noErr(t, "Tags", err)
				equal(t, "tags", tags, map[string][]store.Tag{
					"backup-1":  {{Key: "a", Value: "2"}, {Key: "aa", Value: "4"}, {Key: "b", Value: "3"}, {Key: "c", Value: ""}},
					"cluster-1": {{Key: "z", Value: "9"}},
				})
				tags, err = tx.Tags("cluster-1")
				noErr(t, "Tags", err)
				equal(t, "tags of one resource", tags, map[string][]store.Tag{"cluster-1": {{Key: "z", Value: "9"}}})
				tags, err = tx.Tags()
				noErr(t, "Tags of nothing", err)
				equal(t, "tags of nothing", len(tags), 0)
				return nil
			})
			update(t, s, func(tx store.Tx) error {
				noErr(t, "DeleteTags", tx.DeleteTags("backup-1", []string{"aa", "b", "absent"}))
				noErr(t, "DeleteTags of nothing", tx.DeleteTags("backup-1", nil))
				noErr(t, "DeleteTags of an untagged resource", tx.DeleteTags("backup-none", []string{"a"}))
				return tx.DeleteTags("cluster-1", []string{"z"})
			})
			view(t, s, func(tx store.Tx) error {
				tags, err := tx.Tags("backup-1", "cluster-1")
				noErr(t, "Tags", err)
				equal(t, "tags after DeleteTags", tags, map[string][]store.Tag{
					"backup-1": {{Key: "a", Value: "2"}, {Key: "c", Value: ""}},
				})
				return nil
			})
		}},
	}
}

func identityTests() []contractTest {
	return []contractTest{
		{"ClusterIdentity: PutClusterIdentity records or replaces, survives DeleteCluster, ErrNotFound when unset", func(t *testing.T, s store.Store) {
			first := store.Certificates{ClusterKey: "key", HsmCertificate: "hsm", ClusterCertificate: "cert"}
			second := store.Certificates{ClusterKey: "key2", ClusterCertificate: "cert2"}
			update(t, s, func(tx store.Tx) error {
				_, err := tx.ClusterIdentity("cluster-1")
				isErr(t, "ClusterIdentity before PutClusterIdentity", err, store.ErrNotFound)
				noErr(t, "InsertCluster", tx.InsertCluster(newCluster("cluster-1", at(0))))
				noErr(t, "PutClusterIdentity", tx.PutClusterIdentity("cluster-1", first))
				got, err := tx.ClusterIdentity("cluster-1")
				noErr(t, "ClusterIdentity", err)
				equal(t, "identity", got, first)
				noErr(t, "PutClusterIdentity again", tx.PutClusterIdentity("cluster-1", second))
				return tx.DeleteCluster("cluster-1")
			})
			view(t, s, func(tx store.Tx) error {
				got, err := tx.ClusterIdentity("cluster-1")
				noErr(t, "ClusterIdentity after DeleteCluster", err)
				equal(t, "replaced identity", got, second)
				return nil
			})
		}},
	}
}

func policyTests() []contractTest {
	return []contractTest{
		{"Policy: PutPolicy creates or replaces with its grants, DeletePolicy removes, ErrNotFound", func(t *testing.T, s store.Store) {
			view(t, s, func(tx store.Tx) error {
				_, err := tx.Policy("backup-1")
				isErr(t, "Policy before PutPolicy", err, store.ErrNotFound)
				return nil
			})
			first := store.Policy{BackupID: "backup-1", Document: `{"Version":"2012-10-17"}`, Grants: []store.Grant{
				{Account: acctB, Describe: true},
				{Account: acctC, Describe: true, CreateCluster: true},
				{Account: acctD, CreateCluster: true},
			}}
			other := store.Policy{BackupID: "backup-2", Document: "{}", Grants: []store.Grant{{Account: acctB, Describe: true}}}
			update(t, s, func(tx store.Tx) error {
				noErr(t, "PutPolicy", tx.PutPolicy(first))
				return tx.PutPolicy(other)
			})
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Policy("backup-1")
				noErr(t, "Policy", err)
				equal(t, "policy", sortedGrants(got), sortedGrants(first))
				return nil
			})
			second := store.Policy{BackupID: "backup-1", Document: `{"Statement":[]}`, Grants: []store.Grant{{Account: acctD, Describe: true}}}
			update(t, s, func(tx store.Tx) error { return tx.PutPolicy(second) })
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Policy("backup-1")
				noErr(t, "Policy", err)
				equal(t, "replaced policy", sortedGrants(got), sortedGrants(second))
				return nil
			})
			update(t, s, func(tx store.Tx) error {
				return tx.PutPolicy(store.Policy{BackupID: "backup-1", Document: "{}"})
			})
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Policy("backup-1")
				noErr(t, "Policy", err)
				equal(t, "document", got.Document, "{}")
				equal(t, "grants of a policy without grants", len(got.Grants), 0)
				return nil
			})
			update(t, s, func(tx store.Tx) error {
				noErr(t, "DeletePolicy", tx.DeletePolicy("backup-1"))
				isErr(t, "DeletePolicy again", tx.DeletePolicy("backup-1"), store.ErrNotFound)
				isErr(t, "DeletePolicy of a backup without one", tx.DeletePolicy("backup-none"), store.ErrNotFound)
				return nil
			})
			view(t, s, func(tx store.Tx) error {
				_, err := tx.Policy("backup-1")
				isErr(t, "Policy after DeletePolicy", err, store.ErrNotFound)
				got, err := tx.Policy("backup-2")
				noErr(t, "Policy of the other backup", err)
				equal(t, "other policy", sortedGrants(got), sortedGrants(other))
				return nil
			})
		}},
	}
}

// sortedGrants returns p with its grants sorted by account (the contract does not order them)
// and an empty grant list as nil.
func sortedGrants(p store.Policy) store.Policy {
	if len(p.Grants) == 0 {
		p.Grants = nil
		return p
	}
	p.Grants = slices.Clone(p.Grants)
	slices.SortFunc(p.Grants, func(a, b store.Grant) int { return strings.Compare(a.Account, b.Account) })
	return p
}
