package sqlstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore/pgtest"
)

// countBenchBackups is the size of the store a metrics scrape must stay cheap at.
const countBenchBackups = 1_000_000

// seedCountBench inserts n backups in one statement: 100 owners (10 accounts × 10 regions),
// a tenth PENDING_DELETION, a hundredth DELETED, the rest READY.
func seedCountBench(b *testing.B, s *Store, n int) {
	b.Helper()
	series := `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) SELECT i FROM n`
	if s.kind == "postgres" {
		series = `SELECT i FROM generate_series(0, ?) AS n(i)`
	}
	seed := `INSERT INTO backups (` + backupColumns + `)
	SELECT 'backup-' || i, 'acct-' || (i % 10), 'region-' || ((i / 10) % 10), 'cluster-' || (i % 100),
		CASE WHEN i % 100 = 0 THEN 'DELETED' WHEN i % 10 = 0 THEN 'PENDING_DELETION' ELSE 'READY' END,
		'hsm2m.medium', 'FIPS', false, i, NULL, NULL, '', '', '', NULL, 1
	FROM (` + series + `) AS s`
	ctx := context.Background()
	if _, err := s.writer.ExecContext(ctx, s.d.rebind(seed), n-1); err != nil {
		b.Fatalf("seed %d backups: %v", n, err)
	}
	if s.kind == "postgres" { // statistics and the visibility map, as autovacuum would leave them
		if _, err := s.writer.ExecContext(ctx, "VACUUM ANALYZE backups"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCountResources measures one CountResources (what a scrape of /metrics reads) over a
// million backups.
func benchCountResources(b *testing.B, s *Store) {
	seedCountBench(b, s, countBenchBackups)
	want := fmt.Sprint(countBenchBackups)
	b.ResetTimer()
	for b.Loop() {
		var total int64
		if err := s.View(context.Background(), func(tx store.Tx) error {
			counts, err := tx.CountResources()
			for _, c := range counts {
				total += c.Count
			}
			return err
		}); err != nil {
			b.Fatal(err)
		}
		if fmt.Sprint(total) != want {
			b.Fatalf("counted %d resources, want %s", total, want)
		}
	}
}

func BenchmarkCountResourcesSQLite(b *testing.B) {
	s, err := Open(context.Background(), "sqlite:"+b.TempDir()+"/count.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	benchCountResources(b, s)
}

func BenchmarkCountResourcesPostgres(b *testing.B) {
	p := pgtest.Connect(b).Schema(b)
	s, err := Open(context.Background(), p.DSN())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	benchCountResources(b, s)
}
