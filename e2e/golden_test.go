package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// update rewrites the golden files of TestGoldenResponses instead of comparing with them:
//
//	go test ./e2e/ -run TestGoldenResponses -update
var updateGolden = flag.Bool("update", false, "rewrite e2e/testdata/golden/*.json from the current responses")

const goldenDir = "testdata/golden"

// goldenOperations are the 18 operations of the CloudHSM v2 API; each has one golden response.
var goldenOperations = []string{
	"CopyBackupToRegion", "CreateCluster", "CreateHsm", "DeleteBackup", "DeleteCluster", "DeleteHsm",
	"DeleteResourcePolicy", "DescribeBackups", "DescribeClusters", "GetResourcePolicy", "InitializeCluster",
	"ListTags", "ModifyBackupAttributes", "ModifyCluster", "PutResourcePolicy", "RestoreBackup",
	"TagResource", "UntagResource",
}

// sigV4 returns an Authorization header that scopes a request to an account and region, as the
// SDKs send it (the signature itself is not checked in permissive mode).
func sigV4(accessKey, region string) map[string]string {
	return map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=" + accessKey +
		"/20260301/" + region + "/cloudhsm/aws4_request, SignedHeaders=host, Signature=0"}
}

// goldenRun drives one scripted setup with raw HTTP and checks each response against its file.
type goldenRun struct {
	t       *testing.T
	e       *env
	written map[string]bool
}

// call makes one raw request as account1 in us-east-1 and returns the decoded body; it fails
// the test unless the status is want.
func (g *goldenRun) call(op string, in any, want int) map[string]any {
	g.t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		g.t.Fatal(err)
	}
	status, _, out := g.e.rawCall(op, string(body), sigV4(account1, "us-east-1"))
	if status != want {
		g.t.Fatalf("%s %s: HTTP %d, want %d: %s", op, body, status, want, out)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		g.t.Fatalf("%s: response is not a JSON object: %v: %s", op, err, out)
	}
	return doc
}

// golden makes the call and compares its normalized body with testdata/golden/<name>.json.
func (g *goldenRun) golden(name, op string, in any, want int) map[string]any {
	g.t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		g.t.Fatal(err)
	}
	status, errType, out := g.e.rawCall(op, string(body), sigV4(account1, "us-east-1"))
	if status != want {
		g.t.Fatalf("%s %s: HTTP %d, want %d: %s", op, body, status, want, out)
	}
	norm, err := normalizeJSON([]byte(out))
	if err != nil {
		g.t.Fatalf("%s: %v\nbody: %s", name, err, out)
	}
	g.checkTimestamps(name, []byte(out))
	if want != http.StatusOK {
		if errType == "" || errType != norm["__type"] {
			g.t.Errorf("%s: X-Amzn-ErrorType %q does not match __type %v", name, errType, norm["__type"])
		}
	}
	g.compare(name, norm)
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		g.t.Fatal(err)
	}
	return doc
}

// checkTimestamps pins the values the golden files hide: the script never moves the clock, so
// every timestamp is the start time in epoch seconds, and DeleteTimestamp is 7 days later.
func (g *goldenRun) checkTimestamps(name string, raw []byte) {
	g.t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		g.t.Fatal(err)
	}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(k, e)
			}
		case []any:
			for _, e := range v {
				walk(key, e)
			}
		case json.Number:
			if !timestampMembers[key] {
				return
			}
			want := start
			if key == "DeleteTimestamp" {
				want = start.Add(week)
			}
			if string(v) != strconv.FormatInt(want.Unix(), 10) {
				g.t.Errorf("%s: %s is %s, want %d (epoch seconds of %s)", name, key, v, want.Unix(), want)
			}
		}
	}
	walk("", doc)
}

