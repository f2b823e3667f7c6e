package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
)

// The request history (BEHAVIOUR.md §9, GET /_cloudhsm-local/requests): the most recent API
// calls of this server process, newest first, over the admin API.

// requestsOf lists the history with the query string q ("" for none).
func (e *env) requestsOf(t *testing.T, q string) []admin.Request {
	t.Helper()
	path := "requests"
	if q != "" {
		path += "?" + q
	}
	var out admin.RequestList
	e.adminCall(http.MethodGet, path, nil, &out)
	return out.Requests
}

// TestRequestHistory: what a test author asks of the history — did the job call RestoreBackup,
// how often, for which backup, with what outcome — through SDK calls and the admin API.
func TestRequestHistory(t *testing.T) {
	e := newEnv(t)
	c := e.defaultClient()
	clusterID, backupID := e.activeCluster(t, c)
	if _, err := c.DeleteBackup(t.Context(), &cloudhsmv2.DeleteBackupInput{BackupId: &backupID}); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Hour)
	if _, err := c.RestoreBackup(t.Context(), &cloudhsmv2.RestoreBackupInput{BackupId: &backupID}); err != nil {
		t.Fatal(err)
	}
	_, err := c.RestoreBackup(t.Context(), &cloudhsmv2.RestoreBackupInput{BackupId: &backupID})
	wantAPIError(t, err, "CloudHsmInvalidRequestException", http.StatusBadRequest)
	other := e.client(account2, "eu-west-1")
	if _, err := other.DescribeBackups(t.Context(), &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {backupID}}}); err != nil {
		t.Fatal(err)
	}

	t.Run("the JSON of one request, member by member", func(t *testing.T) {
		_, body := e.adminRaw(http.MethodGet, "requests?operation=RestoreBackup&limit=1", "")
		var out struct{ Requests []map[string]json.RawMessage }
		if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Requests) != 1 {
			t.Fatalf("%s: %v", body, err)
		}
		r := out.Requests[0]
		want := map[string]string{
			"Time": `"2026-03-01T09:00:00Z"`, "VirtualTime": `"2026-03-01T10:00:00Z"`, "Operation": `"RestoreBackup"`,
			"Account": `"111122223333"`, "Region": `"us-east-1"`, "AccessKeyId": `"111122223333"`, "Status": `400`,
			"Error": `"CloudHsmInvalidRequestException"`, "DurationMs": `0`, "ResourceIds": `["` + backupID + `"]`,
		}
		for k, v := range want {
			if string(r[k]) != v {
				t.Errorf("%s: %s, want %s", k, r[k], v)
			}
		}
		if len(r) != len(want)+1 || len(r["RequestId"]) < 10 {
			t.Errorf("members %v: want exactly %d and a RequestId", r, len(want)+1)
		}
	})
	t.Run("RestoreBackup was called twice for the backup, newest first", func(t *testing.T) {
		got := e.requestsOf(t, "operation=RestoreBackup")
		if len(got) != 2 || got[0].Error != "CloudHsmInvalidRequestException" || got[1].Error != "" || got[1].Status != 200 {
			t.Fatalf("%+v", got)
		}
		if !slices.Equal(got[1].ResourceIDs, []string{backupID, clusterID}) {
			t.Fatalf("the restore names %v, want the backup and its cluster (from the answer)", got[1].ResourceIDs)
		}
	})

	tests := []struct {
		name, query string
		want        []string // operations, newest first
	}{
		{"everything", "", []string{"DescribeBackups", "RestoreBackup", "RestoreBackup", "DeleteBackup", "DescribeBackups",
			"InitializeCluster", "DescribeClusters", "CreateHsm", "CreateCluster"}},
		{"an account", "account=" + account2, []string{"DescribeBackups"}},
		{"a region", "region=us-east-1&operation=DescribeBackups", []string{"DescribeBackups"}},
		{"an error name", "error=CloudHsmInvalidRequestException", []string{"RestoreBackup"}},
		{"any error", "error=*", []string{"RestoreBackup"}},
		{"a limit", "limit=2", []string{"DescribeBackups", "RestoreBackup"}},
		{"nothing matches", "operation=CopyBackupToRegion", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := []string{}
			for _, r := range e.requestsOf(t, tt.query) {
				ops = append(ops, r.Operation)
			}
			if !slices.Equal(ops, tt.want) {
				t.Fatalf("%v, want %v", ops, tt.want)
			}
		})
	}

	bad := []struct{ name, query, message string }{
		{"an unknown filter", "state=READY", `unknown filter "state": the filters are operation, account, region, error, limit`},
		{"a filter given twice", "operation=RestoreBackup&operation=DeleteBackup", "filter operation is given 2 times: give it once"},
		{"an unknown operation", "operation=restorebackup", `operation "restorebackup" is not an operation of the API`},
		{"an account", "account=42", `account "42" is not a 12-digit account id`},
		{"a region", "region=mars", `region "mars" is not a region such as us-east-1`},
		{"an error", "error=oops", `error "oops" is not an error name`},
		{"a limit of 0", "limit=0", `limit "0" is not a number from 1 to 10000`},
		{"a limit over the most kept", "limit=10001", "limit 10001 is not from 1 to 10000"},
	}
	for _, tt := range bad {
		t.Run("400: "+tt.name, func(t *testing.T) {
			status, body := e.adminRaw(http.MethodGet, "requests?"+tt.query, "")
			wantAdminError(t, status, body, http.StatusBadRequest, tt.message)
		})
	}

	t.Run("reset clears it", func(t *testing.T) {
		e.adminCall(http.MethodPost, "reset", nil, nil)
		if got := e.requestsOf(t, ""); len(got) != 0 {
			t.Fatalf("after reset: %+v", got)
		}
	})
}

