package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
)

// takeBackups posts body to the take-backup endpoint of clusterID and decodes a successful
// bulk answer.
func (e *env) takeBackups(t *testing.T, clusterID, body string) admin.BackupsTaken {
	t.Helper()
	status, raw := e.adminRaw(http.MethodPost, "clusters/"+clusterID+"/backups", body)
	var out admin.BackupsTaken
	if err := json.Unmarshal([]byte(raw), &out); err != nil || status != http.StatusOK {
		t.Fatalf("take-backup %s: HTTP %d %s", body, status, raw)
	}
	return out
}

// allBackupsOf is backupsOf (a cluster's backups, oldest first) for hundreds of pages, with
// the test's context (see retryReads).
func allBackupsOf(t *testing.T, c *cloudhsmv2.Client, clusterID string) []types.Backup {
	t.Helper()
	var all []types.Backup
	p := cloudhsmv2.NewDescribeBackupsPaginator(c, &cloudhsmv2.DescribeBackupsInput{
		Filters: map[string][]string{"clusterIds": {clusterID}}, SortAscending: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context(), retryReads)
		if err != nil {
			t.Fatalf("DescribeBackups: %v", err)
		}
		all = append(all, page.Backups...)
	}
	return all
}

// wantBulkBackups checks, through the Go SDK, that cluster clusterID's backups after its first
// `before` are exactly ids, oldest first, 1 ms apart from first on, each in state.
func wantBulkBackups(t *testing.T, c *cloudhsmv2.Client, clusterID string, before int, ids []string, first time.Time, state types.BackupState) {
	t.Helper()
	all := allBackupsOf(t, c, clusterID)
	if len(all) != before+len(ids) {
		t.Fatalf("cluster %s has %d backups, want %d + %d", clusterID, len(all), before, len(ids))
	}
	for i, b := range all[before:] {
		at := first.Add(time.Duration(i) * time.Millisecond)
		if aws.ToString(b.BackupId) != ids[i] || !aws.ToTime(b.CreateTimestamp).Equal(at) || b.BackupState != state ||
			aws.ToString(b.ClusterId) != clusterID || aws.ToString(b.HsmType) != "hsm2m.medium" {
			t.Fatalf("backup %d of the request: %s %s made at %s, want %s %s made at %s",
				i, aws.ToString(b.BackupId), b.BackupState, aws.ToTime(b.CreateTimestamp), ids[i], state, at)
		}
	}
}

// TestAdminTakeBackups pins the bulk form of POST /_cloudhsm-local/clusters/ID/backups: a body
// {"Count": N} takes N ordinary backups in one transaction, the first at the virtual time and
// each next 1 ms later, moves the clock on by N ms, and answers {"Count", "BackupIds"}.
func TestAdminTakeBackups(t *testing.T) {
	tests := []struct {
		name string
		opts []func(*options)
		run  func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID string)
	}{
		{"Count 5 takes five READY backups 1 ms apart and moves the clock 5 ms", nil,
			func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
				out := e.takeBackups(t, id, `{"Count": 5}`)
				if out.Count != 5 || len(out.BackupIDs) != 5 {
					t.Fatalf("answered %+v", out)
				}
				wantBulkBackups(t, c, id, 1, out.BackupIDs, start.Add(time.Hour), types.BackupStateReady)
				if now := e.virtualNow(t); !now.Equal(start.Add(time.Hour + 5*time.Millisecond)) {
					t.Fatalf("clock at %s, want 1 ms after the last backup", now)
				}
				newest, err := c.DescribeBackups(t.Context(), &cloudhsmv2.DescribeBackupsInput{MaxResults: aws.Int32(5)})
				if err != nil || !slices.Equal(backupIDs(newest.Backups), reversed(out.BackupIDs)) {
					t.Fatalf("newest first: %v, %v; want %v", backupIDs(newest.Backups), err, reversed(out.BackupIDs))
				}
			}},
		{"Count 1 answers the bulk shape", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			status, body := e.adminRaw(http.MethodPost, "clusters/"+id+"/backups", `{"Count":1}`)
			var out map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &out); err != nil || status != http.StatusOK ||
				len(out) != 2 || string(out["Count"]) != "1" || out["BackupIds"] == nil {
				t.Fatalf("HTTP %d %s", status, body)
			}
		}},
		{"a body without Count takes one backup as no body does", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			for i, body := range []string{`{}`, `{"Count": null}`, " \n"} {
				status, raw := e.adminRaw(http.MethodPost, "clusters/"+id+"/backups", body)
				var out struct {
					Backup struct{ BackupId, BackupState string }
				}
				if err := json.Unmarshal([]byte(raw), &out); err != nil || status != http.StatusOK || out.Backup.BackupState != "CREATE_IN_PROGRESS" {
					t.Fatalf("body %q: HTTP %d %s", body, status, raw)
				}
				if n := len(backupsOf(t, c, id)); n != 2+i {
					t.Fatalf("body %q: cluster has %d backups, want %d", body, n, 2+i)
				}
			}
		}},
		{"each backup goes through backup-create like any other", []func(*options){withDelays(0, map[lifecycle.Transition]time.Duration{lifecycle.BackupCreate: time.Hour})},
			func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
				out := e.takeBackups(t, id, `{"Count": 3}`)
				wantBulkBackups(t, c, id, 1, out.BackupIDs, start.Add(time.Hour), types.BackupStateCreateInProgress)
				e.advance(time.Hour)
				wantBulkBackups(t, c, id, 1, out.BackupIDs, start.Add(time.Hour), types.BackupStateReady)
			}},
		{"a later request stamps later times", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			first := e.takeBackups(t, id, `{"Count": 3}`)
			second := e.takeBackups(t, id, `{"Count": 3}`)
			wantBulkBackups(t, c, id, 1, append(first.BackupIDs, second.BackupIDs...), start.Add(time.Hour), types.BackupStateReady)
		}},
	}
	for _, store := range []string{"memory", "sqlite"} {
		for _, tc := range tests {
			t.Run(store+"/"+tc.name, func(t *testing.T) {
				opts := tc.opts
				if store == "sqlite" {
					opts = append(slices.Clone(opts), func(o *options) { o.store = "sqlite:" + filepath.Join(t.TempDir(), "store.db") })
				}
				e := newEnv(t, opts...)
				c := e.defaultClient()
				id, _ := e.activeCluster(t, c)
				e.advance(time.Hour) // the bulk backups are an hour newer than the activation's
				tc.run(t, e, c, id)
			})
		}
	}
}

