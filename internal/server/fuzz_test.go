package server

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/customerca"

	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzServer/seed-* from the seed requests")

// fuzzStart is the wall time of the fuzzed server.
var fuzzStart = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// fuzzWorld is a server on a memory store holding one of everything, in the default account
// and region (the fuzzed requests are unsigned). Its random source is seeded, so the IDs are
// the same in every fuzz worker and every run, and the seed corpus can name them.
type fuzzWorld struct {
	handler  http.Handler
	cluster  string // ACTIVE, tagged, one HSM
	hsm      string
	backup   string // READY, tagged, shared with 444455556666
	pending  string // PENDING_DELETION
	copied   string // the copy of backup in eu-west-1
	arn      string // of backup
	newborn  string // a cluster still UNINITIALIZED
	deadline time.Duration
}

func newFuzzWorld(tb testing.TB) *fuzzWorld {
	tb.Helper()
	ctx := context.Background()
	svc := service.DefaultConfig()
	svc.MaxClusters = 1 << 30 // fuzzing creates many; the quota is tested elsewhere
	srv, err := New(ctx, Config{
		Store: "memory", DefaultRegion: "us-east-1", Lifecycle: lifecycle.DefaultConfig(), Service: svc,
		Clock: clock.NewManual(fuzzStart), Rand: mrand.NewChaCha8([32]byte{'f', 'u', 'z', 'z'}),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	w := &fuzzWorld{handler: srv.Handler(), deadline: 2 * time.Second}

	call := func(target, body string) map[string]any {
		tb.Helper()
		status, out := w.serve("BaldrApiService."+target, []byte(body))
		if status != http.StatusOK {
			tb.Fatalf("seeding %s %s: HTTP %d %s", target, body, status, out)
		}
		var doc map[string]any
		if err := json.Unmarshal(out, &doc); err != nil {
			tb.Fatalf("seeding %s: %v", target, err)
		}
		return doc
	}
	admin := func(path string) map[string]any {
		tb.Helper()
		rec := httptest.NewRecorder()
		w.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/_cloudhsm-local/"+path, nil))
		if rec.Code != http.StatusOK {
			tb.Fatalf("seeding admin %s: HTTP %d %s", path, rec.Code, rec.Body)
		}
		var doc map[string]any
		json.Unmarshal(rec.Body.Bytes(), &doc)
		return doc
	}
	str := func(doc map[string]any, keys ...string) string {
		var v any = doc
		for _, k := range keys {
			v = v.(map[string]any)[k]
		}
		return v.(string)
	}

	created := call("CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a1b2c3d4e5f60001","subnet-0a1b2c3d4e5f60002"],"TagList":[{"Key":"team","Value":"crypto"}]}`)
	w.cluster = str(created, "Cluster", "ClusterId")
	hsm := call("CreateHsm", `{"ClusterId":"`+w.cluster+`","AvailabilityZone":"us-east-1a"}`)
	w.hsm = str(hsm, "Hsm", "HsmId")
	described := call("DescribeClusters", `{"Filters":{"clusterIds":["`+w.cluster+`"]}}`)
	csr := described["Clusters"].([]any)[0].(map[string]any)["Certificates"].(map[string]any)["ClusterCsr"].(string)
	signed, anchor := signCSR(tb, csr)
	init, _ := json.Marshal(map[string]string{"ClusterId": w.cluster, "SignedCert": signed, "TrustAnchor": anchor})
	call("InitializeCluster", string(init))
	admin("clusters/" + w.cluster + "/activate")
	w.backup = str(admin("clusters/"+w.cluster+"/backups"), "Backup", "BackupId")
	w.pending = str(admin("clusters/"+w.cluster+"/backups"), "Backup", "BackupId")
	call("DeleteBackup", `{"BackupId":"`+w.pending+`"}`)
	w.arn = str(call("DescribeBackups", `{"Filters":{"backupIds":["`+w.backup+`"]}}`)["Backups"].([]any)[0].(map[string]any), "BackupArn")
	call("TagResource", `{"ResourceId":"`+w.backup+`","TagList":[{"Key":"keep","Value":"yes"}]}`)
	call("PutResourcePolicy", `{"ResourceArn":"`+w.arn+`","Policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"444455556666\"]},\"Action\":[\"cloudhsm:DescribeBackups\",\"cloudhsm:CreateCluster\"],\"Resource\":\"`+w.arn+`\"}]}"}`)
	w.copied = str(call("CopyBackupToRegion", `{"BackupId":"`+w.backup+`","DestinationRegion":"eu-west-1"}`), "DestinationBackup", "SourceBackup")
	w.newborn = str(call("CreateCluster", `{"HsmType":"hsm1.medium","SubnetIds":["subnet-0a1b2c3d4e5f60003"]}`), "Cluster", "ClusterId")
	return w
}

// serve runs one API request through the server with a deadline: a request that has not been
// answered in time fails the test as a hang.
func (w *fuzzWorld) serve(target string, body []byte) (int, []byte) {
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header["X-Amz-Target"] = []string{target}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.handler.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
		return rec.Code, rec.Body.Bytes()
	case <-time.After(w.deadline):
		return -1, []byte(fmt.Sprintf("no answer within %s", w.deadline))
	}
}

// seedRequests are real requests of every operation on the world's resources, and a few that
// are wrong in the ways clients get them wrong.
func (w *fuzzWorld) seedRequests() []struct{ name, target, body string } {
	const prefix = "BaldrApiService."
	cert := "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIBAjAKBggqhkjOPQQDAjAYMRYwFAYDVQQDEw1jdXN0b21lciByb290\n-----END CERTIFICATE-----\n"
	policy := `{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::444455556666:root\"},\"Action\":\"cloudhsm:DescribeBackups\"}}`
	return []struct{ name, target, body string }{
		{"CopyBackupToRegion", prefix + "CopyBackupToRegion", `{"BackupId":"` + w.backup + `","DestinationRegion":"eu-central-1","TagList":[{"Key":"copy","Value":"1"}]}`},
		{"CreateCluster", prefix + "CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a1b2c3d4e5f60001"],"BackupRetentionPolicy":{"Type":"DAYS","Value":"30"},"Mode":"FIPS","NetworkType":"IPV4","TagList":[{"Key":"team","Value":"crypto"}]}`},
		{"CreateCluster-from-backup", prefix + "CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a1b2c3d4e5f60002"],"SourceBackupId":"` + w.backup + `"}`},
		{"CreateHsm", prefix + "CreateHsm", `{"ClusterId":"` + w.cluster + `","AvailabilityZone":"us-east-1b","IpAddress":"10.0.1.9"}`},
		{"DeleteBackup", prefix + "DeleteBackup", `{"BackupId":"` + w.backup + `"}`},
		{"DeleteCluster", prefix + "DeleteCluster", `{"ClusterId":"` + w.newborn + `"}`},
		{"DeleteHsm", prefix + "DeleteHsm", `{"ClusterId":"` + w.cluster + `","HsmId":"` + w.hsm + `"}`},
		{"DeleteHsm-by-eni-ip", prefix + "DeleteHsm", `{"ClusterId":"` + w.cluster + `","EniIp":"10.0.1.4"}`},
		{"DeleteResourcePolicy", prefix + "DeleteResourcePolicy", `{"ResourceArn":"` + w.arn + `"}`},
		{"DescribeBackups", prefix + "DescribeBackups", `{"Filters":{"clusterIds":["` + w.cluster + `"],"states":["READY","PENDING_DELETION"],"neverExpires":["false"]},"MaxResults":1,"SortAscending":true}`},
		{"DescribeBackups-shared", prefix + "DescribeBackups", `{"Shared":true,"Filters":{"sourceBackupIds":["` + w.backup + `"]}}`},
		{"DescribeClusters", prefix + "DescribeClusters", `{"Filters":{"clusterIds":["` + w.cluster + `","` + w.newborn + `"],"states":["ACTIVE","UNINITIALIZED"]},"MaxResults":1}`},
		{"DescribeClusters-next-token", prefix + "DescribeClusters", `{"NextToken":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","MaxResults":25}`},
		{"GetResourcePolicy", prefix + "GetResourcePolicy", `{"ResourceArn":"` + w.arn + `"}`},
		{"InitializeCluster", prefix + "InitializeCluster", `{"ClusterId":"` + w.newborn + `","SignedCert":` + strconv.Quote(cert) + `,"TrustAnchor":` + strconv.Quote(cert) + `}`},
		{"ListTags", prefix + "ListTags", `{"ResourceId":"` + w.cluster + `","MaxResults":1}`},
		{"ModifyBackupAttributes", prefix + "ModifyBackupAttributes", `{"BackupId":"` + w.backup + `","NeverExpires":true}`},
		{"ModifyCluster", prefix + "ModifyCluster", `{"ClusterId":"` + w.cluster + `","BackupRetentionPolicy":{"Type":"DAYS","Value":"7"}}`},
		{"ModifyCluster-hsm-type", prefix + "ModifyCluster", `{"ClusterId":"` + w.cluster + `","HsmType":"hsm2m.medium"}`},
		{"PutResourcePolicy", prefix + "PutResourcePolicy", `{"ResourceArn":"` + w.arn + `","Policy":"` + policy + `"}`},
		{"RestoreBackup", prefix + "RestoreBackup", `{"BackupId":"` + w.pending + `"}`},
		{"TagResource", prefix + "TagResource", `{"ResourceId":"` + w.backup + `","TagList":[{"Key":"a","Value":"1"},{"Key":"a","Value":"2"}]}`},
		{"UntagResource", prefix + "UntagResource", `{"ResourceId":"` + w.cluster + `","TagKeyList":["team","nope"]}`},
		{"bad-id", prefix + "RestoreBackup", `{"BackupId":"backup-1"}`},
		{"wrong-type", prefix + "DescribeBackups", `{"MaxResults":"5"}`},
		{"unknown-operation", prefix + "Nope", `{}`},
		{"no-target", "", `{}`},
		{"not-an-object", prefix + "ListTags", `[1,2]`},
		{"many-bad-filter-keys", prefix + "DescribeBackups", `{"Filters":{` + manyKeys(2000, `"<&>\u0001`) + `}}`},
		{"long-bad-values", prefix + "DescribeClusters", `{"Filters":{"clusterIds":["` + strings.Repeat("<", 4000) + `"],"x` + strings.Repeat("&", 4000) + `":[]}}`},
	}
}

