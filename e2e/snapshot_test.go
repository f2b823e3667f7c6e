package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore/pgtest"
)

// State snapshots (GET and PUT /_cloudhsm-local/state): export → import into a fresh server →
// export gives the same document, and every Describe* answer is the same, whatever the stores.

// richState is a state with something of every kind, made through the API as a user would.
type richState struct {
	clusterID, backupID, backupArn string // account1's ACTIVE cluster, its tagged, shared backup
	pendingID                      string // a backup in PENDING_DELETION
	deletedID                      string // a DELETED backup
	purgedClusterID                string // account2's cluster, deleted and purged (its identity stays)
}

// buildRichState makes account1 an ACTIVE cluster with tags, a shared and region-copied backup,
// daily backups, one backup pending deletion and one DELETED (NeverExpires on another), and
// account2 a cluster that lived, was deleted with its HSM and purged.
func buildRichState(t *testing.T, e *env) richState {
	t.Helper()
	ctx := context.Background()
	c := e.defaultClient()
	var s richState
	s.clusterID, s.backupID = e.activeCluster(t, c)
	s.backupArn = aws.ToString(describeBackup(t, c, s.backupID).BackupArn)
	tag := func(id, k, v string) {
		if _, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &id, TagList: []types.Tag{{Key: &k, Value: &v}}}); err != nil {
			t.Fatal(err)
		}
	}
	tag(s.clusterID, "team", "crypto")
	tag(s.clusterID, "env", "ci")
	tag(s.backupID, "keep", "yes")
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + account2 + `"]},"Action":["cloudhsm:DescribeBackups","cloudhsm:CreateCluster"],"Resource":"` + s.backupArn + `"}]}`
	if _, err := c.PutResourcePolicy(ctx, &cloudhsmv2.PutResourcePolicyInput{ResourceArn: &s.backupArn, Policy: &policy}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: &s.backupID, DestinationRegion: aws.String("eu-west-1")}); err != nil {
		t.Fatal(err)
	}

	other := e.client(account2, "us-east-1")
	s.purgedClusterID, _ = e.activeCluster(t, other)
	for _, h := range describeCluster(t, other, s.purgedClusterID).Hsms {
		if _, err := other.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &s.purgedClusterID, HsmId: h.HsmId}); err != nil {
			t.Fatal(err)
		}
	}
	mustDeleteCluster(t, other, s.purgedClusterID)

	e.advance(2*oneDay + time.Hour) // two daily backups of account1's cluster
	daily := backupsOf(t, c, s.clusterID)
	s.deletedID = aws.ToString(daily[1].BackupId)
	mustDelete(t, c, s.deletedID)
	if _, err := c.ModifyBackupAttributes(ctx, &cloudhsmv2.ModifyBackupAttributesInput{BackupId: daily[2].BackupId, NeverExpires: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	e.advance(8 * oneDay) // s.deletedID is DELETED, the purged cluster is gone
	s.pendingID = aws.ToString(backupsOf(t, c, s.clusterID)[3].BackupId)
	mustDelete(t, c, s.pendingID)
	return s
}

// answers are the bodies of every Describe* a client of either account can make of the state.
func answers(t *testing.T, e *env, s richState) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, q := range []struct{ name, account, region, op, body string }{
		{"clusters", account1, "us-east-1", "DescribeClusters", `{}`},
		{"backups", account1, "us-east-1", "DescribeBackups", `{"SortAscending":true}`},
		{"copies", account1, "eu-west-1", "DescribeBackups", `{}`},
		{"clusters of account2", account2, "us-east-1", "DescribeClusters", `{}`},
		{"backups of account2", account2, "us-east-1", "DescribeBackups", `{}`},
		{"shared with account2", account2, "us-east-1", "DescribeBackups", `{"Shared":true}`},
		{"cluster tags", account1, "us-east-1", "ListTags", `{"ResourceId":"` + s.clusterID + `"}`},
		{"backup tags", account1, "us-east-1", "ListTags", `{"ResourceId":"` + s.backupID + `"}`},
		{"policy", account1, "us-east-1", "GetResourcePolicy", `{"ResourceArn":"` + s.backupArn + `"}`},
		{"the purged cluster", account2, "us-east-1", "DescribeClusters", `{"Filters":{"clusterIds":["` + s.purgedClusterID + `"]}}`},
	} {
		status, _, body := e.rawCall(q.op, q.body, sigV4(q.account, q.region))
		if status != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s", q.name, status, body)
		}
		out[q.name] = body
	}
	return out
}

// exportState is GET /_cloudhsm-local/state.
func (e *env) exportState(t *testing.T) []byte {
	t.Helper()
	resp, err := e.admin.Send(t.Context(), http.MethodGet, "state", nil)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	defer resp.Body.Close()
	doc, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" || !json.Valid(doc) {
		t.Fatalf("export: Content-Type %q, valid JSON %t", ct, json.Valid(doc))
	}
	return doc
}

