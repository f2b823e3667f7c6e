package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

func settingTests() []contractTest {
	return []contractTest{
		{"Setting returns ErrNotFound if unset", func(t *testing.T, s store.Store) {
			view(t, s, func(tx store.Tx) error {
				_, err := tx.Setting("nope")
				isErr(t, "Setting", err, store.ErrNotFound)
				return nil
			})
		}},
		{"PutSetting creates or replaces a named value", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error {
				noErr(t, "PutSetting", tx.PutSetting("clock", "1"))
				noErr(t, "PutSetting", tx.PutSetting("other", "x"))
				return nil
			})
			update(t, s, func(tx store.Tx) error { return tx.PutSetting("clock", "2") })
			view(t, s, func(tx store.Tx) error {
				v, err := tx.Setting("clock")
				noErr(t, "Setting", err)
				equal(t, "replaced value", v, "2")
				v, err = tx.Setting("other")
				noErr(t, "Setting", err)
				equal(t, "other value", v, "x")
				return nil
			})
		}},
		{"Settings returns the values of the named settings that are set, in one read", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error {
				noErr(t, "PutSetting", tx.PutSetting("a", "1"))
				noErr(t, "PutSetting", tx.PutSetting("b", "2"))
				return nil
			})
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Settings("a", "b")
				noErr(t, "Settings", err)
				equal(t, "Settings(a, b)", got, map[string]string{"a": "1", "b": "2"})
				got, err = tx.Settings("b", "unset", "a")
				noErr(t, "Settings", err)
				equal(t, "Settings(b, unset, a)", got, map[string]string{"a": "1", "b": "2"})
				got, err = tx.Settings("unset", "nope")
				noErr(t, "Settings", err)
				equal(t, "Settings of unset names", got, map[string]string{})
				got, err = tx.Settings()
				noErr(t, "Settings", err)
				equal(t, "Settings()", got, map[string]string{})
				return nil
			})
		}},
		{"InitSetting keeps the first value and returns the value in force", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error {
				v, err := tx.InitSetting("key", "first")
				noErr(t, "InitSetting", err)
				equal(t, "first InitSetting", v, "first")
				v, err = tx.InitSetting("key", "second")
				noErr(t, "InitSetting", err)
				equal(t, "second InitSetting in the same transaction", v, "first")
				return nil
			})
			update(t, s, func(tx store.Tx) error {
				v, err := tx.InitSetting("key", "third")
				noErr(t, "InitSetting", err)
				equal(t, "InitSetting in a later transaction", v, "first")
				noErr(t, "PutSetting", tx.PutSetting("key", "put"))
				v, err = tx.InitSetting("key", "fourth")
				noErr(t, "InitSetting", err)
				equal(t, "InitSetting after PutSetting", v, "put")
				return nil
			})
		}},
		{"InitSetting concurrent callers all get the same winner", func(t *testing.T, s store.Store) {
			const n = 8
			got := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					err := s.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
						v, err := tx.InitSetting("token-key", string(rune('a'+i)))
						got[i] = v
						return err
					})
					if err != nil {
						t.Errorf("InitSetting %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			for i := range got {
				if got[i] != got[0] {
					t.Fatalf("callers got different values: %q", got)
				}
			}
			view(t, s, func(tx store.Tx) error {
				v, err := tx.Setting("token-key")
				noErr(t, "Setting", err)
				equal(t, "stored winner", v, got[0])
				return nil
			})
		}},
	}
}

