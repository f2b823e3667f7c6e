package api_test

import (
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
)

// describeBackupsBody is what a waiter polling one backup sends.
const describeBackupsBody = `{"Filters":{"backupIds":["backup-abcdefghijk"]},"MaxResults":50,"SortAscending":false}`

func BenchmarkDecodeDescribeBackups(b *testing.B) {
	body := []byte(describeBackupsBody)
	b.ReportAllocs()
	for b.Loop() {
		var in api.DescribeBackupsRequest
		if err := api.Decode(body, &in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCreateCluster(b *testing.B) {
	body := []byte(`{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a1b2c3d4e5f60001","subnet-0a1b2c3d4e5f60002"],` +
		`"BackupRetentionPolicy":{"Type":"DAYS","Value":"90"},"TagList":[{"Key":"team","Value":"ci"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		var in api.CreateClusterRequest
		if err := api.Decode(body, &in); err != nil {
			b.Fatal(err)
		}
	}
}
