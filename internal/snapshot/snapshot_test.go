package snapshot

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from what the Writer writes")

// at is a fixed instant, min minutes after 2026-03-01 09:00 UTC.
func at(min int) time.Time {
	return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(min) * time.Minute)
}

// recorded is every call a Sink received, in order.
type recorded struct {
	calls []any
	fail  error // returned by the call whose index is failAt
	at    int
}

type call struct {
	Method string
	Path   string
	Args   []any
}

func (r *recorded) add(method, path string, args ...any) error {
	r.calls = append(r.calls, call{method, path, args})
	if r.fail != nil && len(r.calls)-1 == r.at {
		return r.fail
	}
	return nil
}

func (r *recorded) Header(h Header) error { return r.add("Header", "", h) }
func (r *recorded) Subnet(p string, s store.Subnet) error {
	return r.add("Subnet", p, s)
}
func (r *recorded) ClusterIdentity(p, id string, c store.Certificates) error {
	return r.add("ClusterIdentity", p, id, c)
}
func (r *recorded) Cluster(p string, c store.Cluster, tags []store.Tag) error {
	return r.add("Cluster", p, c, tags)
}
func (r *recorded) HSM(p string, h store.HSM) error       { return r.add("HSM", p, h) }
func (r *recorded) Backup(p string, b store.Backup) error { return r.add("Backup", p, b) }
func (r *recorded) ResourcePolicy(p, id, doc string) error {
	return r.add("ResourcePolicy", p, id, doc)
}
func (r *recorded) RetiredID(p, id string) error { return r.add("RetiredID", p, id) }

// fixture is a state with a record of every kind and every optional field set somewhere.
func fixture() (Header, []call) {
	certs := store.Certificates{ClusterKey: "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n", ClusterCsr: "csr",
		HsmCertificate: "hsm", AwsHardwareCertificate: "aws", ManufacturerHardwareCertificate: "mfr", ClusterCertificate: "cert"}
	cluster := store.Cluster{
		ID: "cluster-aaaaaaaaaaa", Account: "111122223333", Region: "us-east-1", State: "ACTIVE", HsmType: "hsm2m.medium",
		Mode: "FIPS", NetworkType: "IPV4", RetentionDays: 90, VpcID: "vpc-0123456789abcdef0", SecurityGroup: "sg-0123456789abcdef0",
		SubnetMapping: map[string]string{"us-east-1a": "subnet-0a1b2c3d4e5f60001"}, PreCoPassword: "pre-co",
		CreatedAt: at(0), HsmTypeRollbackAt: at(60), Certificates: certs, NextBackupAt: at(24 * 60), Version: 1,
	}
	modifying := store.Cluster{
		ID: "cluster-bbbbbbbbbbb", Account: "444455556666", Region: "eu-west-1", State: "DELETE_IN_PROGRESS", StateMessage: "going",
		HsmType: "hsm1.medium", Mode: "NON_FIPS", NetworkType: "IPV4", RetentionDays: 7, SourceBackupID: "backup-sssssssssss",
		VpcID: "vpc-1", SecurityGroup: "sg-1", SubnetMapping: map[string]string{}, CreatedAt: at(1), DueAt: at(5), Version: 1,
	}
	ready := store.Backup{ID: "backup-aaaaaaaaaaa", Account: "111122223333", Region: "us-east-1", ClusterID: cluster.ID,
		State: "READY", HsmType: "hsm2m.medium", Mode: "FIPS", CreatedAt: at(2), Version: 1,
		Tags: []store.Tag{{Key: "env", Value: "ci:blue/a=b+c@d"}, {Key: "team", Value: ""}}}
	pending := store.Backup{ID: "backup-bbbbbbbbbbb", Account: "111122223333", Region: "us-east-1", ClusterID: cluster.ID,
		State: "PENDING_DELETION", HsmType: "hsm2m.medium", Mode: "FIPS", NeverExpires: true, CreatedAt: at(3),
		DeleteAt: at(7 * 24 * 60), DueAt: at(7 * 24 * 60), Version: 1}
	copied := store.Backup{ID: "backup-ccccccccccc", Account: "111122223333", Region: "eu-west-1", State: "DELETED",
		HsmType: "hsm2m.medium", Mode: "FIPS", CreatedAt: at(2), DeleteAt: at(9), CopiedAt: at(4), SourceRegion: "us-east-1",
		SourceBackupID: ready.ID, SourceClusterID: cluster.ID, DueAt: at(99), Version: 1}
	h := Header{Clock: at(10), HardwareCA: "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"}
	return h, []call{
		{"Header", "", []any{h}},
		{"Subnet", "$.Subnets[0]", []any{store.Subnet{Account: "111122223333", Region: "eu-west-1", ID: "subnet-0a1b2c3d4e5f60009", VpcID: "vpc-9", AvailabilityZone: "eu-west-1a"}}},
		{"Subnet", "$.Subnets[1]", []any{store.Subnet{Account: "111122223333", Region: "us-east-1", ID: "subnet-0a1b2c3d4e5f60001", VpcID: "vpc-0123456789abcdef0", AvailabilityZone: "us-east-1a"}}},
		{"ClusterIdentity", "$.ClusterIdentities[0]", []any{cluster.ID, certs}},
		{"Cluster", "$.Clusters[0]", []any{cluster, []store.Tag{{Key: "k", Value: "v"}}}},
		{"Cluster", "$.Clusters[1]", []any{modifying, []store.Tag(nil)}},
		{"HSM", "$.Hsms[0]", []any{store.HSM{ID: "hsm-aaaaaaaaaaa", ClusterID: cluster.ID, AvailabilityZone: "us-east-1a",
			SubnetID: "subnet-0a1b2c3d4e5f60001", EniID: "eni-0123456789abcdef0", EniIP: "10.0.0.4", HsmType: "hsm2m.medium",
			State: "ACTIVE", CreatedAt: at(1)}}},
		{"Backup", "$.Backups[0]", []any{ready}},
		{"Backup", "$.Backups[1]", []any{pending}},
		{"Backup", "$.Backups[2]", []any{copied}},
		{"ResourcePolicy", "$.ResourcePolicies[0]", []any{ready.ID, `{"Version":"2012-10-17","Statement":[],"Id":"<&>"}`}},
		{"RetiredID", "$.RetiredIds[0]", []any{"backup-zzzzzzzzzzz"}},
		{"RetiredID", "$.RetiredIds[1]", []any{"hsm-zzzzzzzzzzz"}},
	}
}