func reserveIDTests() []contractTest {
	return []contractTest{
		{"ReserveID returns ErrConflict if the ID was reserved before", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error {
				noErr(t, "ReserveID", tx.ReserveID("backup-1"))
				noErr(t, "ReserveID of another ID", tx.ReserveID("backup-2"))
				isErr(t, "ReserveID again in the same transaction", tx.ReserveID("backup-1"), store.ErrConflict)
				return nil
			})
			update(t, s, func(tx store.Tx) error {
				isErr(t, "ReserveID in a later transaction", tx.ReserveID("backup-2"), store.ErrConflict)
				return nil
			})
		}},
		{"ReserveID conflict leaves the transaction usable", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error { return tx.ReserveID("backup-1") })
			update(t, s, func(tx store.Tx) error {
				isErr(t, "ReserveID", tx.ReserveID("backup-1"), store.ErrConflict)
				noErr(t, "ReserveID of the next candidate", tx.ReserveID("backup-2"))
				return tx.InsertBackup(newBackup("backup-2", at(0)))
			})
			view(t, s, func(tx store.Tx) error {
				_, err := tx.Backup("backup-2")
				noErr(t, "Backup", err)
				return nil
			})
		}},
		{"ReserveID never reuses an ID after its resource is purged", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error {
				noErr(t, "ReserveID", tx.ReserveID("backup-1"))
				noErr(t, "ReserveID", tx.ReserveID("cluster-1"))
				noErr(t, "InsertBackup", tx.InsertBackup(newBackup("backup-1", at(0))))
				return tx.InsertCluster(newCluster("cluster-1", at(0)))
			})
			update(t, s, func(tx store.Tx) error {
				noErr(t, "DeleteBackup", tx.DeleteBackup("backup-1"))
				return tx.DeleteCluster("cluster-1")
			})
			update(t, s, func(tx store.Tx) error {
				isErr(t, "ReserveID of a purged backup's ID", tx.ReserveID("backup-1"), store.ErrConflict)
				isErr(t, "ReserveID of a purged cluster's ID", tx.ReserveID("cluster-1"), store.ErrConflict)
				return nil
			})
		}},
	}
}

