package api

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestAppendResourceIDs(t *testing.T) {
	s := func(v string) *string { return &v }
	many := make([]Backup, 0, 150)
	for i := range 150 {
		many = append(many, Backup{BackupId: s(fmt.Sprintf("backup-%011d", i)), ClusterId: s("cluster-aaaaaaaaaaa")})
	}
	tests := []struct {
		name string
		v    interface{ AppendResourceIDs([]string) []string }
		want []string
	}{
		{"an ID member", &RestoreBackupRequest{BackupId: s("backup-abcdefghijk")}, []string{"backup-abcdefghijk"}},
		{"absent members name nothing", &RestoreBackupRequest{}, nil},
		{"cluster and HSM IDs in member order; an ENI is not a resource", &DeleteHsmRequest{
			ClusterId: s("cluster-abcdefghijk"), EniId: s("eni-0123456789abcdef0"), HsmId: s("hsm-abcdefghijk"),
		}, []string{"cluster-abcdefghijk", "hsm-abcdefghijk"}},
		{"a resource ID of either kind", &TagResourceRequest{ResourceId: s("cluster-abcdefghijk")}, []string{"cluster-abcdefghijk"}},
		{"an ARN names its resource", &GetResourcePolicyRequest{
			ResourceArn: s("arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk"),
		}, []string{"backup-abcdefghijk"}},
		{"a BackupArn may be a plain ID", &CreateClusterRequest{SourceBackupId: s("backup-abcdefghijk")}, []string{"backup-abcdefghijk"}},
		{"filter values that are IDs, keys sorted", &DescribeBackupsRequest{Filters: map[string][]string{
			"states": {"READY"}, "clusterIds": {"cluster-abcdefghijk"}, "backupIds": {"backup-abcdefghijk", "backup-bbbbbbbbbbb"},
		}}, []string{"backup-abcdefghijk", "backup-bbbbbbbbbbb", "cluster-abcdefghijk"}},
		{"nested structures and lists: a backup with its cluster and source", &DescribeBackupsResponse{Backups: []Backup{{
			BackupArn: s("arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk"), BackupId: s("backup-abcdefghijk"),
			ClusterId: s("cluster-abcdefghijk"), SourceBackup: s("backup-sssssssssss"),
		}}}, []string{"backup-abcdefghijk", "cluster-abcdefghijk", "backup-sssssssssss"}},
		{"a cluster with its HSMs", &DescribeClustersResponse{Clusters: []Cluster{{
			ClusterId: s("cluster-abcdefghijk"), Hsms: []Hsm{{ClusterId: s("cluster-abcdefghijk"), HsmId: s("hsm-abcdefghijk")}},
		}}}, []string{"cluster-abcdefghijk", "hsm-abcdefghijk"}},
		{"each ID once", &DescribeBackupsRequest{Filters: map[string][]string{
			"backupIds": {"backup-abcdefghijk", "backup-abcdefghijk"}, "sourceBackupIds": {"backup-abcdefghijk"},
		}}, []string{"backup-abcdefghijk"}},
		{"values that are not IDs are not kept", &DescribeBackupsRequest{Filters: map[string][]string{
			"backupIds": {"x", "backup-" + strings.Repeat("a", 900), "vpc-0123", "BACKUP-abcdefghijk"},
		}}, nil},
		{"at most MaxResourceIDs", &DescribeBackupsResponse{Backups: many}, append([]string{"backup-00000000000", "cluster-aaaaaaaaaaa"},
			func() []string {
				var ids []string
				for i := 1; i < MaxResourceIDs-1; i++ {
					ids = append(ids, fmt.Sprintf("backup-%011d", i))
				}
				return ids
			}()...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.AppendResourceIDs(nil); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestAppendResourceIDsAppends: the IDs go after what the list holds, and one already there is
// not added again (the input's and the output's IDs share one list).
func TestAppendResourceIDsAppends(t *testing.T) {
	id := "backup-abcdefghijk"
	in := &RestoreBackupRequest{BackupId: &id}
	out := &RestoreBackupResponse{Backup: &Backup{BackupId: &id}}
	got := out.AppendResourceIDs(in.AppendResourceIDs([]string{"cluster-abcdefghijk"}))
	if want := []string{"cluster-abcdefghijk", id}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func BenchmarkAppendResourceIDsDescribeOne(b *testing.B) {
	id, cluster := "backup-abcdefghijk", "cluster-abcdefghijk"
	arn := "arn:aws:cloudhsm:us-east-1:111122223333:backup/" + id
	in := &DescribeBackupsRequest{Filters: map[string][]string{"backupIds": {id}}}
	out := &DescribeBackupsResponse{Backups: []Backup{{BackupArn: &arn, BackupId: &id, ClusterId: &cluster}}}
	b.ReportAllocs()
	for b.Loop() {
		_ = out.AppendResourceIDs(in.AppendResourceIDs(make([]string, 0, 4)))
	}
}
