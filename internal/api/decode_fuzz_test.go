package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/api/apitest"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzDecodeValidate/seed-* from decodeSeeds")

// decodeSeeds are real requests of every operation (as the AWS CLI and SDKs send them) and a
// few hostile ones; FuzzDecodeValidate mutates them.
var decodeSeeds = []struct{ name, op, body string }{
	{"CopyBackupToRegion", "CopyBackupToRegion", `{"BackupId":"backup-abcdefghijk","DestinationRegion":"eu-west-1","TagList":[{"Key":"team","Value":"crypto"}]}`},
	{"CreateCluster", "CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a1b2c3d4e5f60001","subnet-0a1b2c3d4e5f60002"],"BackupRetentionPolicy":{"Type":"DAYS","Value":"90"},"Mode":"FIPS","NetworkType":"DUALSTACK","TagList":[{"Key":"team","Value":"crypto"},{"Key":"env","Value":""}]}`},
	{"CreateCluster-from-backup", "CreateCluster", `{"HsmType":"hsm1.medium","SubnetIds":["subnet-0a1b2c3d"],"SourceBackupId":"arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk"}`},
	{"CreateHsm", "CreateHsm", `{"ClusterId":"cluster-abcdefghijk","AvailabilityZone":"us-east-1a","IpAddress":"10.0.0.12"}`},
	{"DeleteBackup", "DeleteBackup", `{"BackupId":"backup-abcdefghijk"}`},
	{"DeleteCluster", "DeleteCluster", `{"ClusterId":"cluster-abcdefghijk"}`},
	{"DeleteHsm", "DeleteHsm", `{"ClusterId":"cluster-abcdefghijk","HsmId":"hsm-abcdefghijk","EniId":"eni-0123456789abcdef0","EniIp":"10.0.0.12"}`},
	{"DeleteResourcePolicy", "DeleteResourcePolicy", `{"ResourceArn":"arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk"}`},
	{"DescribeBackups", "DescribeBackups", `{"Filters":{"backupIds":["backup-abcdefghijk"],"states":["READY","PENDING_DELETION"],"neverExpires":["true"]},"MaxResults":50,"NextToken":"eyJhIjoxfQ==","Shared":true,"SortAscending":true}`},
	{"DescribeClusters", "DescribeClusters", `{"Filters":{"clusterIds":["cluster-abcdefghijk"],"vpcIds":["vpc-0123456789abcdef0"],"states":["ACTIVE"]},"MaxResults":25}`},
	{"GetResourcePolicy", "GetResourcePolicy", `{"ResourceArn":"arn:aws-us-gov:cloudhsm:us-gov-west-1:111122223333:backup/backup-abcdefghijk"}`},
	{"InitializeCluster", "InitializeCluster", `{"ClusterId":"cluster-abcdefghijk","SignedCert":"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIBAjAKBggqhkjOPQQDAjAYMRYwFAYDVQQDEw1jdXN0b21lciByb290\n-----END CERTIFICATE-----\n","TrustAnchor":"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIBATAKBggqhkjOPQQDAjAY\n-----END CERTIFICATE-----\n"}`},
	{"ListTags", "ListTags", `{"ResourceId":"cluster-abcdefghijk","MaxResults":100,"NextToken":"x"}`},
	{"ModifyBackupAttributes", "ModifyBackupAttributes", `{"BackupId":"backup-abcdefghijk","NeverExpires":false}`},
	{"ModifyCluster", "ModifyCluster", `{"ClusterId":"cluster-abcdefghijk","BackupRetentionPolicy":{"Type":"DAYS","Value":"7"},"HsmType":"hsm2m.medium"}`},
	{"PutResourcePolicy", "PutResourcePolicy", `{"ResourceArn":"arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk","Policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"444455556666\"]},\"Action\":[\"cloudhsm:DescribeBackups\",\"cloudhsm:CreateCluster\"]}]}"}`},
	{"RestoreBackup", "RestoreBackup", `{"BackupId":"backup-abcdefghijk"}`},
	{"TagResource", "TagResource", `{"ResourceId":"backup-abcdefghijk","TagList":[{"Key":"a","Value":"1"},{"Key":"aws:x","Value":"2"}]}`},
	{"UntagResource", "UntagResource", `{"ResourceId":"cluster-abcdefghijk","TagKeyList":["team","env"]}`},
	{"empty-body", "DescribeBackups", ``},
	{"wrong-types", "CreateCluster", `{"HsmType":1,"SubnetIds":"subnet-0a1b2c3d","TagList":[{"Key":null}]}`},
	{"two-bad-filter-keys", "DescribeClusters", `{"Filters":{"a b":["x"],"c d":[],"e f":["y"]}}`},
	{"invalid-utf8", "TagResource", "{\"ResourceId\":\"cluster-abcdefghijk\",\"TagList\":[{\"Key\":\"\xff\",\"Value\":\"\\ud800\"}]}"},
	{"huge-number", "ListTags", `{"ResourceId":"backup-abcdefghijk","MaxResults":1e400}`},
	{"trailing-data", "DeleteCluster", `{"ClusterId":"cluster-abcdefghijk"} {}`},
	{"deep-nesting", "DescribeBackups", `{"Filters":{"x":[[[[[[[[[[["y"]]]]]]]]]]]}}`},
}

// opIndex is the operation's position in api.OperationNames.
func opIndex(op string) uint8 { return uint8(slices.Index(api.OperationNames(), op)) }

// FuzzDecodeValidate decodes arbitrary bytes into the input of every operation with the front
// door's decoder and validates the result. Nothing may panic; a decoding failure is a
// SerializationException; Validate fails only with an
// *api.ValidationError whose message lists its violations in a stable order; api.Invoke
// reports exactly those errors; and an accepted input survives a JSON round trip (encode,
// decode, encode gives the same JSON) and validates the same.
func FuzzDecodeValidate(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add(opIndex(s.op), []byte(s.body))
	}
	if *updateCorpus {
		dir := filepath.Join("testdata", "fuzz", "FuzzDecodeValidate")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			f.Fatal(err)
		}
		for _, s := range decodeSeeds {
			content := "go test fuzz v1\nuint8(" + strconv.Itoa(int(opIndex(s.op))) + ")\n[]byte(" + strconv.Quote(s.body) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(content), 0o644); err != nil {
				f.Fatal(err)
			}
		}
	}
	ops := api.OperationNames()
	f.Fuzz(func(t *testing.T, index uint8, body []byte) {
		op := ops[int(index)%len(ops)]
		in := newInput(t, op)
		decodeErr := api.Decode(body, in)
		_, _, invokeErr := api.Invoke(context.Background(), apitest.Empty{}, op, body)
		if decodeErr != nil {
			checkDecodeError(t, op, body, decodeErr)
			if !sameError(invokeErr, decodeErr) {
				t.Fatalf("%s: Invoke returned %v, not the decoding error %v", op, invokeErr, decodeErr)
			}
			return
		}
		validateErr := validate(t, op, in)
		if !sameError(invokeErr, validateErr) {
			t.Fatalf("%s: Invoke returned %v, Validate %v", op, invokeErr, validateErr)
		}

		// Round trip: what was accepted encodes to JSON that decodes to the same input.
		raw, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("%s: the decoded input does not encode: %v", op, err)
		}
		again := reflect.New(reflect.TypeOf(in).Elem()).Interface()
		if err := api.Decode(raw, again); err != nil {
			t.Fatalf("%s: re-decoding %s: %v", op, raw, err)
		}
		// (Equal up to encoding: an empty list or map and an absent one both encode as absent.)
		if raw2, _ := json.Marshal(again); string(raw2) != string(raw) {
			t.Fatalf("%s: %q decoded to %#v, its encoding %s to %#v (%s)", op, body, in, raw, again, raw2)
		}
		if !sameError(validateErr, validate(t, op, again)) {
			t.Fatalf("%s: the round trip changed validation", op)
		}
	})
}

// newInput returns a new, empty input of op: a pointer to the type api.Service's method takes.
func newInput(t *testing.T, op string) any {
	m, ok := reflect.TypeFor[api.Service]().MethodByName(op)
	if !ok {
		t.Fatalf("api.Service has no method %s", op)
	}
	return reflect.New(m.Type.In(1).Elem()).Interface()
}

// checkDecodeError asserts a decoding failure is one the client can act on.
func checkDecodeError(t *testing.T, op string, body []byte, err error) {
	t.Helper()
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodeSerialization || e.Message == "" {
		t.Fatalf("%s: decoding %q failed with %T %v, want a SerializationException", op, body, err, err)
	}
}

// validate calls the input's Validate twice and asserts the error is nil or an
// *api.ValidationError with the same message both times.
func validate(t *testing.T, op string, in any) error {
	t.Helper()
	v, ok := in.(interface{ Validate() error })
	if !ok {
		t.Fatalf("%s: %T has no Validate", op, in)
	}
	err := v.Validate()
	if err == nil {
		return nil
	}
	ve, ok := err.(*api.ValidationError)
	if !ok {
		t.Fatalf("%s: Validate returned %T %v, want *api.ValidationError", op, err, err)
	}
	if len(ve.Violations) == 0 || !strings.Contains(ve.Error(), "validation error") {
		t.Fatalf("%s: an empty ValidationError: %q", op, ve.Error())
	}
	if e := api.AsError(err); e.Code != api.CodeInvalidRequest || e.Code.Status() != 400 {
		t.Fatalf("%s: a ValidationError reaches the client as %s", op, e.Code)
	}
	if again := v.Validate(); again == nil || again.Error() != err.Error() {
		t.Fatalf("%s: Validate is not deterministic:\n%v\n%v", op, err, again)
	}
	return err
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Error() == b.Error()
}
