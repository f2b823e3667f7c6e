package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

func backupQueryTests() []contractTest {
	return []contractTest{
		{"Backups filters: empty lists and nil pointers do not filter, values OR, fields AND", backupFilters},
		{"Backups SharedWith selects other accounts' backups in Region that a policy lets the account describe", backupsSharedWith},
		{"Backups WithTags loads each backup's tags as Tags returns them, nil when it has none", backupsWithTags},
		{"Backups are ordered by (CreatedAt, ID) descending unless Ascending", backupOrder},
		{"Backups start strictly after q.After and return at most q.Limit (0 = no limit)", backupAfterLimit},
		{"Backups keyset pagination visits every row exactly once while rows change between pages", backupPagination},
	}
}

// filterFixture is the data set of backupFilters: backups of acctA in region1 unless noted.
func filterFixture() []store.Backup {
	mk := func(id string, created int, cluster, source, state string, never bool) store.Backup {
		b := newBackup(id, at(created))
		b.ClusterID, b.SourceBackupID, b.State, b.NeverExpires = cluster, source, state, never
		if source != "" {
			b.SourceRegion, b.SourceClusterID, b.CopiedAt = region2, "cluster-src", at(created)
		}
		return b
	}
	other := mk("backup-07", 3, "cluster-9", "", "READY", false)
	other.Account = acctB
	elsewhere := mk("backup-08", 7, "cluster-1", "", "READY", false)
	elsewhere.Region = region2
	return []store.Backup{
		mk("backup-01", 1, "cluster-1", "", "READY", false),
		mk("backup-02", 2, "cluster-1", "", "PENDING_DELETION", false),
		mk("backup-03", 3, "cluster-2", "", "READY", true),
		mk("backup-04", 4, "cluster-2", "", "CREATE_IN_PROGRESS", false),
		mk("backup-05", 5, "", "backup-src1", "READY", false),
		mk("backup-06", 6, "", "backup-src2", "DELETED", true),
		other,
		elsewhere,
	}
}

func backupFilters(t *testing.T, s store.Store) {
	fixture := filterFixture()
	update(t, s, func(tx store.Tx) error {
		for _, b := range fixture {
			noErr(t, "InsertBackup "+b.ID, tx.InsertBackup(b))
		}
		return nil
	})
	yes, no := true, false
	all := []string{"backup-06", "backup-05", "backup-04", "backup-03", "backup-02", "backup-01"}
	cases := []struct {
		name string
		q    store.BackupQuery
		want []string
	}{
		{"no filter", store.BackupQuery{}, all},
		{"empty lists", store.BackupQuery{IDs: []string{}, SourceBackupIDs: []string{}, ClusterIDs: []string{}, States: []string{}}, all},
		{"IDs", store.BackupQuery{IDs: []string{"backup-03"}}, []string{"backup-03"}},
		{"IDs of other owners do not match", store.BackupQuery{IDs: []string{"backup-01", "backup-03", "backup-07", "backup-08", "backup-99"}}, []string{"backup-03", "backup-01"}},
		{"ClusterIDs one", store.BackupQuery{ClusterIDs: []string{"cluster-1"}}, []string{"backup-02", "backup-01"}},
		{"ClusterIDs two", store.BackupQuery{ClusterIDs: []string{"cluster-1", "cluster-2"}}, []string{"backup-04", "backup-03", "backup-02", "backup-01"}},
		{"SourceBackupIDs one", store.BackupQuery{SourceBackupIDs: []string{"backup-src1"}}, []string{"backup-05"}},
		{"SourceBackupIDs two", store.BackupQuery{SourceBackupIDs: []string{"backup-src1", "backup-src2"}}, []string{"backup-06", "backup-05"}},
		{"States one", store.BackupQuery{States: []string{"READY"}}, []string{"backup-05", "backup-03", "backup-01"}},
		{"States two", store.BackupQuery{States: []string{"READY", "DELETED"}}, []string{"backup-06", "backup-05", "backup-03", "backup-01"}},
		{"NeverExpires true", store.BackupQuery{NeverExpires: &yes}, []string{"backup-06", "backup-03"}},
		{"NeverExpires false", store.BackupQuery{NeverExpires: &no}, []string{"backup-05", "backup-04", "backup-02", "backup-01"}},
		{"ClusterIDs and States", store.BackupQuery{ClusterIDs: []string{"cluster-1", "cluster-2"}, States: []string{"READY"}}, []string{"backup-03", "backup-01"}},
		{"States, NeverExpires and IDs", store.BackupQuery{States: []string{"READY", "PENDING_DELETION"}, NeverExpires: &no,
			IDs: []string{"backup-01", "backup-02", "backup-03", "backup-05"}}, []string{"backup-05", "backup-02", "backup-01"}},
		{"SourceBackupIDs and ClusterIDs exclude each other", store.BackupQuery{SourceBackupIDs: []string{"backup-src1"}, ClusterIDs: []string{"cluster-1"}}, []string{}},
		{"all filters", store.BackupQuery{IDs: []string{"backup-06", "backup-05"}, SourceBackupIDs: []string{"backup-src2"},
			ClusterIDs: []string{""}, States: []string{"DELETED"}, NeverExpires: &yes}, []string{"backup-06"}},
		{"other account", store.BackupQuery{Account: acctB}, []string{"backup-07"}},
		{"other region", store.BackupQuery{Region: region2}, []string{"backup-08"}},
		{"unknown account", store.BackupQuery{Account: acctD}, []string{}},
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
				got, err := tx.Backups(q)
				noErr(t, "Backups", err)
				equal(t, "backups", backupIDs(got), tc.want)
				return nil
			})
		})
	}
	t.Run("rows are complete", func(t *testing.T) {
		view(t, s, func(tx store.Tx) error {
			got, err := tx.Backups(store.BackupQuery{Account: acctA, Region: region1, Ascending: true})
			noErr(t, "Backups", err)
			equal(t, "backups", got, fixture[:6])
			return nil
		})
	})
}