// FuzzServer sends arbitrary X-Amz-Target values and bodies to the whole server on a real
// (memory) store: every answer is 200 or 400 with a well-formed body — never a 500, a panic or
// a hang.
func FuzzServer(f *testing.F) {
	w := newFuzzWorld(f)
	for _, s := range w.seedRequests() {
		f.Add(s.target, []byte(s.body))
	}
	if *updateCorpus {
		writeCorpus(f, "FuzzServer", w.seedRequests())
	}
	f.Fuzz(func(t *testing.T, target string, body []byte) {
		status, out := w.serve(target, body)
		switch status {
		case http.StatusOK, http.StatusBadRequest:
		case -1:
			t.Fatalf("hang: %s for target %q body %q", out, target, body)
		default:
			t.Fatalf("HTTP %d for target %q body %q: %s", status, target, body, out)
		}
		var doc map[string]any
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("response %q is not a JSON object: %v", out, err)
		}
		if status == http.StatusBadRequest {
			if msg, _ := doc["message"].(string); doc["__type"] == nil || msg == "" {
				t.Fatalf("error response without a type and message: %s", out)
			}
			if len(out) > api.MaxErrorBodyBytes {
				t.Fatalf("an error answer of %d bytes (the bound is %d) to a body of %d bytes: %.300s", len(out), api.MaxErrorBodyBytes, len(body), out)
			}
		}
	})
}