func (g *goldenRun) compare(name string, norm map[string]any) {
	g.t.Helper()
	got := prettyJSON(norm)
	path := filepath.Join(goldenDir, name+".json")
	g.written[name+".json"] = true
	if *updateGolden {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			g.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		g.t.Errorf("%s: %v (run go test ./e2e/ -run TestGoldenResponses -update)", name, err)
		return
	}
	if !bytes.Equal(got, want) {
		g.t.Errorf("%s: response differs from %s (rerun with -update if the change is intended)\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

// TestGoldenResponses pins the exact JSON of one successful call of each of the 18 operations,
// and of two error bodies, against testdata/golden. Volatile values are normalized first.
func TestGoldenResponses(t *testing.T) {
	e := newEnv(t)
	g := &goldenRun{t: t, e: e, written: map[string]bool{}}

	created := g.golden("CreateCluster", "CreateCluster", map[string]any{
		"HsmType": "hsm2m.medium", "SubnetIds": subnets,
		"TagList": []map[string]string{{"Key": "team", "Value": "crypto"}},
	}, 200)
	cluster := created["Cluster"].(map[string]any)
	clusterID := cluster["ClusterId"].(string)
	az := "us-east-1a"
	if _, ok := cluster["SubnetMapping"].(map[string]any)[az]; !ok {
		t.Fatalf("the account's first subnet should be in %s: %v", az, cluster["SubnetMapping"])
	}

	hsm := g.golden("CreateHsm", "CreateHsm", map[string]any{"ClusterId": clusterID, "AvailabilityZone": az}, 200)
	hsmID := hsm["Hsm"].(map[string]any)["HsmId"].(string)

	described := g.golden("DescribeClusters", "DescribeClusters", map[string]any{}, 200)
	csr := described["Clusters"].([]any)[0].(map[string]any)["Certificates"].(map[string]any)["ClusterCsr"].(string)
	ca := newCustomerCA(t)
	g.golden("InitializeCluster", "InitializeCluster", map[string]any{
		"ClusterId": clusterID, "SignedCert": ca.sign(t, csr), "TrustAnchor": ca.pem,
	}, 200)
	e.adminCall(http.MethodPost, "clusters/"+clusterID+"/activate", nil, nil)

	backups := g.golden("DescribeBackups", "DescribeBackups", map[string]any{}, 200)
	backup := backups["Backups"].([]any)[0].(map[string]any)
	backupID, backupArn := backup["BackupId"].(string), backup["BackupArn"].(string)

	deleted := g.golden("DeleteBackup", "DeleteBackup", map[string]any{"BackupId": backupID}, 200)
	if _, ok := deleted["Backup"].(map[string]any)["DeleteTimestamp"]; !ok {
		t.Errorf("DeleteBackup: the backup has no DeleteTimestamp: %v", deleted)
	}
	restored := g.golden("RestoreBackup", "RestoreBackup", map[string]any{"BackupId": backupID}, 200)
	rb := restored["Backup"].(map[string]any)
	if _, ok := rb["DeleteTimestamp"]; ok || rb["BackupState"] != "READY" {
		t.Errorf("RestoreBackup: want READY without DeleteTimestamp, got %v", rb)
	}
	g.golden("error_RestoreBackup_READY", "RestoreBackup", map[string]any{"BackupId": backupID}, 400)
	g.golden("error_validation", "RestoreBackup", map[string]any{"BackupId": "backup-1"}, 400)

	g.golden("ModifyBackupAttributes", "ModifyBackupAttributes", map[string]any{"BackupId": backupID, "NeverExpires": true}, 200)
	copied := g.golden("CopyBackupToRegion", "CopyBackupToRegion", map[string]any{"BackupId": backupID, "DestinationRegion": "eu-west-1"}, 200)
	dest := copied["DestinationBackup"].(map[string]any)
	if keys := sortedMapKeys(dest); !slices.Equal(keys, []string{"CreateTimestamp", "SourceBackup", "SourceCluster", "SourceRegion"}) {
		t.Errorf("CopyBackupToRegion: DestinationBackup has keys %v, want exactly CreateTimestamp, SourceBackup, SourceCluster, SourceRegion", keys)
	}

	for _, op := range []struct {
		name string
		in   map[string]any
	}{
		{"TagResource", map[string]any{"ResourceId": backupID, "TagList": []map[string]string{{"Key": "env", "Value": "test"}}}},
		{"UntagResource", map[string]any{"ResourceId": backupID, "TagKeyList": []string{"env"}}},
	} {
		if out := g.golden(op.name, op.name, op.in, 200); len(out) != 0 {
			t.Errorf("%s should answer {}, got %v", op.name, out)
		}
	}
	tags := g.golden("ListTags", "ListTags", map[string]any{"ResourceId": backupID}, 200)
	if list, ok := tags["TagList"].([]any); !ok || len(list) != 0 {
		t.Errorf("ListTags after UntagResource: want TagList [], got %v", tags)
	}

	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + account2 +
		`"]},"Action":["cloudhsm:DescribeBackups","cloudhsm:CreateCluster"],"Resource":"` + backupArn + `"}]}`
	g.golden("PutResourcePolicy", "PutResourcePolicy", map[string]any{"ResourceArn": backupArn, "Policy": policy}, 200)
	g.golden("GetResourcePolicy", "GetResourcePolicy", map[string]any{"ResourceArn": backupArn}, 200)
	g.golden("DeleteResourcePolicy", "DeleteResourcePolicy", map[string]any{"ResourceArn": backupArn}, 200)

	g.golden("ModifyCluster", "ModifyCluster", map[string]any{
		"ClusterId": clusterID, "BackupRetentionPolicy": map[string]string{"Type": "DAYS", "Value": "30"},
	}, 200)
	g.golden("DeleteHsm", "DeleteHsm", map[string]any{"ClusterId": clusterID, "HsmId": hsmID}, 200)
	g.golden("DeleteCluster", "DeleteCluster", map[string]any{"ClusterId": clusterID}, 200)

	for _, op := range goldenOperations {
		if !g.written[op+".json"] {
			t.Errorf("no golden response for operation %s", op)
		}
	}
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !g.written[filepath.Base(f)] {
			t.Errorf("stale golden file %s: no call produces it", f)
		}
	}
}

// TestNormalize pins the normalization the golden files rely on.
func TestNormalize(t *testing.T) {
	in := `{"B":{"BackupId":"backup-abcdefghijk","ClusterId":"cluster-bbbbbbbbbbb","CreateTimestamp":1772355600.5,
		"BackupArn":"arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk","X":"backup-zzzzzzzzzzz"},
		"A":{"Cert":"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
		"SecurityGroup":"sg-0123456789abcdef0","EniId":"eni-0123456789abcdef0","VpcId":"vpc-0123456789abcdef0","EniIp":"10.1.2.4"}}`
	got, err := normalizeJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "A": {
    "Cert": "<pem:CERTIFICATE REQUEST>",
    "EniId": "eni-<1>",
    "EniIp": "10.1.2.4",
    "SecurityGroup": "sg-<1>",
    "VpcId": "vpc-<1>"
  },
  "B": {
    "BackupArn": "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-<1>",
    "BackupId": "backup-<1>",
    "ClusterId": "cluster-<1>",
    "CreateTimestamp": "<timestamp>",
    "X": "backup-<2>"
  }
}
`
	if string(prettyJSON(got)) != want {
		t.Errorf("normalize:\n%s\nwant\n%s", prettyJSON(got), want)
	}
	if _, err := normalizeJSON([]byte(`{"Backup":{"CreateTimestamp":"2026-03-01T09:00:00Z"}}`)); err == nil {
		t.Error("a timestamp sent as a string must fail normalization")
	}
}

var (
	// idPattern matches resource IDs (docs/BEHAVIOUR.md §2), also inside ARNs and policies.
	idPattern = regexp.MustCompile(`\b(cluster|backup|hsm)-[a-z2-7]{11}\b`)
	// hexIDPattern matches EC2-style IDs: ENIs, security groups, VPCs.
	hexIDPattern = regexp.MustCompile(`\b(eni|sg|vpc)-[0-9a-f]{8,17}\b`)
	// pemPattern matches one PEM block.
	pemPattern = regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]+)-----[A-Za-z0-9+/=\s]*?-----END [A-Z0-9 ]+-----\n?`)
)