// TestAdminTakeBackupsMost: Count 10000, the most one request takes, takes them all (on the
// memory store only: ten thousand backups take seconds under -race).
func TestAdminTakeBackupsMost(t *testing.T) {
	e := newEnv(t)
	c := e.defaultClient()
	id, _ := e.activeCluster(t, c)
	e.advance(time.Hour)
	out := e.takeBackups(t, id, fmt.Sprintf(`{"Count": %d}`, admin.MaxBackupCount))
	if out.Count != 10_000 {
		t.Fatalf("answered Count %d", out.Count)
	}
	wantBulkBackups(t, c, id, 1, out.BackupIDs, start.Add(time.Hour), types.BackupStateReady)
}

// TestAdminTakeBackupsWhileTheClockRuns: a request may outlast its Count in milliseconds of
// wall time (here the wall clock runs fast while it is served); it still succeeds, 1 ms apart,
// and leaves the clock past the last backup.
func TestAdminTakeBackupsWhileTheClockRuns(t *testing.T) {
	e := newEnv(t)
	c := e.defaultClient()
	id, _ := e.activeCluster(t, c)
	e.advance(time.Hour)
	done := make(chan struct{})
	ticking := make(chan struct{})
	go func() {
		defer close(ticking)
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Microsecond):
				e.clock.Advance(5 * time.Millisecond)
			}
		}
	}()
	out := e.takeBackups(t, id, `{"Count": 1000}`)
	close(done)
	<-ticking
	all := allBackupsOf(t, c, id)
	if len(all) != 1001 {
		t.Fatalf("cluster has %d backups, want 1 + 1000", len(all))
	}
	first := aws.ToTime(all[1].CreateTimestamp)
	wantBulkBackups(t, c, id, 1, out.BackupIDs, first, types.BackupStateReady)
	if now := e.virtualNow(t); !now.After(first.Add(999 * time.Millisecond)) {
		t.Fatalf("clock at %s, not past the last backup", now)
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// TestAdminTakeBackupsErrors: a refused bulk take-backup answers the admin API's JSON error
// with its status, and takes nothing and leaves the clock.
func TestAdminTakeBackupsErrors(t *testing.T) {
	e := newEnv(t)
	c := e.defaultClient()
	active, _ := e.activeCluster(t, c)
	initialized := e.initializedCluster(t, c)
	tests := []struct {
		name, cluster, body string
		status              int
		message             string
	}{
		{"Count 0", active, `{"Count": 0}`, http.StatusBadRequest, "Count must be from 1 to 10000, not 0 (send no body for one backup)"},
		{"a negative Count", active, `{"Count": -3}`, http.StatusBadRequest, "Count must be from 1 to 10000, not -3"},
		{"Count over 10000", active, `{"Count": 10001}`, http.StatusBadRequest, "Count must be from 1 to 10000, not 10001"},
		{"Count as a string", active, `{"Count": "5"}`, http.StatusBadRequest, "request body must be a JSON object: json: cannot unmarshal string"},
		{"a fractional Count", active, `{"Count": 2.5}`, http.StatusBadRequest, "request body must be a JSON object: json: cannot unmarshal number 2.5"},
		{"an unknown field", active, `{"Count": 5, "Tags": []}`, http.StatusBadRequest, `unknown field "Tags"`},
		{"not an object", active, `[5]`, http.StatusBadRequest, "request body must be a JSON object"},
		{"not JSON", active, `Count=5`, http.StatusBadRequest, "request body must be a JSON object"},
		{"two objects", active, `{"Count": 5} {"Count": 5}`, http.StatusBadRequest, "request body must be one JSON object, with nothing after it"},
		{"a body over 64 KiB", active, fmt.Sprintf(`{"Count": 5%70000s}`, ""), http.StatusBadRequest, "request body too large"},
		{"an unknown cluster", "cluster-aaaaaaaaaaa", `{"Count": 5}`, http.StatusNotFound, "cluster cluster-aaaaaaaaaaa does not exist"},
		{"a cluster that is not ACTIVE", initialized, `{"Count": 5}`, http.StatusConflict, "is INITIALIZED; only an ACTIVE cluster can be backed up"},
		{"a bad Count is refused before the cluster is looked up", "cluster-aaaaaaaaaaa", `{"Count": 0}`, http.StatusBadRequest, "Count must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.adminRaw(http.MethodPost, "clusters/"+tc.cluster+"/backups", tc.body)
			wantAdminError(t, status, body, tc.status, tc.message)
			if n := len(backupsOf(t, c, active)); n != 1 {
				t.Fatalf("cluster %s has %d backups after a refused request, want 1", active, n)
			}
			if n := len(backupsOf(t, c, initialized)); n != 0 {
				t.Fatalf("cluster %s has %d backups after a refused request, want 0", initialized, n)
			}
			if now := e.virtualNow(t); !now.Equal(start) {
				t.Fatalf("a refused request moved the clock to %s", now)
			}
		})
	}
}
