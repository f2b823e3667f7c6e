package storetest

import (
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

func countTests() []contractTest {
	return []contractTest{
		{"CountResources of an empty store is empty", countEmpty},
		{"CountResources counts each kind by state over every account and region, ordered by Kind then State", countByKindAndState},
		{"CountResources follows state changes and purges, and works in a View", countFollowsChanges},
	}
}

func countResources(t *testing.T, s store.Store) []store.ResourceCount {
	t.Helper()
	var got []store.ResourceCount
	view(t, s, func(tx store.Tx) error {
		var err error
		got, err = tx.CountResources()
		return err
	})
	return got
}

func countEmpty(t *testing.T, s store.Store) {
	if got := countResources(t, s); len(got) != 0 {
		t.Fatalf("CountResources of an empty store = %+v, want none", got)
	}
}

// countFixture stores backups, clusters and HSMs of several owners in several states.
func countFixture(t *testing.T, s store.Store) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for i, spec := range []struct{ account, region, state string }{
			{acctA, region1, "READY"}, {acctA, region1, "READY"}, {acctA, region1, "PENDING_DELETION"},
			{acctA, region2, "READY"}, {acctB, region1, "READY"}, {acctB, region1, "DELETED"},
			{acctC, region2, "CREATE_IN_PROGRESS"},
		} {
			b := newBackup(ids("backup", 7)[i], at(i))
			b.Account, b.Region, b.State = spec.account, spec.region, spec.state
			noErr(t, "InsertBackup", tx.InsertBackup(b))
		}
		for i, spec := range []struct{ account, state string }{
			{acctA, "ACTIVE"}, {acctB, "ACTIVE"}, {acctB, "DELETED"}, {acctC, "UNINITIALIZED"},
		} {
			c := newCluster(ids("cluster", 4)[i], at(i))
			c.Account, c.State = spec.account, spec.state
			noErr(t, "InsertCluster", tx.InsertCluster(c))
		}
		for i, state := range []string{"ACTIVE", "ACTIVE", "CREATE_IN_PROGRESS"} {
			h := newHSM(ids("hsm", 3)[i], "cluster-00", at(i))
			h.State = state
			noErr(t, "InsertHSM", tx.InsertHSM(h))
		}
		return nil
	})
}

func countByKindAndState(t *testing.T, s store.Store) {
	countFixture(t, s)
	equal(t, "CountResources", countResources(t, s), []store.ResourceCount{
		{Kind: store.KindBackup, State: "CREATE_IN_PROGRESS", Count: 1},
		{Kind: store.KindBackup, State: "DELETED", Count: 1},
		{Kind: store.KindBackup, State: "PENDING_DELETION", Count: 1},
		{Kind: store.KindBackup, State: "READY", Count: 4},
		{Kind: store.KindCluster, State: "ACTIVE", Count: 2},
		{Kind: store.KindCluster, State: "DELETED", Count: 1},
		{Kind: store.KindCluster, State: "UNINITIALIZED", Count: 1},
		{Kind: store.KindHSM, State: "ACTIVE", Count: 2},
		{Kind: store.KindHSM, State: "CREATE_IN_PROGRESS", Count: 1},
	})
}

func countFollowsChanges(t *testing.T, s store.Store) {
	countFixture(t, s)
	want := []store.ResourceCount{
		{Kind: store.KindBackup, State: "CREATE_IN_PROGRESS", Count: 1},
		{Kind: store.KindBackup, State: "READY", Count: 5},
		{Kind: store.KindCluster, State: "ACTIVE", Count: 2},
		{Kind: store.KindCluster, State: "UNINITIALIZED", Count: 1},
		{Kind: store.KindHSM, State: "ACTIVE", Count: 2},
	}
	update(t, s, func(tx store.Tx) error {
		b, err := tx.Backup("backup-02") // the PENDING_DELETION one
		noErr(t, "Backup", err)
		b.State = "READY"
		_, err = tx.UpdateBackup(b)
		noErr(t, "UpdateBackup", err)
		noErr(t, "DeleteBackup", tx.DeleteBackup("backup-05")) // the DELETED one, purged
		noErr(t, "DeleteCluster", tx.DeleteCluster("cluster-02"))
		noErr(t, "DeleteHSM", tx.DeleteHSM("hsm-02"))
		got, err := tx.CountResources()
		noErr(t, "CountResources in the Update", err)
		equal(t, "CountResources in the Update that made the changes", got, want)
		return nil
	})
	equal(t, "CountResources after the Update", countResources(t, s), want)
}