// timestampMembers are the model's timestamp members: JSON numbers on the wire.
var timestampMembers = map[string]bool{
	"CreateTimestamp": true, "CopyTimestamp": true, "DeleteTimestamp": true, "HsmTypeRollbackExpiration": true,
}

// normalize decodes a JSON object and replaces what differs from run to run: resource IDs
// become "<kind>-<n>" numbered by first appearance (walking keys in sorted order), timestamps
// "<timestamp>" after checking that they are JSON numbers, PEM blocks "<pem:TYPE>", and
// ENI/security group/VPC IDs "<kind>-<n>". IP addresses and everything else stay.
func normalizeJSON(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	n := &normalizer{ids: map[string]string{}, counts: map[string]int{}}
	out, err := n.walk("", doc)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

type normalizer struct {
	ids    map[string]string // original ID -> placeholder
	counts map[string]int    // kind -> placeholders handed out
}

func (n *normalizer) walk(key string, v any) (any, error) {
	if timestampMembers[key] {
		if _, ok := v.(json.Number); !ok {
			return nil, fmt.Errorf("%s is %T %v; timestamps must be JSON numbers (epoch seconds)", key, v, v)
		}
		return "<timestamp>", nil
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range sortedMapKeys(v) {
			nv, err := n.walk(k, v[k])
			if err != nil {
				return nil, err
			}
			out[k] = nv
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			ne, err := n.walk(key, e)
			if err != nil {
				return nil, err
			}
			out[i] = ne
		}
		return out, nil
	case string:
		return n.text(v), nil
	}
	return v, nil
}

func (n *normalizer) text(s string) string {
	s = pemPattern.ReplaceAllString(s, "<pem:$1>")
	s = idPattern.ReplaceAllStringFunc(s, n.placeholder)
	return hexIDPattern.ReplaceAllStringFunc(s, n.placeholder)
}

func (n *normalizer) placeholder(id string) string {
	if p, ok := n.ids[id]; ok {
		return p
	}
	kind, _, _ := strings.Cut(id, "-")
	n.counts[kind]++
	p := fmt.Sprintf("%s-<%d>", kind, n.counts[kind])
	n.ids[id] = p
	return p
}

// pretty renders v as indented JSON with sorted keys, without HTML escaping, ending in a newline.
func prettyJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func sortedMapKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
