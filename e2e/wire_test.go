package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
)

// wireResponse is one raw HTTP exchange's answer.
type wireResponse struct {
	status int
	header http.Header
	body   string
}

// wire sends a raw request (target "" sends no X-Amz-Target) and checks what every response
// must carry (docs/BEHAVIOUR.md §8): x-amzn-RequestId, Content-Type application/x-amz-json-1.1, a
// JSON object body; and, on errors, X-Amzn-ErrorType equal to the body's __type and a body of
// exactly __type and message.
func (e *env) wire(t *testing.T, method, path, target, body string, header map[string]string) wireResponse {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := wireResponse{status: resp.StatusCode, header: resp.Header, body: string(raw)}

	if resp.Header.Get("x-amzn-RequestId") == "" {
		t.Errorf("%s %s %s: no x-amzn-RequestId header", method, path, target)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("%s %s %s: Content-Type %q", method, path, target, ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s %s %s: body is not a JSON object: %s", method, path, target, raw)
	}
	if resp.StatusCode != http.StatusOK {
		typ, _ := doc["__type"].(string)
		if typ == "" || resp.Header.Get("X-Amzn-ErrorType") != typ {
			t.Errorf("error: X-Amzn-ErrorType %q, __type %q; want equal and set", resp.Header.Get("X-Amzn-ErrorType"), typ)
		}
		if _, ok := doc["message"].(string); !ok || len(doc) != 2 {
			t.Errorf("error body must be exactly {__type, message}: %s", raw)
		}
	}
	return r
}

// wantWireError checks an error answer's status, name and (if not "") exact message.
func wantWireError(t *testing.T, r wireResponse, status int, code, message string) {
	t.Helper()
	var doc struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal([]byte(r.body), &doc)
	if r.status != status || doc.Type != code {
		t.Fatalf("HTTP %d %s, want %d %s", r.status, r.body, status, code)
	}
	if message != "" && doc.Message != message {
		t.Fatalf("message\n %q\nwant\n %q", doc.Message, message)
	}
}

const wireTarget = "BaldrApiService."

// TestWireProtocol pins the awsJson1_1 front door (docs/API.md §2, docs/BEHAVIOUR.md §1 and §8),
// one row per rule, with raw HTTP.
func TestWireProtocol(t *testing.T) {
	auth := sigV4(account1, "us-east-1")
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"an unknown X-Amz-Target is 400 UnknownOperationException", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/", wireTarget+"DescribeEverything", `{}`, auth)
			wantWireError(t, r, 400, "UnknownOperationException", "Unknown operation 'BaldrApiService.DescribeEverything'")
		}},
		{"an X-Amz-Target of another service is 400 UnknownOperationException", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/", "CloudHsmFrontendService.DescribeBackups", `{}`, auth)
			wantWireError(t, r, 400, "UnknownOperationException", "")
		}},
		{"a missing X-Amz-Target is 400 UnknownOperationException", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/", "", `{}`, auth)
			wantWireError(t, r, 400, "UnknownOperationException", "Missing X-Amz-Target header: expected BaldrApiService.<Operation>")
		}},
		{"GET / is 400 UnknownOperationException", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodGet, "/", wireTarget+"DescribeBackups", ``, auth)
			wantWireError(t, r, 400, "UnknownOperationException", "")
		}},
		{"a path other than / is 404 UnknownOperationException", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/v2/backups", wireTarget+"DescribeBackups", `{}`, auth)
			wantWireError(t, r, 404, "UnknownOperationException", "")
		}},
		{"a body that is not JSON is 400 SerializationException", func(t *testing.T, e *env) {
			for _, body := range []string{`not json`, `{"BackupId":`, `[]`, `"x"`, `{} {}`} {
				r := e.wire(t, http.MethodPost, "/", wireTarget+"DescribeBackups", body, auth)
				wantWireError(t, r, 400, "SerializationException", "")
			}
		}},
		{"a member of the wrong JSON type is 400 SerializationException", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/", wireTarget+"DescribeBackups", `{"MaxResults":"5"}`, auth)
			wantWireError(t, r, 400, "SerializationException", "Value for 'MaxResults' must be a number, not a string")
			r = e.wire(t, http.MethodPost, "/", wireTarget+"ModifyBackupAttributes", `{"BackupId":"backup-aaaaaaaaaaa","NeverExpires":"true"}`, auth)
			wantWireError(t, r, 400, "SerializationException", "Value for 'NeverExpires' must be a boolean, not a string")
		}},
		{"an empty body is accepted for DescribeBackups and DescribeClusters", func(t *testing.T, e *env) {
			for op, want := range map[string]string{"DescribeBackups": `{"Backups":[]}`, "DescribeClusters": `{"Clusters":[]}`} {
				r := e.wire(t, http.MethodPost, "/", wireTarget+op, ``, auth)
				if r.status != 200 || r.body != want {
					t.Errorf("%s with an empty body: HTTP %d %s, want %s", op, r.status, r.body, want)
				}
			}
		}},
		{"every response has its own x-amzn-RequestId", func(t *testing.T, e *env) {
			seen := map[string]bool{}
			for _, op := range []string{"DescribeBackups", "DescribeBackups", "Nope"} {
				id := e.wire(t, http.MethodPost, "/", wireTarget+op, `{}`, auth).header.Get("x-amzn-RequestId")
				if seen[id] {
					t.Errorf("request id %s reused", id)
				}
				seen[id] = true
			}
		}},
		{"a required member that is missing", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/", wireTarget+"CreateHsm", `{"AvailabilityZone":"us-east-1a"}`, auth)
			wantWireError(t, r, 400, "CloudHsmInvalidRequestException",
				"1 validation error detected: Value null at 'clusterId' failed to satisfy constraint: Member must not be null")
		}},
		{"a value that does not match the pattern", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/", wireTarget+"DeleteBackup", `{"BackupId":"backup-1"}`, auth)
			wantWireError(t, r, 400, "CloudHsmInvalidRequestException",
				"1 validation error detected: Value 'backup-1' at 'backupId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^backup-[2-7a-zA-Z]{11,16}$")
		}},
		{"a list that is too short", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/", wireTarget+"TagResource", `{"ResourceId":"cluster-aaaaaaaaaaa","TagList":[]}`, auth)
			wantWireError(t, r, 400, "CloudHsmInvalidRequestException",
				"1 validation error detected: Value '[]' at 'tagList' failed to satisfy constraint: Member must have length greater than or equal to 1")
		}},
		{"a string that is too long", func(t *testing.T, e *env) {
			key := strings.Repeat("k", 129)
			r := e.wire(t, http.MethodPost, "/", wireTarget+"UntagResource", `{"ResourceId":"cluster-aaaaaaaaaaa","TagKeyList":["`+key+`"]}`, auth)
			wantWireError(t, r, 400, "CloudHsmInvalidRequestException",
				"1 validation error detected: Value '"+key+"' at 'tagKeyList.1.member' failed to satisfy constraint: Member must have length less than or equal to 128")
		}},
		{"a number out of range", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/", wireTarget+"DescribeBackups", `{"MaxResults":51}`, auth)
			wantWireError(t, r, 400, "CloudHsmInvalidRequestException",
				"1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50")
			r = e.wire(t, http.MethodPost, "/", wireTarget+"DescribeClusters", `{"MaxResults":0}`, auth)
			wantWireError(t, r, 400, "CloudHsmInvalidRequestException",
				"1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1")
		}},
		{"a value outside the enum", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/", wireTarget+"CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a1b2c3d4e5f60001"],"Mode":"X"}`, auth)
			wantWireError(t, r, 400, "CloudHsmInvalidRequestException",
				"1 validation error detected: Value 'X' at 'mode' failed to satisfy constraint: Member must satisfy enum value set: [FIPS, NON_FIPS]")
		}},
		{"several violations are counted and joined with '; '", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/", wireTarget+"CreateCluster", `{"Mode":"X"}`, auth)
			wantWireError(t, r, 400, "CloudHsmInvalidRequestException",
				"3 validation errors detected: "+
					"Value null at 'hsmType' failed to satisfy constraint: Member must not be null; "+
					"Value 'X' at 'mode' failed to satisfy constraint: Member must satisfy enum value set: [FIPS, NON_FIPS]; "+
					"Value null at 'subnetIds' failed to satisfy constraint: Member must not be null")
		}},
		{"the region of the credential scope isolates resources of one account", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/", wireTarget+"CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a1b2c3d4e5f60001"]}`, auth)
			if r.status != 200 {
				t.Fatalf("CreateCluster: %d %s", r.status, r.body)
			}
			var created struct{ Cluster struct{ ClusterId string } }
			_ = json.Unmarshal([]byte(r.body), &created)
			id := created.Cluster.ClusterId
			if n := clusterCount(t, e, sigV4(account1, "us-east-1")); n != 1 {
				t.Fatalf("us-east-1 sees %d clusters, want 1", n)
			}
			if n := clusterCount(t, e, sigV4(account1, "eu-west-1")); n != 0 {
				t.Fatalf("eu-west-1 of the same account sees %d clusters, want 0", n)
			}
			r = e.wire(t, http.MethodPost, "/", wireTarget+"DeleteCluster", `{"ClusterId":"`+id+`"}`, sigV4(account1, "eu-west-1"))
			wantWireError(t, r, 400, "CloudHsmResourceNotFoundException", "")
		}},
		{"an access key that is not 12 digits is account 000000000000", func(t *testing.T, e *env) {
			c := e.client("AKIDEXAMPLE", "us-east-1")
			_, backupID := e.activeCluster(t, c)
			b := describeBackup(t, c, backupID)
			if want := "arn:aws:cloudhsm:us-east-1:000000000000:backup/" + backupID; aws.ToString(b.BackupArn) != want {
				t.Fatalf("BackupArn %s, want %s", aws.ToString(b.BackupArn), want)
			}
			if n := clusterCount(t, e, sigV4("000000000000", "us-east-1")); n != 1 {
				t.Fatalf("account 000000000000 sees %d clusters, want 1", n)
			}
			if n := clusterCount(t, e, sigV4(account1, "us-east-1")); n != 0 {
				t.Fatalf("account %s sees %d clusters, want 0", account1, n)
			}
		}},
		{"no Authorization header is the default account and region", func(t *testing.T, e *env) {
			r := e.wire(t, http.MethodPost, "/", wireTarget+"CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a1b2c3d4e5f60001"]}`, nil)
			if r.status != 200 {
				t.Fatalf("CreateCluster: %d %s", r.status, r.body)
			}
			if n := clusterCount(t, e, sigV4("000000000000", "us-east-1")); n != 1 {
				t.Fatalf("account 000000000000 in us-east-1 sees %d clusters, want 1", n)
			}
		}},
		{"a malformed region in the credential scope is CloudHsmInvalidRequestException", func(t *testing.T, e *env) {
			for _, region := range []string{"us-east-1x", "moon-1", "US-EAST-1"} {
				r := e.wire(t, http.MethodPost, "/", wireTarget+"DescribeClusters", `{}`, sigV4(account1, region))
				wantWireError(t, r, 400, "CloudHsmInvalidRequestException", "Credential should be scoped to a valid region, not '"+region+"'.")
			}
		}},
		{"the SDK sees the same names and statuses", func(t *testing.T, e *env) {
			_, err := e.defaultClient().RestoreBackup(context.Background(), &cloudhsmv2.RestoreBackupInput{BackupId: aws.String("backup-1")})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newEnv(t))
		})
	}
}

// clusterCount counts the clusters a raw DescribeClusters sees with these headers.
func clusterCount(t *testing.T, e *env, header map[string]string) int {
	t.Helper()
	r := e.wire(t, http.MethodPost, "/", wireTarget+"DescribeClusters", `{}`, header)
	var out struct{ Clusters []any }
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 200 {
		t.Fatalf("DescribeClusters: %d %s", r.status, r.body)
	}
	return len(out.Clusters)
}