// write writes calls with a Writer.
func write(t *testing.T, calls []call) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, c := range calls {
		var err error
		switch c.Method {
		case "Header":
			err = w.Begin(c.Args[0].(Header))
		case "Subnet":
			err = w.Subnet(c.Args[0].(store.Subnet))
		case "ClusterIdentity":
			err = w.ClusterIdentity(c.Args[0].(string), c.Args[1].(store.Certificates))
		case "Cluster":
			err = w.Cluster(c.Args[0].(store.Cluster), c.Args[1].([]store.Tag))
		case "HSM":
			err = w.HSM(c.Args[0].(store.HSM))
		case "Backup":
			err = w.Backup(c.Args[0].(store.Backup))
		case "ResourcePolicy":
			err = w.ResourcePolicy(store.Policy{BackupID: c.Args[0].(string), Document: c.Args[1].(string)})
		case "RetiredID":
			err = w.RetiredID(c.Args[0].(string))
		}
		if err != nil {
			t.Fatalf("%s: %v", c.Method, err)
		}
	}
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what was written:\n%s", path, got)
	}
}

// TestRoundTrip: what the Writer writes is the golden document, Read gives back exactly the
// records written, each with its path, and writing them again gives the same bytes.
func TestRoundTrip(t *testing.T) {
	_, calls := fixture()
	doc := write(t, calls)
	golden(t, "full.json", doc)
	var got recorded
	if err := Read(bytes.NewReader(doc), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.calls) != len(calls) {
		t.Fatalf("Read made %d calls, want %d", len(got.calls), len(calls))
	}
	for i := range calls {
		if !reflect.DeepEqual(got.calls[i], calls[i]) {
			t.Fatalf("call %d:\n got  %+v\n want %+v", i, got.calls[i], calls[i])
		}
	}
	if again := write(t, calls); !bytes.Equal(again, doc) {
		t.Fatal("writing the records read gives another document")
	}
}

