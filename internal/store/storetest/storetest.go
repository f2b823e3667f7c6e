// Package storetest is the contract suite that every store.Store backend must pass.
//
// A backend's tests call Run with a function that opens a fresh, empty store:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := mybackend.Open(t.Context(), "...")
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Each subtest is named after the sentence of the store.Store / store.Tx contract it checks.
// The suite uses fixed times, never the clock.
package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Run runs the whole contract suite against the backend that open creates. open is called
// once per subtest, must return a fresh empty store, and must arrange for it to be closed
// (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := [][]contractTest{
		transactionTests(),
		settingTests(),
		reserveIDTests(),
		backupTests(),
		backupQueryTests(),
		clusterTests(),
		hsmTests(),
		subnetTests(),
		tagTests(),
		policyTests(),
		identityTests(),
		eventTests(),
		countTests(),
		censusTests(),
		resetTests(),
		concurrencyTests(),
		snapshotTests(),
	}
	for _, group := range groups {
		for _, tc := range group {
			t.Run(tc.name, func(t *testing.T) {
				tc.run(t, open(t))
			})
		}
	}
}

// contractTest is one subtest of the suite.
type contractTest struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// Accounts and regions of the fixtures.
const (
	acctA   = "111111111111"
	acctB   = "222222222222"
	acctC   = "333333333333"
	acctD   = "444444444444"
	region1 = "us-east-1"
	region2 = "eu-west-1"
)

// at returns a fixed instant, min minutes after 2026-03-01 12:00 UTC.
func at(min int) time.Time {
	return time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(min) * time.Minute)
}

// update runs fn in an Update and fails the test if it returns an error.
func update(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), store.Everything(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// view runs fn in a View and fails the test if it returns an error.
func view(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// newBackup returns a READY backup of acctA in region1 with every field set.
func newBackup(id string, created time.Time) store.Backup {
	return store.Backup{
		ID:              id,
		Account:         acctA,
		Region:          region1,
		ClusterID:       "cluster-aaaaaaaaaaa",
		State:           "READY",
		HsmType:         "hsm1.medium",
		Mode:            "FIPS",
		NeverExpires:    false,
		CreatedAt:       created,
		DeleteAt:        time.Time{},
		CopiedAt:        time.Time{},
		SourceRegion:    "",
		SourceBackupID:  "",
		SourceClusterID: "",
		DueAt:           time.Time{},
		Version:         1,
		Tags:            nil, // only Backups fills them, with WithTags
	}
}

// newCluster returns an ACTIVE cluster of acctA in region1 with every field set.
func newCluster(id string, created time.Time) store.Cluster {
	return store.Cluster{
		ID:             id,
		Account:        acctA,
		Region:         region1,
		State:          "ACTIVE",
		StateMessage:   "",
		HsmType:        "hsm1.medium",
		Mode:           "FIPS",
		NetworkType:    "IPV4",
		RetentionDays:  90,
		SourceBackupID: "",
		VpcID:          "vpc-11111111",
		SecurityGroup:  "sg-11111111",
		SubnetMapping:  map[string]string{"us-east-1a": "subnet-1a", "us-east-1b": "subnet-1b"},
		PreCoPassword:  "password",
		CreatedAt:      created,
		Certificates: store.Certificates{
			ClusterKey: "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n",
			ClusterCsr: "-----BEGIN CERTIFICATE REQUEST-----\ncsr\n-----END CERTIFICATE REQUEST-----\n",
		},
		Version: 1,
	}
}

// newHSM returns an ACTIVE HSM of a cluster.
func newHSM(id, clusterID string, created time.Time) store.HSM {
	return store.HSM{
		ID:               id,
		ClusterID:        clusterID,
		AvailabilityZone: "us-east-1a",
		SubnetID:         "subnet-1a",
		EniID:            "eni-" + id,
		EniIP:            "10.0.0.10",
		HsmType:          "hsm1.medium",
		State:            "ACTIVE",
		StateMessage:     "",
		CreatedAt:        created,
	}
}

// equal fails the test unless got and want are deeply equal.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// isErr fails the test unless errors.Is(err, target).
func isErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// noErr fails the test on a non-nil error.
func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// backupIDs returns the IDs of backups, in order.
func backupIDs(bs []store.Backup) []string {
	ids := []string{}
	for _, b := range bs {
		ids = append(ids, b.ID)
	}
	return ids
}

// clusterIDs returns the IDs of clusters, in order.
func clusterIDs(cs []store.Cluster) []string {
	ids := []string{}
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// hsmIDs returns the IDs of HSMs, in order.
func hsmIDs(hs []store.HSM) []string {
	ids := []string{}
	for _, h := range hs {
		ids = append(ids, h.ID)
	}
	return ids
}

// ids returns n IDs "prefix-00", "prefix-01", ...
func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}