func backupsWithTags(t *testing.T, s store.Store) {
	fixture := filterFixture()
	tags := map[string][]store.Tag{
		// Byte order ("B" < "a" < "é"), and values that need escaping in JSON.
		"backup-01": {{Key: "b", Value: "2"}, {Key: "é", Value: `"quoted" \ [x]`}, {Key: "B", Value: "1"}, {Key: "a", Value: ""}},
		"backup-04": {{Key: "k", Value: "v"}},
		"backup-07": {{Key: "other", Value: "account"}},
	}
	update(t, s, func(tx store.Tx) error {
		for _, b := range fixture {
			noErr(t, "InsertBackup "+b.ID, tx.InsertBackup(b))
		}
		for id, ts := range tags {
			noErr(t, "PutTags "+id, tx.PutTags(id, ts))
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		byID, err := tx.Tags(backupIDs(fixture)...)
		noErr(t, "Tags", err)
		want := slices.Clone(fixture[:6])
		for i := range want {
			want[i].Tags = byID[want[i].ID]
		}
		equal(t, "tags of backup-01", want[0].Tags, []store.Tag{{Key: "B", Value: "1"}, {Key: "a", Value: ""}, {Key: "b", Value: "2"}, {Key: "é", Value: `"quoted" \ [x]`}})
		got, err := tx.Backups(store.BackupQuery{Account: acctA, Region: region1, Ascending: true, WithTags: true})
		noErr(t, "Backups WithTags", err)
		equal(t, "backups with tags", got, want)
		got, err = tx.Backups(store.BackupQuery{Account: acctA, Region: region1, ClusterIDs: []string{"cluster-2"}, Limit: 1, WithTags: true})
		noErr(t, "Backups WithTags, filtered and limited", err)
		equal(t, "backups with tags, filtered and limited", got, want[3:4])
		got, err = tx.Backups(store.BackupQuery{Account: acctA, Region: region1, Ascending: true})
		noErr(t, "Backups", err)
		equal(t, "backups without WithTags", got, fixture[:6])
		return nil
	})
}

func backupsSharedWith(t *testing.T, s store.Store) {
	describe := func(acct string) store.Grant { return store.Grant{Account: acct, Describe: true} }
	type row struct {
		id      string
		account string
		region  string
		created int
		grants  []store.Grant // nil: no policy
	}
	rows := []row{
		{"backup-s1", acctA, region1, 1, []store.Grant{describe(acctC)}},
		{"backup-s2", acctB, region1, 2, []store.Grant{{Account: acctC, Describe: true, CreateCluster: true}}},
		{"backup-s3", acctA, region1, 3, []store.Grant{{Account: acctC, CreateCluster: true}}}, // cannot describe
		{"backup-s4", acctA, region2, 4, []store.Grant{describe(acctC)}},                       // other region
		{"backup-s5", acctC, region1, 5, []store.Grant{describe(acctC)}},                       // its own
		{"backup-s6", acctA, region1, 6, []store.Grant{describe(acctD), describe(acctC), {Account: acctC, CreateCluster: true}}},
		{"backup-s7", acctA, region1, 7, nil},
		{"backup-s8", acctB, region1, 8, []store.Grant{describe(acctC)}}, // replaced below
		{"backup-s9", acctB, region1, 9, []store.Grant{describe(acctC)}}, // deleted below
		{"backup-s10", acctB, region1, 10, []store.Grant{describe(acctD)}},
	}
	update(t, s, func(tx store.Tx) error {
		for _, r := range rows {
			b := newBackup(r.id, at(r.created))
			b.Account, b.Region = r.account, r.region
			if r.id == "backup-s2" {
				b.State = "PENDING_DELETION"
			}
			noErr(t, "InsertBackup", tx.InsertBackup(b))
			if r.grants != nil {
				noErr(t, "PutPolicy", tx.PutPolicy(store.Policy{BackupID: r.id, Document: "{}", Grants: r.grants}))
			}
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		noErr(t, "PutPolicy", tx.PutPolicy(store.Policy{BackupID: "backup-s8", Document: "{}", Grants: []store.Grant{describe(acctD)}}))
		return tx.DeletePolicy("backup-s9")
	})
	cases := []struct {
		name string
		q    store.BackupQuery
		want []string
	}{
		{"shared with C", store.BackupQuery{Account: acctC, Region: region1, SharedWith: acctC}, []string{"backup-s6", "backup-s2", "backup-s1"}},
		{"ascending", store.BackupQuery{Account: acctC, Region: region1, SharedWith: acctC, Ascending: true}, []string{"backup-s1", "backup-s2", "backup-s6"}},
		{"with States", store.BackupQuery{Account: acctC, Region: region1, SharedWith: acctC, States: []string{"READY"}}, []string{"backup-s6", "backup-s1"}},
		{"with IDs", store.BackupQuery{Account: acctC, Region: region1, SharedWith: acctC, IDs: []string{"backup-s2", "backup-s3", "backup-s5"}}, []string{"backup-s2"}},
		{"with Limit", store.BackupQuery{Account: acctC, Region: region1, SharedWith: acctC, Limit: 2}, []string{"backup-s6", "backup-s2"}},
		{"other region", store.BackupQuery{Account: acctC, Region: region2, SharedWith: acctC}, []string{"backup-s4"}},
		{"shared with D", store.BackupQuery{Account: acctD, Region: region1, SharedWith: acctD}, []string{"backup-s10", "backup-s8", "backup-s6"}},
		{"shared with nobody", store.BackupQuery{Account: acctB, Region: region1, SharedWith: acctB}, []string{}},
		{"owned by C, for contrast", store.BackupQuery{Account: acctC, Region: region1}, []string{"backup-s5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Backups(tc.q)
				noErr(t, "Backups", err)
				equal(t, "backups", backupIDs(got), tc.want)
				return nil
			})
		})
	}
	t.Run("shared backups carry their owners' account and region", func(t *testing.T) {
		view(t, s, func(tx store.Tx) error {
			got, err := tx.Backups(store.BackupQuery{Account: acctC, Region: region1, SharedWith: acctC, WithTags: true})
			noErr(t, "Backups", err)
			var owners []string
			for _, b := range got {
				owners = append(owners, b.Account+"/"+b.Region)
			}
			equal(t, "owners", owners, []string{acctA + "/" + region1, acctB + "/" + region1, acctA + "/" + region1})
			return nil
		})
	})
}

