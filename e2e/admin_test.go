package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
)

// adminRaw calls the admin API with a raw body ("" for none) and returns the status and body.
// Every admin answer, success or error, must be JSON.
func (e *env) adminRaw(method, path, body string) (int, string) {
	e.t.Helper()
	var in io.Reader
	if body != "" {
		in = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+admin.Prefix+path, in)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("admin %s %s: Content-Type %q, want application/json", method, path, ct)
	}
	if !json.Valid(raw) {
		e.t.Errorf("admin %s %s: body is not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, string(raw)
}

// wantAdminError checks an admin error answer: the status and a JSON {"error": "..."} body.
func wantAdminError(t *testing.T, status int, body string, want int, contains string) {
	t.Helper()
	if status != want {
		t.Fatalf("HTTP %d, want %d: %s", status, want, body)
	}
	var e admin.Error
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("error body %s is not {\"error\": ...}", body)
	}
	if !strings.Contains(e.Error, contains) {
		t.Fatalf("error %q does not mention %q", e.Error, contains)
	}
}

// TestAdminAPI pins docs/BEHAVIOUR.md §9, one row per endpoint and rule.
func TestAdminAPI(t *testing.T) {
	ctx := context.Background()
	rfc := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"health reports status ok, the store kind, the version and the virtual now", func(t *testing.T, e *env) {
			status, body := e.adminRaw(http.MethodGet, "health", "")
			var h admin.Health
			if err := json.Unmarshal([]byte(body), &h); err != nil || status != http.StatusOK {
				t.Fatalf("HTTP %d %s", status, body)
			}
			if h != (admin.Health{Status: "ok", Store: "memory", Version: server.Version, Now: rfc(start)}) {
				t.Fatalf("health %+v", h)
			}
		}},
		{"GET clock reports the virtual now in RFC 3339", func(t *testing.T, e *env) {
			status, body := e.adminRaw(http.MethodGet, "clock", "")
			if status != http.StatusOK || body != `{"now":"`+rfc(start)+`"}`+"\n" {
				t.Fatalf("HTTP %d %s", status, body)
			}
		}},
		{"POST clock advance moves it forward and answers the new now", func(t *testing.T, e *env) {
			status, body := e.adminRaw(http.MethodPost, "clock", `{"advance":"168h"}`)
			if status != http.StatusOK || body != `{"now":"`+rfc(start.Add(week))+`"}`+"\n" {
				t.Fatalf("HTTP %d %s", status, body)
			}
			if now := e.virtualNow(t); !now.Equal(start.Add(week)) {
				t.Fatalf("GET clock after advance: %s", now)
			}
		}},
		{"POST clock set moves it to a later time", func(t *testing.T, e *env) {
			to := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			status, body := e.adminRaw(http.MethodPost, "clock", `{"set":"2030-01-01T00:00:00Z"}`)
			if status != http.StatusOK || body != `{"now":"`+rfc(to)+`"}`+"\n" {
				t.Fatalf("HTTP %d %s", status, body)
			}
			if now := e.virtualNow(t); !now.Equal(to) {
				t.Fatalf("GET clock after set: %s", now)
			}
		}},
		{"POST clock set to now is allowed", func(t *testing.T, e *env) {
			if status, body := e.adminRaw(http.MethodPost, "clock", `{"set":"`+rfc(start)+`"}`); status != http.StatusOK {
				t.Fatalf("HTTP %d %s", status, body)
			}
		}},
		{"POST clock set in the past is 409 and leaves the clock", func(t *testing.T, e *env) {
			e.advance(oneDay)
			status, body := e.adminRaw(http.MethodPost, "clock", `{"set":"`+rfc(start)+`"}`)
			wantAdminError(t, status, body, http.StatusConflict, "only moves forward")
			if now := e.virtualNow(t); !now.Equal(start.Add(oneDay)) {
				t.Fatalf("clock moved to %s", now)
			}
		}},
		{"POST clock advance by a negative duration is 409", func(t *testing.T, e *env) {
			status, body := e.adminRaw(http.MethodPost, "clock", `{"advance":"-1h"}`)
			wantAdminError(t, status, body, http.StatusConflict, "negative")
		}},
		{"POST clock with a bad body is 400", func(t *testing.T, e *env) {
			for _, body := range []string{
				``, `not json`, `[]`, `{}`, `{"advance":"soon"}`, `{"set":"tomorrow"}`,
				`{"advance":"1h","set":"2030-01-01T00:00:00Z"}`, `{"speed":2}`, `{"advance":3600}`,
				`{"advance":"1h"} {"advance":"1h"}`, `{"advance":"1h"} trailing`,
			} {
				status, out := e.adminRaw(http.MethodPost, "clock", body)
				if status != http.StatusBadRequest {
					t.Errorf("body %q: HTTP %d %s, want 400", body, status, out)
				}
			}
			if now := e.virtualNow(t); !now.Equal(start) {
				t.Fatalf("a refused request moved the clock to %s", now)
			}
		}},
		{"activate an unknown cluster is 404", func(t *testing.T, e *env) {
			status, body := e.adminRaw(http.MethodPost, "clusters/cluster-aaaaaaaaaaa/activate", "")
			wantAdminError(t, status, body, http.StatusNotFound, "cluster-aaaaaaaaaaa")
		}},
		{"activate an UNINITIALIZED cluster is 409", func(t *testing.T, e *env) {
			id := aws.ToString(mustCreateCluster(t, e.defaultClient(), nil).ClusterId)
			status, body := e.adminRaw(http.MethodPost, "clusters/"+id+"/activate", "")
			wantAdminError(t, status, body, http.StatusConflict, "UNINITIALIZED")
		}},
		{"activate an INITIALIZED cluster makes it ACTIVE, once", func(t *testing.T, e *env) {
			c := e.defaultClient()
			id := e.initializedCluster(t, c)
			status, body := e.adminRaw(http.MethodPost, "clusters/"+id+"/activate", "")
			var out struct {
				Cluster struct{ ClusterId, State string }
			}
			if err := json.Unmarshal([]byte(body), &out); err != nil || status != http.StatusOK {
				t.Fatalf("HTTP %d %s", status, body)
			}
			if out.Cluster.ClusterId != id || out.Cluster.State != "ACTIVE" {
				t.Fatalf("activate answered %s", body)
			}
			if n := len(backupsOf(t, c, id)); n != 1 {
				t.Fatalf("activation took %d backups, want 1", n)
			}
			status, body = e.adminRaw(http.MethodPost, "clusters/"+id+"/activate", "")
			wantAdminError(t, status, body, http.StatusConflict, "ACTIVE")
		}},
		{"take-backup of an unknown cluster is 404", func(t *testing.T, e *env) {
			status, body := e.adminRaw(http.MethodPost, "clusters/cluster-aaaaaaaaaaa/backups", "")
			wantAdminError(t, status, body, http.StatusNotFound, "cluster-aaaaaaaaaaa")
		}},
		{"take-backup of a cluster that is not ACTIVE is 409", func(t *testing.T, e *env) {
			id := e.initializedCluster(t, e.defaultClient())
			status, body := e.adminRaw(http.MethodPost, "clusters/"+id+"/backups", "")
			wantAdminError(t, status, body, http.StatusConflict, "INITIALIZED")
		}},
		{"take-backup of an ACTIVE cluster answers {\"Backup\": ...}", func(t *testing.T, e *env) {
			c := e.defaultClient()
			id, _ := e.activeCluster(t, c)
			e.advance(time.Hour)
			status, body := e.adminRaw(http.MethodPost, "clusters/"+id+"/backups", "")
			var out map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &out); err != nil || status != http.StatusOK || len(out) != 1 || out["Backup"] == nil {
				t.Fatalf("HTTP %d %s", status, body)
			}
			norm, err := normalizeJSON(out["Backup"])
			if err != nil {
				t.Fatal(err)
			}
			want := `{
  "BackupArn": "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-<1>",
  "BackupId": "backup-<1>",
  "BackupState": "CREATE_IN_PROGRESS",
  "ClusterId": "cluster-<1>",
  "CreateTimestamp": "<timestamp>",
  "HsmType": "hsm2m.medium",
  "Mode": "FIPS",
  "NeverExpires": false,
  "TagList": []
}
`
			if got := string(prettyJSON(norm)); got != want {
				t.Fatalf("take-backup answered\n%s\nwant\n%s", got, want)
			}
			var backupID string
			_ = json.Unmarshal(mustField(t, out["Backup"], "BackupId"), &backupID)
			got := describeBackup(t, c, backupID)
			if got.BackupState != types.BackupStateReady || !aws.ToTime(got.CreateTimestamp).Equal(start.Add(time.Hour)) {
				t.Fatalf("the backup taken: %s made at %v", got.BackupState, got.CreateTimestamp)
			}
		}},
		{"reset empties everything, in every account and region, and keeps the clock", func(t *testing.T, e *env) {
			c := e.defaultClient()
			id, backupID := e.activeCluster(t, c)
			other := e.client(account2, "eu-west-1")
			mustCreateCluster(t, other, nil)
			e.advance(week)
			status, body := e.adminRaw(http.MethodPost, "reset", "")
			if want := `{"status":"reset","now":"` + start.Add(week).Format(time.RFC3339Nano) + `"}` + "\n"; status != http.StatusOK || body != want {
				t.Fatalf("HTTP %d %s, want 200 %s", status, body, want)
			}
			for _, cl := range []*cloudhsmv2.Client{c, other} {
				clusters, err := cl.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
				if err != nil || len(clusters.Clusters) != 0 {
					t.Fatalf("clusters after reset: %+v %v", clusters, err)
				}
				backups, err := cl.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{})
				if err != nil || len(backups.Backups) != 0 {
					t.Fatalf("backups after reset: %+v %v", backups, err)
				}
			}
			_, err := c.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &backupID})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
			status, body = e.adminRaw(http.MethodPost, "clusters/"+id+"/backups", "")
			wantAdminError(t, status, body, http.StatusNotFound, id)
			if now := e.virtualNow(t); !now.Equal(start.Add(week)) {
				t.Fatalf("clock after reset: %s, want it unchanged at %s", now, start.Add(week))
			}
			// The store works as new.
			e.activeCluster(t, c)
		}},
		{"reset with {\"clock\":true} also returns the virtual clock to real time", func(t *testing.T, e *env) {
			c := e.defaultClient()
			e.activeCluster(t, c)
			e.advance(30 * 24 * time.Hour)
			status, body := e.adminRaw(http.MethodPost, "reset", `{"clock":true}`)
			if want := `{"status":"reset","now":"` + start.Format(time.RFC3339Nano) + `"}` + "\n"; status != http.StatusOK || body != want {
				t.Fatalf("HTTP %d %s, want 200 %s", status, body, want)
			}
			if now := e.virtualNow(t); !now.Equal(start) {
				t.Fatalf("clock after reset --clock: %s, want the wall clock's %s", now, start)
			}
			clusters, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
			if err != nil || len(clusters.Clusters) != 0 {
				t.Fatalf("clusters after reset --clock: %+v %v", clusters, err)
			}
			e.advance(time.Hour) // and it moves on from there
			if now := e.virtualNow(t); !now.Equal(start.Add(time.Hour)) {
				t.Fatalf("clock an hour after reset --clock: %s", now)
			}
			e.activeCluster(t, c)
			status, body = e.adminRaw(http.MethodPost, "reset", `{"clock":"yes"}`)
			wantAdminError(t, status, body, http.StatusBadRequest, "request body must be a JSON object")
		}},
		{"an unknown admin path is 404", func(t *testing.T, e *env) {
			for _, p := range []string{"nope", "clusters", "clusters/x/y", ""} {
				status, body := e.adminRaw(http.MethodGet, p, "")
				wantAdminError(t, status, body, http.StatusNotFound, "no such admin endpoint")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newEnv(t))
		})
	}
}

// mustField returns one member of a JSON object.
func mustField(t *testing.T, raw json.RawMessage, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m[name] == nil {
		t.Fatalf("no %s in %s", name, raw)
	}
	return m[name]
}
