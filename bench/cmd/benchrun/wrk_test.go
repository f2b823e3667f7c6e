package main

import (
	"strings"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/bench/loadgen"
)

// The script sends the request loadgen would send, quoted safely for Lua, and prints its
// summary after wrkMarker.
func TestWrkScript(t *testing.T) {
	c := loadgen.NewClient("http://127.0.0.1:1", 1)
	r := newWrkRequest(c, "DescribeBackups", []byte(`{"Filters":{"backupIds":["backup-a\"b\\c"]}}`), `"backup-abc"`)
	script := wrkScript(r)
	for _, want := range []string{
		`wrk.method = "POST"`,
		`wrk.body = "{\"Filters\":{\"backupIds\":[\"backup-a\\\"b\\\\c\"]}}"`,
		`wrk.headers["Content-Type"] = "application/x-amz-json-1.1"`,
		`wrk.headers["X-Amz-Target"] = "BaldrApiService.DescribeBackups"`,
		`wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=111122223333/`,
		`local want = "\"backup-abc\""`,
		`if status ~= 200`,
		wrkMarker,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %s:\n%s", want, script)
		}
	}
}

// parseWrk reads the summary line among wrk's own output; a bad answer is an error and not a
// request, as are socket errors and timeouts.
func TestParseWrk(t *testing.T) {
	tests := []struct {
		name             string
		out              string
		requests, errors int
		rps, p50, p99    float64
		wantErr          bool
	}{
		{
			name: "all good",
			out: "Running 2s test @ http://127.0.0.1:1/\n  2 threads and 32 connections\n" +
				wrkMarker + `{"requests":20000,"duration_us":2000000,"bad":0,"connect":0,"read":0,"write":0,"status":0,"timeout":0,"p50_us":900,"p99_us":5100,"max_us":9000}` + "\n",
			requests: 20000, rps: 10000, p50: 0.9, p99: 5.1,
		},
		{
			name: "bad answers, a read error and a timeout",
			out: wrkMarker + `{"requests":1000,"duration_us":1000000,"bad":10,"connect":0,"read":1,"write":0,"status":10,"timeout":2,"p50_us":1000,"p99_us":2000,"max_us":3000}` +
				"\nRequests/sec: 1000\n",
			requests: 990, errors: 13, rps: 990, p50: 1, p99: 2,
		},
		{name: "no summary", out: "unable to connect to 127.0.0.1:1 Connection refused\n", wantErr: true},
		{name: "a broken summary", out: wrkMarker + "{\"requests\":\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := parseWrk([]byte(tc.out))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if res.Requests != tc.requests || res.Errors != tc.errors || res.RPS != tc.rps || res.P50Ms != tc.p50 || res.P99Ms != tc.p99 {
				t.Errorf("got %d requests, %d errors, %v req/s, p50 %v, p99 %v; want %d, %d, %v, %v, %v",
					res.Requests, res.Errors, res.RPS, res.P50Ms, res.P99Ms, tc.requests, tc.errors, tc.rps, tc.p50, tc.p99)
			}
			if (res.FirstError != "") != (tc.errors > 0) {
				t.Errorf("first error %q with %d errors", res.FirstError, tc.errors)
			}
		})
	}
}

// tenantLanes gives every worker a lane; worker w works for tenant w mod n on backups no other
// worker has, and a tenant's workers alternate between the replicas.
func TestTenantLanes(t *testing.T) {
	mk := func(url string, tenants int) *target {
		tg := &target{c: loadgen.NewClient(url, 1)}
		for i := range tenants {
			acct := loadgen.TenantAccount(i)
			var ids []string
			for j := range tenantBackups {
				ids = append(ids, acct+"-"+string(rune('a'+j%26))+strings.Repeat("x", j/26))
			}
			tg.tenants = append(tg.tenants, tenant{account: acct, c: tg.c.As(acct), ids: ids})
		}
		return tg
	}
	tests := []struct {
		name     string
		tenants  int
		replicas int
	}{
		{"1 tenant", 1, 1},
		{"2 tenants", 2, 1},
		{"8 tenants", 8, 1},
		{"32 tenants", 32, 1},
		{"8 tenants on 2 replicas", 8, 2},
		{"1 tenant on 2 replicas", 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			servers := []*target{mk("http://a", 32)}
			if tc.replicas == 2 {
				servers = append(servers, mk("http://b", 0))
			}
			lanes, err := tenantLanes(servers, tc.tenants)
			if err != nil {
				t.Fatal(err)
			}
			if len(lanes) != tenantWorkers {
				t.Fatalf("%d lanes, want %d", len(lanes), tenantWorkers)
			}
			owner := map[string]int{}
			perReplica := map[string]map[string]int{} // tenant → endpoint → workers
			for w, l := range lanes {
				acct := loadgen.TenantAccount(w % tc.tenants)
				if l.Client == nil || len(l.IDs) == 0 {
					t.Fatalf("worker %d has no lane", w)
				}
				for _, id := range l.IDs {
					if !strings.HasPrefix(id, acct) {
						t.Errorf("worker %d works for %s but has backup %s", w, acct, id)
					}
					if o, ok := owner[id]; ok {
						t.Errorf("backup %s belongs to workers %d and %d", id, o, w)
					}
					owner[id] = w
				}
				if !strings.Contains(l.Client.Header("X").Get("Authorization"), "Credential="+acct+"/") {
					t.Errorf("worker %d's client is not scoped to %s", w, acct)
				}
				if perReplica[acct] == nil {
					perReplica[acct] = map[string]int{}
				}
				perReplica[acct][l.Client.Endpoint]++
			}
			for acct, by := range perReplica {
				if len(by) != tc.replicas {
					t.Errorf("tenant %s served by %v, want %d replicas", acct, by, tc.replicas)
				}
			}
		})
	}
	if _, err := tenantLanes([]*target{mk("http://a", 2)}, 8); err == nil {
		t.Error("8 tenants out of 2 set up: no error")
	}
}
