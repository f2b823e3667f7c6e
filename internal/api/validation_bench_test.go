package api

import "testing"

func BenchmarkValidateCreateClusterRequest(b *testing.B) {
	s := func(v string) *string { return &v }
	in := &CreateClusterRequest{
		HsmType:               s("hsm2m.medium"),
		SubnetIds:             []string{"subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"},
		BackupRetentionPolicy: &BackupRetentionPolicy{Type: s("DAYS"), Value: s("90")},
		TagList:               []Tag{{Key: s("team"), Value: s("ci")}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := in.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateDescribeBackupsRequest(b *testing.B) {
	max := int32(50)
	in := &DescribeBackupsRequest{Filters: map[string][]string{"backupIds": {"backup-abcdefghijk"}}, MaxResults: &max}
	b.ReportAllocs()
	for b.Loop() {
		if err := in.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