// TestEmptyState: a state without records still has every section, and reads back as the
// header alone.
func TestEmptyState(t *testing.T) {
	doc := write(t, []call{{"Header", "", []any{Header{Clock: at(0)}}}})
	golden(t, "empty.json", doc)
	var got recorded
	if err := Read(bytes.NewReader(doc), &got); err != nil {
		t.Fatal(err)
	}
	if want := []any{call{"Header", "", []any{Header{Clock: at(0)}}}}; !reflect.DeepEqual(got.calls, want) {
		t.Fatalf("%+v", got.calls)
	}
}

// TestReadOptionalMembers: only Version and Clock are required; a hand-written document may
// leave out the rest, use other time zones, and leave out optional fields.
func TestReadOptionalMembers(t *testing.T) {
	doc := `{"Version":1,"Clock":"2026-03-01T10:00:00+01:00","Backups":[{"BackupId":"backup-aaaaaaaaaaa","Account":"111122223333",
	"Region":"us-east-1","ClusterId":"cluster-aaaaaaaaaaa","BackupState":"READY","HsmType":"hsm2m.medium","Mode":"FIPS",
	"CreateTimestamp":"2026-03-01T08:59:59.5Z"}]}`
	var got recorded
	if err := Read(strings.NewReader(doc), &got); err != nil {
		t.Fatal(err)
	}
	want := []any{
		call{"Header", "", []any{Header{Clock: at(0)}}},
		call{"Backup", "$.Backups[0]", []any{store.Backup{ID: "backup-aaaaaaaaaaa", Account: "111122223333", Region: "us-east-1",
			ClusterID: "cluster-aaaaaaaaaaa", State: "READY", HsmType: "hsm2m.medium", Mode: "FIPS",
			CreatedAt: at(0).Add(-500 * time.Millisecond), Version: 1}}},
	}
	if !reflect.DeepEqual(got.calls, want) {
		t.Fatalf("got  %+v\nwant %+v", got.calls, want)
	}
}