func backupTests() []contractTest {
	return []contractTest{
		{"Backup returns ErrNotFound for a missing backup", func(t *testing.T, s store.Store) {
			view(t, s, func(tx store.Tx) error {
				_, err := tx.Backup("backup-none")
				isErr(t, "Backup", err, store.ErrNotFound)
				return nil
			})
		}},
		{"InsertBackup adds a backup with Version 1, found in any account or region", func(t *testing.T, s store.Store) {
			b := fullBackup()
			in := b
			in.Version = 7
			update(t, s, func(tx store.Tx) error { return tx.InsertBackup(in) })
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Backup(b.ID)
				noErr(t, "Backup", err)
				equal(t, "inserted backup", got, b)
				return nil
			})
		}},
		{"InsertBackup returns ErrConflict if the ID exists", func(t *testing.T, s store.Store) {
			b := newBackup("backup-dup", at(0))
			update(t, s, func(tx store.Tx) error { return tx.InsertBackup(b) })
			other := newBackup("backup-dup", at(5))
			other.Account = acctB
			update(t, s, func(tx store.Tx) error {
				isErr(t, "InsertBackup", tx.InsertBackup(other), store.ErrConflict)
				return nil
			})
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Backup(b.ID)
				noErr(t, "Backup", err)
				equal(t, "backup after the failed insert", got, b)
				return nil
			})
		}},
		{"UpdateBackup stores State, NeverExpires, DeleteAt and DueAt, keeps the other fields, increments Version and returns the backup with it", func(t *testing.T, s store.Store) {
			b := newBackup("backup-upd", at(0))
			update(t, s, func(tx store.Tx) error { return tx.InsertBackup(b) })
			changed := fullBackup() // every field differs from b's
			changed.ID = b.ID
			changed.Version = 1
			var returned store.Backup
			update(t, s, func(tx store.Tx) error {
				var err error
				returned, err = tx.UpdateBackup(changed)
				return err
			})
			wantReturned := changed
			wantReturned.Version = 2
			equal(t, "returned backup", returned, wantReturned)
			want := b
			want.State, want.NeverExpires, want.DeleteAt, want.DueAt = changed.State, changed.NeverExpires, changed.DeleteAt, changed.DueAt
			want.Version = 2
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Backup(b.ID)
				noErr(t, "Backup", err)
				equal(t, "updated backup", got, want)
				return nil
			})
			// Back to absent times, twice in one transaction, without reading it back in between.
			update(t, s, func(tx store.Tx) error {
				again, err := tx.UpdateBackup(want)
				noErr(t, "UpdateBackup", err)
				again.State, again.NeverExpires, again.DeleteAt, again.DueAt = b.State, b.NeverExpires, b.DeleteAt, b.DueAt
				again, err = tx.UpdateBackup(again)
				noErr(t, "UpdateBackup again", err)
				want = again
				return nil
			})
			equal(t, "Version after two more updates", want.Version, int64(4))
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Backup(b.ID)
				noErr(t, "Backup", err)
				equal(t, "backup updated twice", got, want)
				return nil
			})
		}},
		{"UpdateBackup returns ErrConflict if the stored Version differs, and the backup unchanged", func(t *testing.T, s store.Store) {
			b := newBackup("backup-stale", at(0))
			update(t, s, func(tx store.Tx) error { return tx.InsertBackup(b) })
			update(t, s, func(tx store.Tx) error { _, err := tx.UpdateBackup(b); return err }) // now Version 2
			stale := b
			stale.State = "DELETED"
			for _, v := range []int64{1, 3, 0} {
				stale.Version = v
				update(t, s, func(tx store.Tx) error {
					got, err := tx.UpdateBackup(stale)
					isErr(t, "UpdateBackup with a stale Version", err, store.ErrConflict)
					equal(t, "backup returned with ErrConflict", got, stale)
					return nil
				})
			}
			view(t, s, func(tx store.Tx) error {
				got, err := tx.Backup(b.ID)
				noErr(t, "Backup", err)
				equal(t, "state", got.State, "READY")
				equal(t, "version", got.Version, int64(2))
				return nil
			})
		}},
		{"UpdateBackup returns ErrNotFound if there is no such backup, and the backup unchanged", func(t *testing.T, s store.Store) {
			missing := newBackup("backup-none", at(0))
			update(t, s, func(tx store.Tx) error {
				got, err := tx.UpdateBackup(missing)
				isErr(t, "UpdateBackup", err, store.ErrNotFound)
				equal(t, "backup returned with ErrNotFound", got, missing)
				return nil
			})
		}},
		{"DeleteBackup removes a backup with its tags and resource policy", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error {
				for _, id := range []string{"backup-del", "backup-keep"} {
					b := newBackup(id, at(0))
					b.Account = acctB
					noErr(t, "InsertBackup", tx.InsertBackup(b))
					noErr(t, "PutTags", tx.PutTags(id, []store.Tag{{Key: "a", Value: "1"}}))
					noErr(t, "PutPolicy", tx.PutPolicy(store.Policy{BackupID: id, Document: "{}",
						Grants: []store.Grant{{Account: acctC, Describe: true}}}))
				}
				return nil
			})
			update(t, s, func(tx store.Tx) error { return tx.DeleteBackup("backup-del") })
			view(t, s, func(tx store.Tx) error {
				_, err := tx.Backup("backup-del")
				isErr(t, "Backup", err, store.ErrNotFound)
				tags, err := tx.Tags("backup-del", "backup-keep")
				noErr(t, "Tags", err)
				equal(t, "tags", tags, map[string][]store.Tag{"backup-keep": {{Key: "a", Value: "1"}}})
				_, err = tx.Policy("backup-del")
				isErr(t, "Policy", err, store.ErrNotFound)
				_, err = tx.Policy("backup-keep")
				noErr(t, "Policy of the other backup", err)
				shared, err := tx.Backups(store.BackupQuery{Account: acctC, Region: region1, SharedWith: acctC})
				noErr(t, "Backups shared", err)
				equal(t, "shared backups", backupIDs(shared), []string{"backup-keep"})
				return nil
			})
			// A backup inserted again under the purged ID starts without tags or policy.
			update(t, s, func(tx store.Tx) error { return tx.InsertBackup(newBackup("backup-del", at(1))) })
			view(t, s, func(tx store.Tx) error {
				tags, err := tx.Tags("backup-del")
				noErr(t, "Tags", err)
				equal(t, "tags", len(tags), 0)
				_, err = tx.Policy("backup-del")
				isErr(t, "Policy", err, store.ErrNotFound)
				return nil
			})
		}},
		{"DeleteBackup of a missing backup is not an error", func(t *testing.T, s store.Store) {
			update(t, s, func(tx store.Tx) error { return tx.DeleteBackup("backup-none") })
		}},
		{"Times round-trip: zero as zero, others in UTC with millisecond precision", timeRoundTrip},
	}
}

