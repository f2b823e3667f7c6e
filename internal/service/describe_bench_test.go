package service_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

// These benchmarks drive whole requests through the server's handler — front door, service,
// lifecycle check, SQLite file store — with no network in between, on a store shaped like
// bench/run.sh's: 10,000 backups of account 111122223333, the oldest 100 of cluster A.

const (
	benchAccount = "111122223333"
	benchBackups = 10_000
	benchA       = "cluster-aaaaaaaaaaa"
	benchB       = "cluster-bbbbbbbbbbb"
)

func benchBackupID(i int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	id := []byte("backup-aaaaaaaaaaa")
	for p := len(id) - 1; i > 0; p-- {
		id[p] = alphabet[i%32]
		i /= 32
	}
	return string(id)
}

// benchServer seeds a SQLite file directly through the store, then serves it.
func benchServer(b *testing.B) http.Handler { return benchServerWith(b, 0) }

// benchServerWith is benchServer keeping a request history of history requests (0: none).
func benchServerWith(b *testing.B, history int) http.Handler {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "bench.db")
	st, err := sqlstore.Open(ctx, "sqlite:"+path)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Millisecond)
	err = st.Update(ctx, store.Everything(), func(tx store.Tx) error {
		for i := range benchBackups {
			cluster := benchB
			if i < 100 {
				cluster = benchA
			}
			if err := tx.InsertBackup(store.Backup{
				ID: benchBackupID(i), Account: benchAccount, Region: "us-east-1", ClusterID: cluster,
				State: "READY", HsmType: "hsm2m.medium", Mode: "FIPS",
				CreatedAt: t0.Add(time.Duration(i) * time.Millisecond), Version: 1,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := errors.Join(err, st.Close()); err != nil {
		b.Fatal(err)
	}
	svc := service.DefaultConfig()
	svc.MaxClusters = 1 << 30
	srv, err := server.New(ctx, server.Config{
		Store: "sqlite:" + path, DefaultRegion: "us-east-1", Lifecycle: lifecycle.DefaultConfig(), Service: svc,
		History: history,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	return srv.Handler()
}

var benchAuth = "AWS4-HMAC-SHA256 Credential=" + benchAccount + "/20260101/us-east-1/cloudhsm/aws4_request, " +
	"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + strings.Repeat("0", 64)

// call serves one request. Its context can be cancelled, as net/http's always can: the SQL
// drivers watch such a context with a goroutine per statement, which a server pays too.
func call(b *testing.B, h http.Handler, op, body string) {
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "BaldrApiService."+op)
	req.Header.Set("Authorization", benchAuth)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: HTTP %d: %s", op, rec.Code, rec.Body)
	}
}

// cpuPerOp starts counting the process's CPU time (user and system, every goroutine: the
// handler's and the collector's) and returns the function that reports it per iteration as
// cpu-ns/op. On a machine shared with other work, wall time per op mostly measures the
// neighbours; the CPU a request costs varies much less.
func cpuPerOp(b *testing.B) func() {
	b.Helper()
	start := cpuTime(b)
	return func() { b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkDescribeBackupsByID(b *testing.B) {
	h := benchServer(b)
	body := fmt.Sprintf(`{"Filters":{"backupIds":[%q]}}`, benchBackupID(42))
	b.ReportAllocs()
	stop := cpuPerOp(b)
	for b.Loop() {
		call(b, h, "DescribeBackups", body)
	}
	stop()
}

func BenchmarkDescribeBackupsPage50(b *testing.B) {
	h := benchServer(b)
	b.ReportAllocs()
	stop := cpuPerOp(b)
	for b.Loop() {
		call(b, h, "DescribeBackups", `{"MaxResults":50}`)
	}
	stop()
}

func BenchmarkDescribeBackupsByCluster(b *testing.B) {
	h := benchServer(b)
	body := fmt.Sprintf(`{"Filters":{"clusterIds":[%q]}}`, benchA)
	b.ReportAllocs()
	stop := cpuPerOp(b)
	for b.Loop() {
		call(b, h, "DescribeBackups", body)
	}
	stop()
}

// One iteration is a DeleteBackup and a RestoreBackup of the same backup, each committed.
func BenchmarkDeleteRestoreBackup(b *testing.B) {
	h := benchServer(b)
	i := 0
	b.ReportAllocs()
	stop := cpuPerOp(b)
	for b.Loop() {
		body := fmt.Sprintf(`{"BackupId":%q}`, benchBackupID(100+i%(benchBackups-100)))
		i++
		call(b, h, "DeleteBackup", body)
		call(b, h, "RestoreBackup", body)
	}
	stop()
}

func BenchmarkCreateCluster(b *testing.B) {
	h := benchServer(b)
	b.ReportAllocs()
	stop := cpuPerOp(b)
	for b.Loop() {
		call(b, h, "CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a1b2c3d4e5f60001","subnet-0a1b2c3d4e5f60002"]}`)
	}
	stop()
}