// TestRequestHistoryKeepsNoSecret: in strict mode the history names the access key of each
// authenticated request and nothing else of its credentials — no secret, session token,
// signature or Authorization header, for requests that succeed or fail in every way — and the
// admin token guards it.
func TestRequestHistoryKeepsNoSecret(t *testing.T) {
	e, _ := newStrictEnv(t, strictCredentialsFile(t, strictCreds))
	var mu sync.Mutex
	var sent []string // every Authorization and X-Amz-Security-Token header sent
	capture := afterSigning(func(r *smithyhttp.Request) (*smithyhttp.Request, error) {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, r.Header.Get("Authorization"), r.Header.Get("X-Amz-Security-Token"))
		return r, nil
	})
	wrongSecret := credOwner
	wrongSecret.secret = "guessed-secret-value"
	clients := []struct {
		client *cloudhsmv2.Client
		key    string // the AccessKeyId the history shows; "" when authentication fails
	}{
		{e.strictClient(credOwner, "us-east-1", capture), credOwner.key},
		{e.strictClient(credSession, "eu-west-1", capture), credSession.key},
		{e.strictClient(credReadOnly, "us-east-1", capture), credReadOnly.key}, // CreateCluster is denied
		{e.strictClient(credExpired, "us-east-1", capture), ""},
		{e.strictClient(wrongSecret, "us-east-1", capture), ""},
		{e.strictClient(credOwner, "us-east-1", capture, anonymous), ""},
		{e.strictClient(credSession, "us-east-1", capture, tamperHeader("X-Amz-Security-Token", "tampered-token")), ""},
	}
	var wantKeys []string
	for _, c := range clients {
		_, _ = c.client.CreateCluster(context.Background(), &cloudhsmv2.CreateClusterInput{
			HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{"subnet-0a1b2c3d4e5f60001"},
		})
		wantKeys = append([]string{c.key}, wantKeys...) // newest first
	}

	if status, _ := e.adminWithAuth(http.MethodGet, "requests", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("the history without the admin token: HTTP %d, want 401", status)
	}
	status, body := e.adminWithAuth(http.MethodGet, "requests", "", "Bearer "+strictAdminToken)
	var out admin.RequestList
	if err := json.Unmarshal([]byte(body), &out); status != http.StatusOK || err != nil {
		t.Fatalf("HTTP %d %s", status, body)
	}
	var keys, errs []string
	for _, r := range out.Requests {
		keys, errs = append(keys, r.AccessKeyID), append(errs, r.Error)
		if (r.AccessKeyID == "") != (r.Account == "") {
			t.Errorf("request %+v: an account without its key, or a key without its account", r)
		}
	}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("access keys %q, want %q (errors %q)", keys, wantKeys, errs)
	}
	wantErrs := []string{"UnrecognizedClientException", "MissingAuthenticationTokenException", "InvalidSignatureException",
		"ExpiredTokenException", "CloudHsmAccessDeniedException", "", ""}
	if !slices.Equal(errs, wantErrs) {
		t.Fatalf("errors %q, want %q", errs, wantErrs)
	}
	assertNoSecrets(t, "the request history", body)
	for _, h := range sent {
		_, signature, _ := strings.Cut(h, "Signature=")
		for _, leak := range []string{h, signature} {
			if len(leak) > 20 && strings.Contains(body, leak) {
				t.Errorf("the request history contains a header value sent: %.40s…", leak)
			}
		}
	}
	for _, guess := range []string{"guessed-secret-value", "tampered-token", "Signature=", "Credential="} {
		if strings.Contains(body, guess) {
			t.Errorf("the request history contains %q", guess)
		}
	}
}