// TestReadRefusesBadDocuments: one row per rule, with the JSON path and the message.
func TestReadRefusesBadDocuments(t *testing.T) {
	const head = `{"Version":1,"Clock":"2026-03-01T09:10:00.000Z",`
	backup := func(fields string) string {
		return head + `"Backups":[{"BackupId":"backup-aaaaaaaaaaa","Account":"111122223333","Region":"us-east-1",` +
			`"HsmType":"hsm2m.medium","Mode":"FIPS",` + fields + `}]}`
	}
	ready := `"ClusterId":"cluster-aaaaaaaaaaa","BackupState":"READY","CreateTimestamp":"2026-03-01T09:00:00.000Z"`
	cluster := func(fields string) string {
		return head + `"Clusters":[{"ClusterId":"cluster-aaaaaaaaaaa","Account":"111122223333","Region":"us-east-1",` +
			`"State":"ACTIVE","HsmType":"hsm2m.medium","Mode":"FIPS","NetworkType":"IPV4","BackupRetentionDays":90,` +
			`"VpcId":"vpc-1","SecurityGroup":"sg-1","SubnetMapping":{"us-east-1a":"subnet-0a1b2c3d4e5f60001"},` +
			`"CreateTimestamp":"2026-03-01T09:00:00.000Z"` + fields + `}]}`
	}
	tests := []struct {
		name, doc, want string
	}{
		{"not JSON", `hello`, "$: invalid JSON at byte 1: invalid character 'h' looking for beginning of value"},
		{"not an object", `[1]`, "$: must be a JSON object (a cloudhsm-local state document), not a list"},
		{"cut off", head + `"Backups":[`, "$.Backups: the document ends too soon (at byte 59): it is cut off"},
		{"no Version", `{}`, `$: the document has no Version: it must begin with {"Version":1, "Clock": ...`},
		{"Version not first", `{"Clock":"2026-03-01T09:00:00Z","Version":1}`, "$: the document must begin with Version, not Clock"},
		{"a version it does not read", `{"Version":2,"Clock":"2026-03-01T09:00:00Z"}`, "$.Version: 2 is not a version this server reads: it reads version 1 (export from this version)"},
		{"a version as a string", `{"Version":"1","Clock":"2026-03-01T09:00:00Z"}`, `$.Version: "1" is not a version this server reads`},
		{"no Clock", `{"Version":1}`, "$: the document has no Clock: the virtual time it was taken at"},
		{"Clock not second", `{"Version":1,"Backups":[]}`, "$: Clock must come right after Version, before Backups"},
		{"Clock not a time", `{"Version":1,"Clock":"yesterday"}`, `$.Clock: "yesterday" is not an RFC 3339 time such as 2026-03-01T09:00:00.000Z`},
		{"Clock more precise than ms", `{"Version":1,"Clock":"2026-03-01T09:00:00.0001Z"}`, "$.Clock: 2026-03-01T09:00:00.0001Z is more precise than a millisecond"},
		{"an unknown member", head + `"Accounts":[]}`, "$.Accounts: unknown member: a version 1 document has Version, Clock, HardwareCa, Subnets, ClusterIdentities, Clusters, Hsms, Backups, ResourcePolicies, RetiredIds"},
		{"sections out of order", head + `"Backups":[],"Clusters":[]}`, "$.Clusters: comes too late: the members must come in the order Version, Clock,"},
		{"a section twice", head + `"Backups":[],"Backups":[]}`, "$.Backups: comes too late"},
		{"a section that is not a list", head + `"Backups":{}}`, "$.Backups: must be a list, not an object"},
		{"an empty HardwareCa", head + `"HardwareCa":""}`, "$.HardwareCa: is empty: leave the member out when there is no hardware CA"},
		{"something after the document", head + `"RetiredIds":[]} {}`, "$: there is something after the document (at byte 66): send one document"},
		{"an unknown field", backup(ready + `,"Size":3`), `$.Backups[0]: unknown field "Size"`},
		{"a field of the wrong type", backup(ready + `,"NeverExpires":"yes"`), "$.Backups[0].NeverExpires: a JSON string cannot be a boolean"},
		{"a tag of the wrong type", backup(ready + `,"TagList":[{"Key":1}]`), "$.Backups[0].TagList.Key: a JSON number cannot be a string"},
		{"a required field missing", backup(`"BackupState":"READY","ClusterId":"cluster-aaaaaaaaaaa"`), "$.Backups[0].CreateTimestamp: is required"},
		{"a malformed ID", strings.Replace(backup(ready), "backup-aaaaaaaaaaa", "backup-1", 1), `$.Backups[0].BackupId: "backup-1" is not a BackupId (the model's pattern)`},
		{"an account", strings.Replace(backup(ready), "111122223333", "42", 1), `$.Backups[0].Account: "42" is not a 12-digit account id`},
		{"a region", strings.Replace(backup(ready), `"us-east-1"`, `"moon-1"`, 1), `$.Backups[0].Region: "moon-1" is not a region such as us-east-1`},
		{"a state", backup(`"ClusterId":"cluster-aaaaaaaaaaa","BackupState":"DONE","CreateTimestamp":"2026-03-01T09:00:00Z"`), `$.Backups[0].BackupState: "DONE" is not a backup state (one of CREATE_IN_PROGRESS, DELETED, PENDING_DELETION, READY)`},
		{"a mode", strings.Replace(backup(ready), `"FIPS"`, `"fips"`, 1), `$.Backups[0].Mode: "fips" is not a cluster mode`},
		{"a time in the future of the clock", backup(strings.Replace(ready, "09:00:00.000Z", "09:10:00.001Z", 1)), "$.Backups[0].CreateTimestamp: 2026-03-01T09:10:00.001Z is after the document's Clock 2026-03-01T09:10:00.000Z: it cannot have happened yet"},
		{"a DELETED backup deleted in the future", backup(`"ClusterId":"cluster-aaaaaaaaaaa","BackupState":"DELETED","CreateTimestamp":"2026-03-01T09:00:00Z","DeleteTimestamp":"2026-03-02T00:00:00Z"`), "$.Backups[0].DeleteTimestamp: 2026-03-02T00:00:00Z is after the document's Clock"},
		{"PENDING_DELETION without DeleteTimestamp", backup(`"ClusterId":"cluster-aaaaaaaaaaa","BackupState":"PENDING_DELETION","CreateTimestamp":"2026-03-01T09:00:00Z"`), "$.Backups[0].DeleteTimestamp: is required in state PENDING_DELETION"},
		{"READY with DeleteTimestamp", backup(ready + `,"DeleteTimestamp":"2026-03-09T00:00:00Z"`), "$.Backups[0].DeleteTimestamp: is set in state READY: only PENDING_DELETION and DELETED backups have one"},
		{"a copy with a cluster", backup(ready + `,"CopyTimestamp":"2026-03-01T09:01:00Z","SourceRegion":"eu-west-1","SourceBackup":"backup-bbbbbbbbbbb"`), "$.Backups[0].ClusterId: is set on a region copy (it has CopyTimestamp): a copy belongs to no cluster"},
		{"a copy without its source", backup(`"BackupState":"READY","CreateTimestamp":"2026-03-01T09:00:00Z","CopyTimestamp":"2026-03-01T09:01:00Z","SourceRegion":"eu-west-1"`), "$.Backups[0].SourceBackup: is required"},
		{"a copy from its own region", backup(`"BackupState":"READY","CreateTimestamp":"2026-03-01T09:00:00Z","CopyTimestamp":"2026-03-01T09:01:00Z","SourceRegion":"us-east-1","SourceBackup":"backup-bbbbbbbbbbb"`), `$.Backups[0].SourceRegion: "us-east-1" is the copy's own region`},
		{"a source on a backup that is no copy", backup(ready + `,"SourceBackup":"backup-bbbbbbbbbbb"`), "$.Backups[0].SourceBackup: is set on a backup that is not a region copy (it has no CopyTimestamp)"},
		{"tags out of order", backup(ready + `,"TagList":[{"Key":"b","Value":""},{"Key":"a","Value":""}]`), `$.Backups[0].TagList[1].Key: "a" comes after "b": tags must be in key order (as export writes them), each key once`},
		{"a tag the model refuses", backup(ready + `,"TagList":[{"Key":"","Value":""}]`), "$.Backups[0].TagList: 1 validation error detected: Value '' at 'tagList.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"two records with one ID", head + `"RetiredIds":["backup-aaaaaaaaaaa","backup-aaaaaaaaaaa"]}`, "$.RetiredIds[1]: backup-aaaaaaaaaaa is also the record before: the records must be in the order export writes them (by ID, in byte order), each once"},
		{"records out of order", head + `"RetiredIds":["hsm-aaaaaaaaaaa","backup-aaaaaaaaaaa"]}`, "$.RetiredIds[1]: backup-aaaaaaaaaaa comes after the record before"},
		{"duplicate backups name the ID member", strings.Replace(backup(ready), `}]}`, `},{"BackupId":"backup-aaaaaaaaaaa","Account":"111122223333","Region":"us-east-1","HsmType":"hsm2m.medium","Mode":"FIPS",`+ready+`}]}`, 1), "$.Backups[1].BackupId: backup-aaaaaaaaaaa is also the record before"},
		{"a retired ID that is no resource ID", head + `"RetiredIds":["vpc-1"]}`, `$.RetiredIds[0]: "vpc-1" is not the ID of a backup, cluster or HSM`},
		{"a cluster's state", strings.Replace(cluster(""), `"ACTIVE"`, `"RUNNING"`, 1), `$.Clusters[0].State: "RUNNING" is not a cluster state`},
		{"a cluster's subnet mapping", strings.Replace(cluster(""), `"us-east-1a":`, `"mars":`, 1), `$.Clusters[0].SubnetMapping.mars: "mars" is not a availability zone`},
		{"a cluster created in the future", strings.Replace(cluster(""), "09:00:00.000Z", "10:00:00.000Z", 1), "$.Clusters[0].CreateTimestamp: 2026-03-01T10:00:00.000Z is after the document's Clock"},
		{"a cluster identity without certificates", head + `"ClusterIdentities":[{"ClusterId":"cluster-aaaaaaaaaaa","Certificates":{}}]}`, "$.ClusterIdentities[0].Certificates: is required: a cluster identity is its certificates and key"},
		{"an HSM's ENI address", head + `"Hsms":[{"HsmId":"hsm-aaaaaaaaaaa","ClusterId":"cluster-aaaaaaaaaaa","AvailabilityZone":"us-east-1a","SubnetId":"subnet-0a1b2c3d4e5f60001","EniId":"eni-0123456789abcdef0","EniIp":"ten","HsmType":"hsm2m.medium","State":"ACTIVE","CreateTimestamp":"2026-03-01T09:00:00Z"}]}`, `$.Hsms[0].EniIp: "ten" is not a IPv4 address (the model's pattern)`},
		{"subnets out of order", head + `"Subnets":[{"Account":"222222222222","Region":"us-east-1","SubnetId":"subnet-0a1b2c3d4e5f60001","VpcId":"v","AvailabilityZone":"us-east-1a"},{"Account":"111111111111","Region":"us-east-1","SubnetId":"subnet-0a1b2c3d4e5f60001","VpcId":"v","AvailabilityZone":"us-east-1a"}]}`, "$.Subnets[1]: 111111111111 us-east-1 subnet-0a1b2c3d4e5f60001 comes after the record before: the records must be in the order export writes them (by Account, Region and SubnetId), each once"},
		{"a policy too long", head + `"ResourcePolicies":[{"BackupId":"backup-aaaaaaaaaaa","Policy":"` + strings.Repeat("x", 20001) + `"}]}`, "$.ResourcePolicies[0].Policy: 1 validation error detected: Value '" + strings.Repeat("x", 1024) + "...' at 'policy' failed to satisfy constraint: Member must have length less than or equal to 20000"},
		{"a value over the bound", head + `"RetiredIds":["` + strings.Repeat("x", MaxValueBytes+1) + `"]}`, "$.RetiredIds[0]: a value is larger than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Read(strings.NewReader(tt.doc), &recorded{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Read: %v, want an *Error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Read: %v\nwant   %s", err, tt.want)
			}
		})
	}
}