// fullBackup is a backup of acctB in region2 with every field, every time included, set.
func fullBackup() store.Backup {
	return store.Backup{
		ID:              "backup-full",
		Account:         acctB,
		Region:          region2,
		ClusterID:       "",
		State:           "PENDING_DELETION",
		HsmType:         "hsm2m.medium",
		Mode:            "NON_FIPS",
		NeverExpires:    true,
		CreatedAt:       at(1),
		DeleteAt:        at(2),
		CopiedAt:        at(3),
		SourceRegion:    region1,
		SourceBackupID:  "backup-source",
		SourceClusterID: "cluster-source",
		DueAt:           at(4),
		Version:         1,
	}
}

// timeRoundTrip stores zero times and times with sub-millisecond parts in other zones.
func timeRoundTrip(t *testing.T, s store.Store) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	precise := time.Date(2026, time.July, 4, 10, 20, 30, 123_456_789, zone)
	want := time.Date(2026, time.July, 4, 4, 50, 30, 123_000_000, time.UTC)
	before := time.Date(1969, time.December, 31, 23, 59, 59, 999_999_999, time.UTC)
	wantBefore := time.Date(1969, time.December, 31, 23, 59, 59, 999_000_000, time.UTC)

	zeroB := newBackup("backup-zero", time.Time{})
	preciseB := newBackup("backup-precise", precise)
	preciseB.DeleteAt, preciseB.CopiedAt, preciseB.DueAt = precise, before, precise
	zeroC := newCluster("cluster-zero", time.Time{})
	preciseC := newCluster("cluster-precise", precise)
	preciseC.HsmTypeRollbackAt, preciseC.DueAt, preciseC.NextBackupAt = precise, precise, before
	zeroH := newHSM("hsm-zero", "c", time.Time{})
	preciseH := newHSM("hsm-precise", "c", precise)
	preciseH.DueAt = precise
	update(t, s, func(tx store.Tx) error {
		noErr(t, "InsertBackup", tx.InsertBackup(zeroB))
		noErr(t, "InsertBackup", tx.InsertBackup(preciseB))
		noErr(t, "InsertCluster", tx.InsertCluster(zeroC))
		noErr(t, "InsertCluster", tx.InsertCluster(preciseC))
		noErr(t, "InsertHSM", tx.InsertHSM(zeroH))
		noErr(t, "InsertHSM", tx.InsertHSM(preciseH))
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		b, err := tx.Backup(zeroB.ID)
		noErr(t, "Backup", err)
		equal(t, "backup with zero times", b, zeroB)
		b, err = tx.Backup(preciseB.ID)
		noErr(t, "Backup", err)
		preciseB.CreatedAt, preciseB.DeleteAt, preciseB.CopiedAt, preciseB.DueAt = want, want, wantBefore, want
		equal(t, "backup with precise times", b, preciseB)
		if b.CreatedAt.Location() != time.UTC {
			t.Fatalf("CreatedAt read back in %v, want UTC", b.CreatedAt.Location())
		}

		c, err := tx.Cluster(zeroC.ID)
		noErr(t, "Cluster", err)
		equal(t, "cluster with zero times", c, zeroC)
		c, err = tx.Cluster(preciseC.ID)
		noErr(t, "Cluster", err)
		preciseC.CreatedAt, preciseC.HsmTypeRollbackAt, preciseC.DueAt, preciseC.NextBackupAt = want, want, want, wantBefore
		equal(t, "cluster with precise times", c, preciseC)

		h, err := tx.HSM(zeroH.ID)
		noErr(t, "HSM", err)
		equal(t, "HSM with zero times", h, zeroH)
		h, err = tx.HSM(preciseH.ID)
		noErr(t, "HSM", err)
		preciseH.CreatedAt, preciseH.DueAt = want, want
		equal(t, "HSM with precise times", h, preciseH)
		return nil
	})
}
