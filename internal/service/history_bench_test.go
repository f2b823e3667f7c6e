package service_test

import (
	"fmt"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
)

// BenchmarkHistoryCost runs the describe-one and delete-restore workloads of the other
// benchmarks with the request history off and on (the default of 1,000 requests): the
// difference is what recording costs a request. Run the pairs interleaved, several times:
//
//	go test -run '^$' -bench HistoryCost -benchtime 3000x -count 5 ./internal/service/
func BenchmarkHistoryCost(b *testing.B) {
	for _, size := range []int{0, history.DefaultCapacity} {
		b.Run(fmt.Sprintf("describe-one/history=%d", size), func(b *testing.B) {
			h := benchServerWith(b, size)
			body := fmt.Sprintf(`{"Filters":{"backupIds":[%q]}}`, benchBackupID(42))
			b.ReportAllocs()
			for b.Loop() {
				call(b, h, "DescribeBackups", body)
			}
		})
		b.Run(fmt.Sprintf("delete-restore/history=%d", size), func(b *testing.B) {
			h := benchServerWith(b, size)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				body := fmt.Sprintf(`{"BackupId":%q}`, benchBackupID(100+i%(benchBackups-100)))
				i++
				call(b, h, "DeleteBackup", body)
				call(b, h, "RestoreBackup", body)
			}
		})
	}
}