// importState is PUT /_cloudhsm-local/state (query: "" or "?replace=true"); it returns the status
// and the body.
func (e *env) importState(t *testing.T, query string, doc []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, e.url+admin.Prefix+"state"+query, bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// storeDSN names a fresh store of a kind for t.
func storeDSN(t testing.TB, kind string) string {
	switch kind {
	case "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "state.db")
	case "postgres":
		return pgtest.Connect(t).Schema(t).DSN()
	}
	return kind
}

// TestStateRoundTrip: for pairs of stores, a state exported from one and imported into a fresh
// server on the other exports as the same document, byte for byte, answers every Describe* the
// same, reads the same virtual time, and goes on the same way when time passes.
func TestStateRoundTrip(t *testing.T) {
	for _, pair := range [][2]string{{"memory", "postgres"}, {"postgres", "sqlite"}, {"sqlite", "memory"}} {
		t.Run(pair[0]+" to "+pair[1], func(t *testing.T) {
			src, _ := startServer(t, storeDSN(t, pair[0]), start)
			s := buildRichState(t, src)
			before := answers(t, src, s)
			doc := src.exportState(t)

			dst, _ := startServer(t, storeDSN(t, pair[1]), start)
			status, body := dst.importState(t, "", doc)
			var got admin.StateImported
			if err := json.Unmarshal([]byte(body), &got); status != http.StatusOK || err != nil {
				t.Fatalf("import: HTTP %d %s", status, body)
			}
			want := admin.StateImported{Clock: src.virtualNow(t).Format(time.RFC3339Nano), Subnets: 4, ClusterIdentities: 2,
				Clusters: 1, HSMs: 1, Backups: len(backupsOf(t, src.defaultClient(), s.clusterID)) + 3, ResourcePolicies: 1, RetiredIDs: 2}
			if got != want {
				t.Fatalf("imported %+v\nwant     %+v", got, want)
			}
			if again := dst.exportState(t); !bytes.Equal(again, doc) {
				t.Fatalf("the imported state exports another document:\n%s\nwant\n%s", again, doc)
			}
			after := answers(t, dst, s)
			for name, body := range before {
				if after[name] != body {
					t.Errorf("%s differs after the import:\nbefore %s\nafter  %s", name, body, after[name])
				}
			}
			if a, b := src.virtualNow(t), dst.virtualNow(t); !a.Equal(b) {
				t.Fatalf("virtual clock %s after the import, %s before", b, a)
			}

			// Time goes on the same way: the pending backup expires on both, at its time.
			for _, e := range []*env{src, dst} {
				e.advance(8 * oneDay)
			}
			for _, e := range []*env{src, dst} {
				b := describeBackup(t, e.defaultClient(), s.pendingID)
				if b.BackupState != types.BackupStateDeleted {
					t.Fatalf("the pending backup is %s 8 days on, want DELETED", b.BackupState)
				}
			}
			if a, b := len(backupsOf(t, src.defaultClient(), s.clusterID)), len(backupsOf(t, dst.defaultClient(), s.clusterID)); a != b {
				t.Fatalf("8 days on the cluster has %d backups after the import, %d without", b, a)
			}
		})
	}
}

// TestStateImportRefusesBadDocuments: each document breaks one rule; the import is refused with
// 400 naming the JSON path and the rule, and nothing changes (the state exports as before).
func TestStateImportRefusesBadDocuments(t *testing.T) {
	e, _ := startServer(t, "memory", start)
	s := buildRichState(t, e)
	doc := string(e.exportState(t))
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(doc, old) {
			t.Fatalf("the exported document has no %q", old)
		}
		return strings.Replace(doc, old, new, 1)
	}
	clock := e.virtualNow(t)
	var parsed struct{ Backups []map[string]any }
	if err := json.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatal(err)
	}
	firstBackup := `"BackupId":"` + parsed.Backups[0]["BackupId"].(string) + `"`
	// The HSM's ClusterId, pointed at a cluster that is not in the document.
	hsmAt := strings.Index(doc, `"Hsms":[`)
	clusterAt := strings.Index(doc[hsmAt:], `"ClusterId":"`) + hsmAt + len(`"ClusterId":"`)
	strayHSM := doc[:clusterAt] + "cluster-zzzzzzzzzzz" + doc[clusterAt+len(s.clusterID):]
	tests := []struct{ name, doc, message string }{
		{"another version", replace(`{"Version":1,`, `{"Version":2,`), "$.Version: 2 is not a version this server reads"},
		{"an unknown field", replace(firstBackup, firstBackup+`,"Colour":"red"`), `$.Backups[0]: unknown field "Colour"`},
		{"a duplicate ID", replace(`"RetiredIds":[`, `"RetiredIds":["`+s.purgedClusterID+`",`), "$.RetiredIds[1]: " + s.purgedClusterID + " is also the record before"},
		{"a time in the future", replace(`"Clock":"`+clock.Format("2006-01-02T15:04:05.000Z")+`"`, `"Clock":"2026-03-01T09:00:00.000Z"`), "is after the document's Clock 2026-03-01T09:00:00.000Z: it cannot have happened yet"},
		{"a cut-off document", doc[:len(doc)/2], "the document ends too soon"},
		{"an HSM of a cluster not in the document", strayHSM, "$.Hsms[0].ClusterId: cluster cluster-zzzzzzzzzzz is not in the document's Clusters"},
		{"a retired ID that is a resource's", replace(`"RetiredIds":[`+"\n"+`"`, `"RetiredIds":[`+"\n"+`"`+s.backupID+`",`+"\n"+`"`),
			"$.RetiredIds[0]: " + s.backupID + " is the ID of a resource of the document: a retired ID is one no resource has"},
		{"a policy of a backup not in the document", replace(`"ResourcePolicies":[`+"\n"+`{"BackupId":"`+s.backupID, `"ResourcePolicies":[`+"\n"+`{"BackupId":"backup-zzzzzzzzzzz`), `$.ResourcePolicies[0].BackupId: backup backup-zzzzzzzzzzz is not in the document's Backups`},
		{"a policy the sharing grammar refuses", replace(`cloudhsm:DescribeBackups\",`, `cloudhsm:DeleteBackup\",`), `$.ResourcePolicies[0].Policy: Statement 1: action "cloudhsm:DeleteBackup" cannot be shared`},
		{"an HSM type the service does not support", replace(`"HsmType":"hsm2m.medium","Mode"`, `"HsmType":"hsm9.large","Mode"`), `.HsmType: HsmType "hsm9.large" is not supported`},
		{"a retention out of range", replace(`"BackupRetentionDays":90`, `"BackupRetentionDays":3`), "$.Clusters[0].BackupRetentionDays: 3 is out of range: backups can be kept from 7 to 379 days"},
		{"a hardware CA that is none", replace(`"HardwareCa":"-----BEGIN`, `"HardwareCa":"-----BEGUN`), "$.HardwareCa: not a hardware CA bundle"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.importState(t, "?replace=true", []byte(tt.doc))
			wantAdminError(t, status, body, http.StatusBadRequest, tt.message)
			if !strings.Contains(body, "the document is refused, nothing was imported: $") {
				t.Fatalf("the refusal does not say nothing was imported: %s", body)
			}
			if got := string(e.exportState(t)); got != doc {
				t.Fatalf("a refused import changed the state")
			}
		})
	}

	t.Run("409: a store with resources, without replace", func(t *testing.T) {
		status, body := e.importState(t, "", []byte(doc))
		wantAdminError(t, status, body, http.StatusConflict, "the store is not empty: import into a new server, or replace its state")
	})
	t.Run("400: an unknown parameter", func(t *testing.T) {
		status, body := e.importState(t, "?merge=true", []byte(doc))
		wantAdminError(t, status, body, http.StatusBadRequest, "PUT state takes one parameter, replace=true or replace=false")
	})
	t.Run("replace swaps the whole state at once", func(t *testing.T) {
		empty, _ := startServer(t, "memory", start.Add(time.Hour))
		emptyDoc := empty.exportState(t)
		if status, body := e.importState(t, "?replace=true", emptyDoc); status != http.StatusOK {
			t.Fatalf("HTTP %d %s", status, body)
		}
		if got := e.exportState(t); !bytes.Equal(got, emptyDoc) {
			t.Fatalf("after replacing with an empty state:\n%s", got)
		}
		if now := e.virtualNow(t); !now.Equal(start.Add(time.Hour)) {
			t.Fatalf("the clock reads %s, want the document's %s (even though it was later)", now, start.Add(time.Hour))
		}
		if status, body := e.importState(t, "", []byte(doc)); status != http.StatusOK {
			t.Fatalf("into the emptied store, without replace: HTTP %d %s", status, body)
		}
		if got := string(e.exportState(t)); got != doc {
			t.Fatal("the state imported back differs")
		}
	})
}

// TestStateNeedsTheAdminToken: in strict mode both directions need the admin token.
func TestStateNeedsTheAdminToken(t *testing.T) {
	e, _ := newStrictEnv(t, strictCredentialsFile(t, strictCreds))
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		if status, body := e.adminWithAuth(method, "state", `{"Version":1,"Clock":"2026-03-01T09:00:00Z"}`, ""); status != http.StatusUnauthorized {
			t.Errorf("%s state without the token: HTTP %d %s", method, status, body)
		}
	}
	doc := e.exportState(t) // e.admin sends the token
	if status, body := e.adminWithAuth(http.MethodPut, "state?replace=true", string(doc), "Bearer "+strictAdminToken); status != http.StatusOK {
		t.Fatalf("import with the token: HTTP %d %s", status, body)
	}
	assertNoSecrets(t, "the exported state", string(doc))
}