// writeCorpus writes seeds as files of Go's fuzz corpus format under testdata/fuzz/name.
func writeCorpus(tb testing.TB, name string, seeds []struct{ name, target, body string }) {
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, s := range seeds {
		content := "go test fuzz v1\nstring(" + strconv.Quote(s.target) + ")\n[]byte(" + strconv.Quote(s.body) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestFuzzWorldIsDeterministic: two worlds get the same IDs, so the seed corpus stays valid.
func TestFuzzWorldIsDeterministic(t *testing.T) {
	a, b := newFuzzWorld(t), newFuzzWorld(t)
	if a.cluster != b.cluster || a.backup != b.backup || a.hsm != b.hsm || a.newborn != b.newborn {
		t.Fatalf("IDs differ between two seeded worlds: %+v vs %+v", a, b)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzServer", "seed-RestoreBackup"))
	if err != nil {
		t.Fatalf("the seed corpus is missing (go test ./internal/server -run FuzzServer -update-corpus): %v", err)
	}
	if !strings.Contains(string(raw), a.pending) {
		t.Fatalf("the seed corpus names other IDs than the world's (%s): rerun with -update-corpus", a.pending)
	}
}

// signCSR issues a certificate for a cluster CSR from a fresh customer CA, as the user guide
// does with openssl; it returns the certificate and the CA's, in PEM.
func signCSR(tb testing.TB, csrPEM string) (cert, anchor string) {
	tb.Helper()
	cert, anchor, err := customerca.SignCSR(csrPEM, fuzzStart)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, anchor
}

// manyKeys renders n distinct JSON object members "<prefix>i":[], to seed inputs whose errors
// could grow with the request.
func manyKeys(n int, prefix string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"` + prefix + strconv.Itoa(i) + `":[]`
	}
	return strings.Join(parts, ",")
}