// orderFixture has ties on CreatedAt, inserted out of order.
func orderFixture() []store.Backup {
	return []store.Backup{
		newBackup("backup-x2", at(1)),
		newBackup("backup-z0", at(2)),
		newBackup("backup-x1", at(1)),
		newBackup("backup-y0", at(0)),
		newBackup("backup-x3", at(1)),
	}
}

func backupOrder(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		for _, b := range orderFixture() {
			noErr(t, "InsertBackup", tx.InsertBackup(b))
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		got, err := tx.Backups(store.BackupQuery{Account: acctA, Region: region1})
		noErr(t, "Backups", err)
		equal(t, "descending", backupIDs(got), []string{"backup-z0", "backup-x3", "backup-x2", "backup-x1", "backup-y0"})
		got, err = tx.Backups(store.BackupQuery{Account: acctA, Region: region1, Ascending: true})
		noErr(t, "Backups", err)
		equal(t, "ascending", backupIDs(got), []string{"backup-y0", "backup-x1", "backup-x2", "backup-x3", "backup-z0"})
		return nil
	})
}

func backupAfterLimit(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		for _, b := range orderFixture() {
			noErr(t, "InsertBackup", tx.InsertBackup(b))
		}
		return nil
	})
	cases := []struct {
		name  string
		after *store.Cursor
		asc   bool
		limit int
		want  []string
	}{
		{"desc after a row", &store.Cursor{CreatedAt: at(1), ID: "backup-x2"}, false, 0, []string{"backup-x1", "backup-y0"}},
		{"asc after a row", &store.Cursor{CreatedAt: at(1), ID: "backup-x2"}, true, 0, []string{"backup-x3", "backup-z0"}},
		{"desc after a position between rows", &store.Cursor{CreatedAt: at(1), ID: "backup-x25"}, false, 0, []string{"backup-x2", "backup-x1", "backup-y0"}},
		{"asc after a position between rows", &store.Cursor{CreatedAt: at(1), ID: "backup-x25"}, true, 0, []string{"backup-x3", "backup-z0"}},
		{"desc after a time without rows", &store.Cursor{CreatedAt: at(1).Add(30 * time.Second)}, false, 0, []string{"backup-x3", "backup-x2", "backup-x1", "backup-y0"}},
		{"asc after the last row", &store.Cursor{CreatedAt: at(2), ID: "backup-z0"}, true, 0, []string{}},
		{"desc after the last row", &store.Cursor{CreatedAt: at(0), ID: "backup-y0"}, false, 0, []string{}},
		{"desc limit", nil, false, 2, []string{"backup-z0", "backup-x3"}},
		{"asc limit", nil, true, 2, []string{"backup-y0", "backup-x1"}},
		{"limit above the count", nil, true, 10, []string{"backup-y0", "backup-x1", "backup-x2", "backup-x3", "backup-z0"}},
		{"after and limit", &store.Cursor{CreatedAt: at(1), ID: "backup-x3"}, false, 2, []string{"backup-x2", "backup-x1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Backups(store.BackupQuery{Account: acctA, Region: region1, After: tc.after, Ascending: tc.asc, Limit: tc.limit})
				noErr(t, "Backups", err)
				equal(t, "backups", backupIDs(got), tc.want)
				return nil
			})
		})
	}
}

