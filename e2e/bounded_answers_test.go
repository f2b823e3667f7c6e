package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/protocol"
)

// Every answer's size is bounded, whatever the input (docs/DECISIONS.md, "Errors and
// validation"). Once, DescribeBackups with a Filters map of 80,000 invalid keys (a 950 KB body)
// answered a 13.6 MB error listing 80,001 violations, and 32 such requests at once took the
// server from 75 MB to 930 MB.

// members renders n JSON object members "<key><i>":<value>, a body that grows with n.
func members(n int, key, value string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = js(key+strconv.Itoa(i)) + ":" + value
	}
	return strings.Join(parts, ",")
}

// js renders s as a JSON string, without encoding/json's HTML escapes (so "<" stays one byte
// in the request and becomes six in an answer that quotes it).
func js(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// quoted renders n JSON strings "<s><i>".
func quoted(n int, s string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = js(s + strconv.Itoa(i))
	}
	return strings.Join(parts, ",")
}

// worstCaseBodies are requests of up to the body limit built to make an error answer grow: many
// violations, long values quoted in messages, characters JSON escapes six times over.
func worstCaseBodies() []struct{ name, target, body string } {
	long := strings.Repeat("<&>語", 150000) // 900 KB; each character is six bytes escaped
	return []struct{ name, target, body string }{
		{"the report: 80,000 invalid filter keys", "DescribeBackups", `{"Filters":{` + members(80000, "k!", "[]") + `}}`},
		{"9,000 invalid filter keys of 100 bytes", "DescribeBackups", `{"Filters":{` + members(9000, strings.Repeat("<", 100), "[]") + `}}`},
		{"25 invalid filter keys of 40 KB", "DescribeClusters", `{"Filters":{` + members(25, strings.Repeat("\u0001", 6000), "[]") + `}}`},
		{"one filter value of 900 KB", "DescribeBackups", `{"Filters":{"states":[` + js(long) + `]}}`},
		{"an unknown filter key of 900 KB", "DescribeBackups", `{"Filters":{` + js(long) + `:["x"]}}`},
		{"1000 invalid backup IDs of 900 bytes", "DescribeBackups", `{"Filters":{"backupIds":[` + quoted(1000, strings.Repeat(">", 900)) + `]}}`},
		{"a resource ARN of 900 KB", "GetResourcePolicy", `{"ResourceArn":` + js(long) + `}`},
		{"a source backup ID of 900 KB", "CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-00000000000000001"],"SourceBackupId":` + js(long) + `}`},
		{"a policy of 900 KB", "PutResourcePolicy", `{"ResourceArn":"arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk","Policy":` + js(long) + `}`},
		{"50 tags with every member wrong", "TagResource", `{"ResourceId":` + js(long[:300000]) + `,"TagList":[` +
			strings.Repeat(`{"Key":"aws:`+strings.Repeat("&", 5000)+`","Value":"`+strings.Repeat("<", 5000)+`"},`, 60) + `{}]}`},
		{"a wrongly typed member of 900 KB", "DescribeBackups", `{"MaxResults":` + js(long) + `}`},
		{"a number of 900 KB", "DescribeBackups", `{"MaxResults":1` + strings.Repeat("0", 900000) + `}`},
		{"an unknown operation of 60 KB", strings.Repeat("<", 60000), `{}`},
		{"9,999 elements of garbage after the object", "DescribeBackups", `{}` + strings.Repeat(",", 9999)},
	}
}

// TestErrorAnswersAreBounded: for every worst-case request the error answer stays within
// api.MaxErrorBodyBytes (16 KiB).
func TestErrorAnswersAreBounded(t *testing.T) {
	e := newEnv(t)
	for _, tt := range worstCaseBodies() {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.body) > protocol.MaxBodyBytes {
				t.Fatalf("the body is %d bytes, over the limit: the test would only meet that", len(tt.body))
			}
			status, typ, body := e.rawCall(tt.target, tt.body, nil)
			if status != http.StatusBadRequest || typ == "" {
				t.Fatalf("HTTP %d %s, want a 400 error: %.300s", status, typ, body)
			}
			if len(body) > api.MaxErrorBodyBytes {
				t.Fatalf("a %s of %d bytes (the bound is %d): %.300s", typ, len(body), api.MaxErrorBodyBytes, body)
			}
		})
	}
	// The report's request, as the report saw it: the violations are listed by the handful.
	status, _, body := e.rawCall("DescribeBackups", `{"Filters":{`+members(20, "k!", "[]")+`}}`, nil)
	if status != http.StatusBadRequest || !strings.Contains(body, "20 validation errors detected: ") || !strings.Contains(body, "; and 15 more") {
		t.Fatalf("HTTP %d %s", status, body)
	}
}

// TestWorstCaseRequestsKeepMemoryBounded: 32 concurrent worst-case requests (each body 1 MiB at
// most) raise the peak resident memory of the real binary by at most 160 MiB — it was
// 855 MiB before answers were bounded. The peak is the kernel's VmHWM of the process.
func TestWorstCaseRequestsKeepMemoryBounded(t *testing.T) {
	const bound = 160 << 20
	p := startProcess(t, buildBinary(t), "--store", "memory")
	e := &env{t: t, url: p.url}
	before := peakRSS(t, p.cmd.Process.Pid)
	bodies := worstCaseBodies()
	for round := range 2 {
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tt := bodies[(i+round)%len(bodies)]
				if i%2 == 0 { // half of them the report's own request
					tt = bodies[0]
				}
				if status, typ, body := e.rawCall(tt.target, tt.body, nil); status != http.StatusBadRequest || len(body) > api.MaxErrorBodyBytes {
					t.Errorf("%s: HTTP %d %s of %d bytes", tt.name, status, typ, len(body))
				}
			}()
		}
		wg.Wait()
	}
	after := peakRSS(t, p.cmd.Process.Pid)
	t.Logf("peak RSS %d MiB before, %d MiB after 64 worst-case requests, 32 at a time", before>>20, after>>20)
	if growth := after - before; growth > bound {
		t.Fatalf("peak RSS grew by %d MiB, bound %d MiB", growth>>20, bound>>20)
	}
}

// peakRSS reads the peak resident set size (VmHWM) of a process from /proc.
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("peak RSS of %d: %v", pid, err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
