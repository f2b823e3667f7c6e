package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
)

// Large states stream: exporting and importing a state of 1,000,000 backups keeps the real
// binary's peak resident memory (VmHWM) within stateMemoryBound, and the time each direction
// takes is measured (BenchmarkLargeState; figures in BENCHMARKS.md).

// stateMemoryBound bounds the peak resident memory of a memory-store server that imports and
// exports largeState backups.
const stateMemoryBound = 150 << 20

// largeState is how many backups the large state holds.
const largeState = 1_000_000

// largeDocument is a reader of a valid state document of n READY backups of one ACTIVE cluster,
// made as it is read (the test holds none of it), in the order export writes.
type largeDocument struct {
	n, next int
	clock   time.Time
	buf     bytes.Buffer
	done    bool
}

func newLargeDocument(n int) *largeDocument {
	d := &largeDocument{n: n, clock: start.Add(time.Duration(n+1) * time.Millisecond)}
	at := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
	fmt.Fprintf(&d.buf, `{"Version":1,"Clock":%q,
"Subnets":[{"Account":%q,"Region":"us-east-1","SubnetId":"subnet-0a1b2c3d4e5f60001","VpcId":"vpc-0123456789abcdef0","AvailabilityZone":"us-east-1a"}],
"Clusters":[{"ClusterId":"cluster-aaaaaaaaaaa","Account":%q,"Region":"us-east-1","State":"ACTIVE","HsmType":"hsm2m.medium","Mode":"FIPS","NetworkType":"IPV4","BackupRetentionDays":379,"VpcId":"vpc-0123456789abcdef0","SecurityGroup":"sg-0123456789abcdef0","SubnetMapping":{"us-east-1a":"subnet-0a1b2c3d4e5f60001"},"CreateTimestamp":%q,"NextBackupTimestamp":%q,"TagList":[]}],
"Hsms":[{"HsmId":"hsm-aaaaaaaaaaa","ClusterId":"cluster-aaaaaaaaaaa","AvailabilityZone":"us-east-1a","SubnetId":"subnet-0a1b2c3d4e5f60001","EniId":"eni-0123456789abcdef0","EniIp":"10.0.0.4","HsmType":"hsm2m.medium","State":"ACTIVE","CreateTimestamp":%q}],
"Backups":[`, at(d.clock), account1, account1, at(start), at(d.clock.Add(oneDay)), at(start))
	return d
}

// largeBackupID is the i-th backup ID in byte order: i in base 32, with digits sorted as bytes.
func largeBackupID(i int) string {
	const digits = "234567abcdefghijklmnopqrstuvwxyz"
	id := []byte("backup-22222222222")
	for p := len(id) - 1; i > 0; p-- {
		id[p] = digits[i%32]
		i /= 32
	}
	return string(id)
}

func (d *largeDocument) Read(p []byte) (int, error) {
	for d.buf.Len() < len(p) && !d.done {
		if d.next == d.n {
			d.buf.WriteString("]}\n")
			d.done = true
			break
		}
		if d.next > 0 {
			d.buf.WriteByte(',')
		}
		fmt.Fprintf(&d.buf, "\n"+`{"BackupId":%q,"Account":%q,"Region":"us-east-1","ClusterId":"cluster-aaaaaaaaaaa","BackupState":"READY","HsmType":"hsm2m.medium","Mode":"FIPS","NeverExpires":false,"CreateTimestamp":%q,"TagList":[]}`,
			largeBackupID(d.next), account1, start.Add(time.Duration(d.next+1)*time.Millisecond).Format("2006-01-02T15:04:05.000Z"))
		d.next++
	}
	if d.buf.Len() == 0 && d.done {
		return 0, io.EOF
	}
	return d.buf.Read(p)
}

// largeStateRound imports a state of n backups into the process (memory store) and exports it
// again, and returns how long each took and the size of the export.
func largeStateRound(t testing.TB, p *process, n int) (importTook, exportTook time.Duration, exported int64) {
	t.Helper()
	client := admin.Client{Endpoint: p.url, HTTP: &http.Client{}}
	began := time.Now()
	resp, err := client.Send(t.Context(), http.MethodPut, "state?replace=true", newLargeDocument(n))
	if err != nil {
		t.Fatalf("import of %d backups: %v", n, err)
	}
	var got admin.StateImported
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.Backups != n {
		t.Fatalf("import answered %+v (%v), want %d backups", got, err, n)
	}
	resp.Body.Close()
	importTook = time.Since(began)

	began = time.Now()
	resp, err = client.Send(t.Context(), http.MethodGet, "state", nil)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	counter := &backupCounter{}
	exported, err = io.Copy(counter, resp.Body)
	resp.Body.Close()
	if err != nil || counter.n != n {
		t.Fatalf("export: %d bytes holding %d backups (%v), want %d", exported, counter.n, err, n)
	}
	return importTook, time.Since(began), exported
}

// backupCounter counts the backups of a document written by export (one "BackupId" each).
type backupCounter struct {
	n    int
	tail []byte // the end of the previous write, for a key cut in two
}

func (c *backupCounter) Write(p []byte) (int, error) {
	key := []byte(`{"BackupId":`)
	joined := append(c.tail, p...)
	c.n += bytes.Count(joined, key)
	keep := min(len(key)-1, len(joined))
	c.tail = append(c.tail[:0], joined[len(joined)-keep:]...)
	return len(p), nil
}

// TestLargeStateStreams: importing and exporting 1,000,000 backups through the real binary keeps
// its peak resident memory within 150 MiB.
func TestLargeStateStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the real binary with a state of a million backups")
	}
	p := startProcess(t, buildBinary(t), "--store", "memory")
	importTook, exportTook, size := largeStateRound(t, p, largeState)
	peak := peakRSS(t, p.cmd.Process.Pid)
	t.Logf("%d backups: import %s, export %s (%.0f MiB), peak RSS %d MiB", largeState, importTook.Round(time.Millisecond),
		exportTook.Round(time.Millisecond), float64(size)/(1<<20), peak>>20)
	if peak > stateMemoryBound {
		t.Fatalf("peak RSS %d MiB, bound %d MiB", peak>>20, stateMemoryBound>>20)
	}
}

// BenchmarkLargeState times one import and one export of 1,000,000 backups through the real
// binary per iteration, each into a fresh server and store of each kind, and reports the peak
// resident memory:
//
//	go test -run '^$' -bench LargeState -benchtime 1x ./e2e/
func BenchmarkLargeState(b *testing.B) {
	bin := buildBinary(b)
	for _, kind := range []string{"memory", "sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			var imports, exports time.Duration
			var peak int64
			for b.Loop() {
				p := startProcess(b, bin, "--store", storeDSN(b, kind))
				importTook, exportTook, size := largeStateRound(b, p, largeState)
				imports, exports = imports+importTook, exports+exportTook
				peak = max(peak, peakRSS(b, p.cmd.Process.Pid))
				b.SetBytes(size)
				p.kill()
			}
			b.ReportMetric(imports.Seconds()/float64(b.N), "s/import")
			b.ReportMetric(exports.Seconds()/float64(b.N), "s/export")
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
	}
}