// cursorLess orders (CreatedAt, ID) positions.
func cursorLess(a, b store.Cursor) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
}

// backupPagination pages through backups three at a time, in both directions, and between
// pages inserts rows ahead of and behind the cursor and deletes rows not yet visited and
// already visited. Rows present throughout are visited exactly once, rows inserted ahead once,
// rows inserted behind and rows deleted before being reached never, and the order never goes
// back.
func backupPagination(t *testing.T, s store.Store) {
	for _, asc := range []bool{false, true} {
		t.Run(fmt.Sprintf("ascending=%v", asc), func(t *testing.T) {
			update(t, s, func(tx store.Tx) error { return tx.Reset() })
			// expect: ID -> whether the iteration must visit it.
			expect := map[string]bool{}
			pos := map[string]store.Cursor{}
			var live []string
			insert := func(tx store.Tx, id string, created time.Time, visit bool) {
				noErr(t, "InsertBackup", tx.InsertBackup(newBackup(id, created)))
				expect[id], pos[id] = visit, store.Cursor{CreatedAt: created, ID: id}
				live = append(live, id)
			}
			// ahead reports whether position p is still to come after cursor c.
			ahead := func(c, p store.Cursor) bool {
				if asc {
					return cursorLess(c, p)
				}
				return cursorLess(p, c)
			}
			update(t, s, func(tx store.Tx) error {
				for i := range 20 {
					// IDs out of step with times, three rows per instant.
					insert(tx, fmt.Sprintf("backup-%02d", (i*7)%20), at(i/3), true)
				}
				return nil
			})
			seen := map[string]int{}
			var cursor *store.Cursor
			for page := 0; ; page++ {
				if page > 50 {
					t.Fatal("pagination does not end")
				}
				var got []store.Backup
				view(t, s, func(tx store.Tx) error {
					var err error
					got, err = tx.Backups(store.BackupQuery{Account: acctA, Region: region1, Ascending: asc, After: cursor, Limit: 3})
					noErr(t, "Backups", err)
					return nil
				})
				if len(got) > 3 {
					t.Fatalf("page %d has %d rows, limit 3", page, len(got))
				}
				for _, b := range got {
					c := store.Cursor{CreatedAt: b.CreatedAt, ID: b.ID}
					if cursor != nil && !ahead(*cursor, c) {
						t.Fatalf("page %d: %s is not after the cursor %v", page, b.ID, *cursor)
					}
					cursor = &c
					seen[b.ID]++
				}
				if len(got) == 0 {
					break
				}
				c := *cursor
				update(t, s, func(tx store.Tx) error {
					// Rows at the cursor's own instant, on both sides of its ID, and at the
					// neighbouring instants.
					for _, r := range []struct {
						id string
						at time.Time
					}{
						{fmt.Sprintf("backup-%02d-a", page), c.CreatedAt},
						{fmt.Sprintf("backup-%02d-b", page), c.CreatedAt.Add(time.Millisecond)},
						{fmt.Sprintf("backup-%02d-c", page), c.CreatedAt.Add(-time.Millisecond)},
						{fmt.Sprintf("backup-%02d-d", page), at(3)},
					} {
						p := store.Cursor{CreatedAt: r.at, ID: r.id}
						insert(tx, r.id, r.at, ahead(c, p))
					}
					// Delete the first live row still ahead, and the first one already visited.
					deletedAhead, deletedBehind := false, false
					for _, id := range slices.Clone(live) {
						isAhead := ahead(c, pos[id])
						if (isAhead && deletedAhead) || (!isAhead && deletedBehind) {
							continue
						}
						noErr(t, "DeleteBackup", tx.DeleteBackup(id))
						live = slices.DeleteFunc(live, func(x string) bool { return x == id })
						if isAhead {
							deletedAhead = true
							expect[id] = false
						} else {
							deletedBehind = true
						}
					}
					return nil
				})
			}
			for id, visit := range expect {
				want := 0
				if visit {
					want = 1
				}
				if seen[id] != want {
					t.Errorf("%s visited %d times, want %d", id, seen[id], want)
				}
			}
			for id := range seen {
				if _, ok := expect[id]; !ok {
					t.Errorf("visited unknown row %s", id)
				}
			}
		})
	}
}

