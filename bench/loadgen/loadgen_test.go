package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// backupsJSON is a DescribeBackups answer listing the backups (id, cluster) given.
func backupsJSON(pairs ...string) string {
	var items []string
	for i := 0; i+1 < len(pairs); i += 2 {
		items = append(items, fmt.Sprintf(`{"BackupId":%q,"BackupState":"READY","ClusterId":%q}`, pairs[i], pairs[i+1]))
	}
	return `{"Backups":[` + strings.Join(items, ",") + `]}`
}

// page is a DescribeBackups answer listing n backups of cluster-abcdefghijk.
func page(n int) string {
	var pairs []string
	for i := range n {
		pairs = append(pairs, fmt.Sprintf("backup-%011d", i), "cluster-abcdefghijk")
	}
	return backupsJSON(pairs...)
}

// A read workload counts a 200 with the wrong answer as an error, so a server that answers
// fast and wrong cannot look faster; the result says how many errors were wrong answers.
func TestReadsCountWrongAnswersAsErrors(t *testing.T) {
	const id, cluster = "backup-abcdefghijk", "cluster-abcdefghijk"
	tests := []struct {
		name   string
		check  Check
		answer string
		wrong  bool
	}{
		{"describe-one: the backup asked for", ListsBackup(id), backupsJSON(id, cluster), false},
		{"describe-one: an empty page", ListsBackup(id), `{"Backups":[]}`, true},
		{"describe-one: another backup", ListsBackup(id), backupsJSON("backup-zzzzzzzzzzz", cluster), true},
		{"describe-one: the backup and another", ListsBackup(id), backupsJSON(id, cluster, "backup-zzzzzzzzzzz", cluster), true},
		{"describe-one: not JSON", ListsBackup(id), `<html>`, true},
		{"page-50: 50 backups", ListsBackups(50), page(50), false},
		{"page-50: an empty page", ListsBackups(50), `{"Backups":[]}`, true},
		{"page-50: 49 backups", ListsBackups(50), page(49), true},
		{"page-50: no Backups member", ListsBackups(50), `{}`, true},
		{"cluster-filter: backups of the cluster", ListsBackupsOfCluster(cluster), page(3), false},
		{"cluster-filter: an empty page", ListsBackupsOfCluster(cluster), `{"Backups":[]}`, true},
		{"cluster-filter: a backup of another cluster", ListsBackupsOfCluster(cluster), backupsJSON(id, cluster, "backup-zzzzzzzzzzz", "cluster-zzzzzzzzzzz"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				fmt.Fprint(w, tc.answer)
			}))
			defer srv.Close()
			c := NewClient(srv.URL, 2)
			defer c.Close()

			const n = 20
			res := Run(context.Background(), Options{Concurrency: 2, Duration: time.Minute, MaxRequests: n},
				Checked(c, "DescribeBackups", DescribeBackupsPage(50), tc.check))
			switch {
			case tc.wrong && (res.Errors != n || res.WrongAnswers != n || res.Requests != 0):
				t.Fatalf("a wrong answer: %d requests, %d errors, %d wrong answers; want 0, %d, %d", res.Requests, res.Errors, res.WrongAnswers, n, n)
			case tc.wrong && !strings.Contains(res.FirstError, "wrong answer") || tc.wrong && !strings.Contains(res.String(), "wrong answers"):
				t.Fatalf("the result does not say the answers were wrong: %s", res)
			case !tc.wrong && (res.Errors != 0 || res.Requests != n):
				t.Fatalf("the right answer: %d requests, %d errors (first: %s); want %d, 0", res.Requests, res.Errors, res.FirstError, n)
			}
		})
	}
}

// DeleteRestore keeps each worker on its own backups, in order (a backup is deleted, then
// restored, never twice in a row), through its lane's account; after settle no backup is left
// deleted, however the run stopped.
func TestDeleteRestoreLanes(t *testing.T) {
	tests := []struct {
		name     string
		accounts int // lanes alternate between this many accounts
		workers  int
		backups  int
		requests int
	}{
		{"one account, one backup per worker, stopped after a delete", 1, 4, 4, 13},
		{"one account, several backups per worker", 1, 4, 12, 40},
		{"four accounts", 4, 8, 16, 41},
		{"one worker", 1, 1, 3, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			deleted := map[string]bool{}
			account := map[string]string{}
			var fail []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var in struct{ BackupId string }
				if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				acct, _, _ := strings.Cut(strings.TrimPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="), "/")
				mu.Lock()
				defer mu.Unlock()
				if a, ok := account[in.BackupId]; ok && a != acct {
					fail = append(fail, fmt.Sprintf("%s used by accounts %s and %s", in.BackupId, a, acct))
				}
				account[in.BackupId] = acct
				op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "BaldrApiService.")
				if (op == "DeleteBackup") == deleted[in.BackupId] {
					fail = append(fail, fmt.Sprintf("%s of %s out of order", op, in.BackupId))
					http.Error(w, "out of order", http.StatusBadRequest)
					return
				}
				deleted[in.BackupId] = op == "DeleteBackup"
				fmt.Fprint(w, `{}`)
			}))
			defer srv.Close()
			c := NewClient(srv.URL, tc.workers)
			defer c.Close()

			var lanes []Lane
			for a := range tc.accounts {
				var ids []string
				for i := range tc.backups / tc.accounts {
					ids = append(ids, fmt.Sprintf("backup-%02d%09d", a, i))
				}
				lanes = append(lanes, Lanes(c.As(TenantAccount(a)), ids, tc.workers/tc.accounts)...)
			}
			op, settle := DeleteRestore(lanes)
			res := Run(context.Background(), Options{Concurrency: tc.workers, Duration: time.Minute, MaxRequests: tc.requests}, op)
			if res.Errors != 0 {
				t.Fatalf("%d errors, first: %s", res.Errors, res.FirstError)
			}
			if err := settle(context.Background()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(fail) > 0 {
				t.Fatal(strings.Join(fail, "; "))
			}
			for id, d := range deleted {
				if d {
					t.Errorf("%s left deleted after settle", id)
				}
			}
		})
	}
}
