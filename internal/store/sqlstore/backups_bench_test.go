package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

// The benchmark store is shaped like bench/run.sh's: one account holds 10,000 backups, the
// oldest 100 of cluster A and the rest of cluster B; one backup in ten has two tags.
const (
	benchAccount = "111122223333"
	benchRegion  = "us-east-1"
	benchBackups = 10_000
	benchA       = "cluster-aaaaaaaaaaa"
	benchB       = "cluster-bbbbbbbbbbb"
)

var (
	benchOnce  sync.Once
	benchStore *sqlstore.Store
	benchErr   error
)

// benchmarkStore returns the shared in-memory store, seeded once.
func benchmarkStore(b *testing.B) *sqlstore.Store {
	b.Helper()
	benchOnce.Do(func() {
		ctx := context.Background()
		benchStore, benchErr = sqlstore.Open(ctx, "memory")
		if benchErr != nil {
			return
		}
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		benchErr = benchStore.Update(ctx, store.Everything(), func(tx store.Tx) error {
			for i := range benchBackups {
				cluster := benchB
				if i < 100 {
					cluster = benchA
				}
				id := benchBackupID(i)
				if err := tx.InsertBackup(store.Backup{
					ID: id, Account: benchAccount, Region: benchRegion, ClusterID: cluster,
					State: "READY", HsmType: "hsm2m.medium", Mode: "FIPS",
					CreatedAt: t0.Add(time.Duration(i) * time.Second), Version: 1,
				}); err != nil {
					return err
				}
				if i%10 == 0 {
					if err := tx.PutTags(id, []store.Tag{{Key: "team", Value: "crypto"}, {Key: "env", Value: "ci"}}); err != nil {
						return err
					}
				}
			}
			return nil
		})
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchStore
}

func benchBackupID(i int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	id := []byte("backup-aaaaaaaaaaa")
	for p := len(id) - 1; i > 0; p-- {
		id[p] = alphabet[i%32]
		i /= 32
	}
	return string(id)
}

// benchView runs Backups(q) with the tags, as DescribeBackups asks for its pages (the texts
// prepared at Open).
func benchView(b *testing.B, q store.BackupQuery, want int) {
	q.WithTags = true
	st := benchmarkStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		err := st.View(ctx, func(tx store.Tx) error {
			got, err := tx.Backups(q)
			if err == nil && len(got) != want {
				err = fmt.Errorf("got %d backups, want %d", len(got), want)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// A page of 51 (DescribeBackups asks for one more than it returns) of 10,000 backups.
func BenchmarkBackupsPage(b *testing.B) {
	benchView(b, store.BackupQuery{Account: benchAccount, Region: benchRegion, Limit: 51}, 51)
}

// One backup by ID: what every waiter polls.
func BenchmarkBackupsByID(b *testing.B) {
	benchView(b, store.BackupQuery{Account: benchAccount, Region: benchRegion, IDs: []string{benchBackupID(42)}, Limit: 51}, 1)
}

// The first page of cluster A, whose 100 backups are the oldest of the 10,000.
func BenchmarkBackupsByCluster(b *testing.B) {
	benchView(b, store.BackupQuery{Account: benchAccount, Region: benchRegion, ClusterIDs: []string{benchA}, Limit: 51}, 51)
}

// The clock's two settings: the first statement of every transaction of the service.
func BenchmarkSettings(b *testing.B) {
	st := benchmarkStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := st.View(ctx, func(tx store.Tx) error {
			_, err := tx.Settings("clock.offset_ms", "clock.floor_ms")
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// The question every transaction of the service asks next.
func BenchmarkNextEvent(b *testing.B) {
	st := benchmarkStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := st.View(ctx, func(tx store.Tx) error {
			_, _, err := tx.NextEvent(store.Everything())
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// A read-write transaction that loads and rewrites one backup.
func BenchmarkUpdateBackup(b *testing.B) {
	st := benchmarkStore(b)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		id := benchBackupID(100 + i%(benchBackups-100))
		i++
		if err := st.Update(ctx, store.Everything(), func(tx store.Tx) error {
			bk, err := tx.Backup(id)
			if err != nil {
				return err
			}
			bk.NeverExpires = !bk.NeverExpires
			_, err = tx.UpdateBackup(bk)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}