func censusTests() []contractTest {
	return []contractTest{
		{"Census counts clusters, HSMs (in their cluster's owner) and backups by owner and state, in byte order", census},
		{"Census of an empty store is empty", func(t *testing.T, s store.Store) {
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Census()
				noErr(t, "Census", err)
				equal(t, "Census", len(got), 0)
				return nil
			})
		}},
	}
}

func census(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		c1 := newCluster("cluster-1", at(1))
		c2 := newCluster("cluster-2", at(2))
		c2.State = "UNINITIALIZED"
		c3 := newCluster("cluster-3", at(3))
		c3.Account = acctB
		c4 := newCluster("cluster-4", at(4))
		c4.Region = region2
		for _, c := range []store.Cluster{c1, c2, c3, c4} {
			noErr(t, "InsertCluster "+c.ID, tx.InsertCluster(c))
		}
		deleting := newHSM("hsm-3", "cluster-1", at(3))
		deleting.State = "DELETE_IN_PROGRESS"
		for _, h := range []store.HSM{newHSM("hsm-1", "cluster-1", at(1)), newHSM("hsm-2", "cluster-3", at(2)), deleting} {
			noErr(t, "InsertHSM "+h.ID, tx.InsertHSM(h))
		}
		for _, b := range filterFixture() {
			noErr(t, "InsertBackup "+b.ID, tx.InsertBackup(b))
		}
		return nil
	})
	count := func(account, region, kind, state string, n int) store.StateCount {
		return store.StateCount{Account: account, Region: region, Kind: kind, State: state, Count: n}
	}
	want := []store.StateCount{
		count(acctA, region2, store.KindBackup, "READY", 1),
		count(acctA, region2, store.KindCluster, "ACTIVE", 1),
		count(acctA, region1, store.KindBackup, "CREATE_IN_PROGRESS", 1),
		count(acctA, region1, store.KindBackup, "DELETED", 1),
		count(acctA, region1, store.KindBackup, "PENDING_DELETION", 1),
		count(acctA, region1, store.KindBackup, "READY", 3),
		count(acctA, region1, store.KindCluster, "ACTIVE", 1),
		count(acctA, region1, store.KindCluster, "UNINITIALIZED", 1),
		count(acctA, region1, store.KindHSM, "ACTIVE", 1),
		count(acctA, region1, store.KindHSM, "DELETE_IN_PROGRESS", 1),
		count(acctB, region1, store.KindBackup, "READY", 1),
		count(acctB, region1, store.KindCluster, "ACTIVE", 1),
		count(acctB, region1, store.KindHSM, "ACTIVE", 1),
	}
	view(t, s, func(tx store.Tx) error {
		got, err := tx.Census()
		noErr(t, "Census", err)
		equal(t, "Census", got, want)
		return nil
	})
}