// TestReadStopsAtTheSinksError: a Sink's error ends Read and comes back unchanged, and no record
// after it reaches the Sink.
func TestReadStopsAtTheSinksError(t *testing.T) {
	_, calls := fixture()
	doc := write(t, calls)
	for _, at := range []int{0, 4, len(calls) - 1} {
		sinkErr := fmt.Errorf("sink refuses call %d", at)
		got := &recorded{fail: sinkErr, at: at}
		if err := Read(bytes.NewReader(doc), got); err != sinkErr {
			t.Fatalf("Read: %v, want the sink's error", err)
		}
		if len(got.calls) != at+1 {
			t.Fatalf("the sink got %d calls, want %d", len(got.calls), at+1)
		}
	}
}

// TestWriterRefusesKindsOutOfOrder: writing a kind after a later one is a bug of the caller,
// reported rather than written as a broken document.
func TestWriterRefusesKindsOutOfOrder(t *testing.T) {
	w := NewWriter(&bytes.Buffer{})
	if err := w.Begin(Header{Clock: at(0)}); err != nil {
		t.Fatal(err)
	}
	if err := w.RetiredID("backup-aaaaaaaaaaa"); err != nil {
		t.Fatal(err)
	}
	if err := w.Subnet(store.Subnet{}); err == nil || !strings.Contains(err.Error(), "Subnets written after RetiredIds") {
		t.Fatalf("Subnet after RetiredID: %v", err)
	}
}

// FuzzRead: whatever the bytes, Read ends without a panic, either accepting the document or
// refusing it with an *Error; what it accepts is a document the Writer writes the same way
// again.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"full.json", "empty.json"} {
		doc, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(doc)
	}
	f.Add([]byte(`{"Version":1,"Clock":"2026-03-01T09:00:00Z","RetiredIds":["backup-aaaaaaaaaaa"]}`))
	f.Add([]byte(`{"Version":1,"Clock":"2026-03-01T09:00:00Z","Backups":[{"BackupId":1}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		var got recorded
		err := Read(bytes.NewReader(doc), &got)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Path == "" || !strings.HasPrefix(e.Path, "$") {
				t.Fatalf("Read: %v (%T), want an *Error with a JSON path", err, err)
			}
			return
		}
		var again recorded
		if err := Read(bytes.NewReader(write(t, callsOf(got))), &again); err != nil || !reflect.DeepEqual(again.calls, got.calls) {
			t.Fatalf("the accepted document, written again, reads differently (%v)", err)
		}
	})
}

// callsOf returns the calls a Sink recorded, as write takes them.
func callsOf(r recorded) []call {
	out := make([]call, len(r.calls))
	for i, c := range r.calls {
		out[i] = c.(call)
	}
	return out
}
